"""A NaN loss (poisoned through AURORAM_POISON): stop with a clear error by default, or skip the batch, or
roll back to the last checkpoint with a lower LR; what happened is counted in the stage and report.json."""

from __future__ import annotations

import json

import pytest

from .conftest import copy_run, run_micro

pytestmark = pytest.mark.slow


def _metrics(run, stage="cat"):
    return [json.loads(x) for x in (run / "stages" / stage / "metrics.jsonl").read_text().splitlines()]


def test_nan_loss_stops_by_default_with_one_clear_line(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/cat", "report.json"])
    p = run_micro(run, fault_corpus, env={"AURORAM_POISON": "train:cat:loss:4"})
    assert p.returncode == 2
    assert p.stderr.strip() == ("auroram: error: stage cat: loss is nan at step 4; set train.on_nonfinite to "
                                "'skip' or 'rollback' to go on, or lower the LR")
    assert not (run / "stages" / "cat" / "step.json").exists()


def test_skip_drops_the_batch_and_counts_it(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/cat", "report.json"])
    p = run_micro(run, fault_corpus, "--set", "train.on_nonfinite=skip", env={"AURORAM_POISON": "train:cat:loss:4"})
    assert p.returncode == 0, p.stderr
    report = json.loads((run / "report.json").read_text())
    nf = report["nonfinite"]["cat"]
    assert nf["skipped"] == 1 and nf["rollbacks"] == 0 and nf["events"][0]["step"] == 4
    assert report["stages"][2]["nonfinite"] == nf and report["stages"][2]["steps"] == 10
    steps = [r["step"] for r in _metrics(run)]
    assert steps == [1, 2, 3, 5, 6, 7, 8, 9, 10]  # step 4's batch never reached the optimizer
    clean = _metrics(clean_run)
    assert [r["loss"] for r in _metrics(run)[:3]] == [r["loss"] for r in clean[:3]]
    assert _metrics(run)[3]["loss"] != clean[4]["loss"]  # the weights after a skipped step differ


def test_rollback_reloads_the_last_checkpoint_with_a_lower_lr(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/cat", "report.json"])
    p = run_micro(run, fault_corpus, "--set", "train.on_nonfinite=rollback", "--set", "train.rollback_lr_factor=0.25",
                  env={"AURORAM_POISON": "train:cat:loss:8"})
    assert p.returncode == 0, p.stderr
    nf = json.loads((run / "report.json").read_text())["nonfinite"]["cat"]
    assert nf["rollbacks"] == 1 and nf["skipped"] == 0 and nf["lr_scale"] == 0.25
    assert nf["events"][0]["step"] == 8 and nf["events"][0]["to_step"] == 5
    got, clean = _metrics(run), _metrics(clean_run)
    assert [r["step"] for r in got] == list(range(1, 11))
    assert got[:5] == clean[:5]  # up to the checkpoint: exactly the clean run
    for a, b in zip(got[5:], clean[5:]):
        assert a["lr"] == pytest.approx(0.25 * b["lr"])


def test_rollback_before_the_first_checkpoint_restarts_the_stage(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/cat", "report.json"])
    p = run_micro(run, fault_corpus, "--set", "train.on_nonfinite=rollback", env={"AURORAM_POISON": "train:cat:loss:3"})
    assert p.returncode == 0, p.stderr
    nf = json.loads((run / "report.json").read_text())["nonfinite"]["cat"]
    assert nf["rollbacks"] == 1 and nf["events"][0]["to_step"] == 0 and nf["lr_scale"] == 0.5
    got, clean = _metrics(run), _metrics(clean_run)
    assert [r["step"] for r in got] == list(range(1, 11))
    assert got[0]["loss"] == clean[0]["loss"] and got[0]["lr"] == pytest.approx(0.5 * clean[0]["lr"])
