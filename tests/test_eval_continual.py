"""Average forgetting and backward transfer over domains, from per-stage bits per byte."""

from __future__ import annotations

import pytest

from auroram.eval.forgetting import continual_metrics


def _stage(name, **bpb):
    return {"name": name, "eval": {d: {"bpb": v} for d, v in bpb.items()}}


def test_forgetting_and_backward_transfer_by_hand():
    stages = [_stage("base", en=1.0, code=2.0, fi=5.0), _stage("cap", en=0.8, code=2.2, fi=3.0),
              _stage("cat", en=1.1, code=2.1, fi=2.5)]
    m = continual_metrics(stages, ["en", "code", "fi"], learned_at={"fi": "cap"})
    # en: best 0.8 at cap, 1.1 at the end -> forgot 0.3; backward transfer 1.0 - 1.1 = -0.1
    assert m["per_domain"]["en"] == pytest.approx({"forgetting": 0.3, "backward_transfer": -0.1})
    # code: best 2.0 at base -> forgot 0.1; 2.0 - 2.1 = -0.1
    assert m["per_domain"]["code"] == pytest.approx({"forgetting": 0.1, "backward_transfer": -0.1})
    # fi learned at cap (3.0) and improved at cat: no forgetting, positive transfer
    assert m["per_domain"]["fi"] == pytest.approx({"forgetting": -0.5, "backward_transfer": 0.5})
    assert m["average_forgetting"] == pytest.approx((0.3 + 0.1 - 0.5) / 3)
    assert m["backward_transfer"] == pytest.approx((-0.1 - 0.1 + 0.5) / 3)


def test_domains_learned_last_or_missing_are_left_out():
    stages = [_stage("base", en=1.0), _stage("cap", en=1.2, fi=3.0)]
    m = continual_metrics(stages, ["en", "fi"], learned_at={"fi": "cap"})
    assert list(m["per_domain"]) == ["en"]
    assert continual_metrics(stages[:1], ["en"])["average_forgetting"] is None
