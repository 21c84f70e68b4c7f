import pytest

from auroram.config import ScheduleConfig
from auroram.train.schedule import lr_at


def curve(kind, total=100, **kw):
    cfg = ScheduleConfig(kind=kind, **kw)
    return [lr_at(s, total, 1.0, cfg) for s in range(total)]


def test_warmup_rises_linearly_from_near_zero_to_peak():
    lrs = curve("cosine", warmup_steps=10)
    assert 0 < lrs[0] < 0.15
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert lrs[10] == pytest.approx(1.0)


def test_cosine_ends_at_min_ratio_and_decreases():
    lrs = curve("cosine", warmup_steps=5, min_lr_ratio=0.1)
    assert lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:]))


def test_wsd_is_flat_then_decays_over_its_fraction():
    lrs = curve("wsd", warmup_steps=5, decay_fraction=0.2, min_lr_ratio=0.0)
    assert all(x == 1.0 for x in lrs[5:80])
    assert lrs[-1] == pytest.approx(0.0)
    assert all(a > b for a, b in zip(lrs[80:], lrs[81:]))


def test_every_stage_rewarms():
    cfg = ScheduleConfig(kind="cosine", warmup_steps=10)
    # a new stage is a new schedule: step 0 of it is back near zero whatever the previous stage ended at
    assert lr_at(0, 50, 3e-4, cfg) < 3e-4 * 0.2
