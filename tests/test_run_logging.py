"""What a run leaves for a user who is not watching a terminal: its output as a log file reads (one line per
event with its time, every step's start and end, progress lines; JSON on request), log.txt in the run, and the
training curves in each tracker (TensorBoard, W&B offline, an MLflow file store) equal to the report."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from auroram.config import load_recipe
from auroram.pipeline.steps import recipe_steps

pytestmark = pytest.mark.slow

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
LINE = re.compile(rf"^{TIME} (INFO|WARNING|ERROR) ")
TRACKERS = [t for t in ("wandb", "mlflow") if importlib.util.find_spec(t)]


def auroram(*argv: str) -> subprocess.CompletedProcess:
    # captured output: stderr is not a terminal, as under Slurm or CI
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("AURORAM_FAULT", None)
    return subprocess.run([sys.executable, "-m", "auroram.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.fixture(scope="module")
def logged_run(tiny_corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("logged") / "run"
    loggers = ",".join(["tensorboard", *TRACKERS])
    p = auroram("run", "micro", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}",
                "--set", f"train.loggers=[{loggers}]", "--progress-seconds", "1")
    assert p.returncode == 0, p.stderr
    return run, p, json.loads((run / "report.json").read_text(encoding="utf-8"))


def step_names(corpus: Path) -> list[str]:
    return [s.name for s in recipe_steps(load_recipe("micro", [f"demo_dir={corpus}"]))]


def test_every_line_is_one_timestamped_event(logged_run):
    _, p, _ = logged_run
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    bad = [ln for ln in lines if not LINE.match(ln)]
    assert lines and not bad, bad[:5]
    # long messages stay whole: no wrapping at a terminal's 80 columns
    assert any(re.search(r"WARNING +source 'code' repeats [\d.]+ times in stage base: add data or lower its weight$", ln)
               for ln in lines)
    assert any(len(ln) > 120 for ln in lines)


def test_every_step_starts_and_ends_and_training_reports_progress(logged_run, tiny_corpus):
    _, p, _ = logged_run
    text = p.stderr

    def has(pattern: str) -> bool:
        return re.search(rf"^{TIME} INFO +{pattern}$", text, re.M) is not None

    for name in step_names(tiny_corpus):
        assert has(rf"{re.escape(name)} +start") and has(rf"{re.escape(name)} +end \([\d.]+s\)"), name
    for stage, steps in (("base", 25), ("cap", 20), ("cat", 10)):
        assert has(rf"train {stage} +step {steps}/{steps} \(100%\)  loss \d+\.\d+  lr \S+  [\d,]+ tok/s"), stage


def test_log_txt_holds_the_same_lines_and_verify_passes(logged_run):
    run, p, _ = logged_run
    assert (run / "log.txt").read_text(encoding="utf-8") == p.stderr
    v = auroram("verify", str(run))
    assert v.returncode == 0 and ": ok (" in v.stdout, v.stdout + v.stderr


def test_json_format_is_one_object_per_line_and_log_txt_grows(logged_run, tiny_corpus, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(logged_run[0], run)
    before = (run / "log.txt").read_text(encoding="utf-8")
    # a changed CAT learning rate: every step before it is cached, cat trains again
    p = auroram("run", "micro", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}", "--log-format", "json",
                "--set", "stages.cat.optim.lr=5e-4")
    assert p.returncode == 0, p.stderr
    events = [json.loads(ln) for ln in p.stderr.splitlines()]
    assert events and all(re.fullmatch(TIME, e["time"]) and e["level"] in ("info", "warning", "error") for e in events)
    kinds = {(e["event"], e["name"]) for e in events}
    assert ("step", "base") in kinds and ("begin", "cat") in kinds and ("end", "cat") in kinds
    last = [e for e in events if e["event"] == "progress" and e["name"] == "train cat"][-1]
    assert last["completed"] == last["total"] == 10 and last["loss"] > 0 and last["tokens_per_s"] > 0
    assert any(e["event"] == "table" and e["columns"][0] == "domain" for e in events)
    after = (run / "log.txt").read_text(encoding="utf-8")
    assert after.startswith(before) and len(after.splitlines()) > len(before.splitlines())
    assert all(LINE.match(ln) for ln in after.splitlines())
    assert auroram("verify", str(run)).returncode == 0


# ---- trackers: the same scalars as the report


def report_points(report: dict) -> dict[str, dict[int, float]]:
    """tag -> {tokens: value} of what the report holds: loss and LR per step, bits per byte, safety."""
    out: dict[str, dict[int, float]] = {}
    for st in report["stages"]:
        for rec in st["loss"]:
            out.setdefault(f"loss/{st['name']}", {})[rec["tokens"]] = rec["loss"]
            out.setdefault(f"lr/{st['name']}", {})[rec["tokens"]] = rec["lr"]
        for point in st["curve"]:
            for d, v in point["bpb"].items():
                out.setdefault(f"bpb/{d}", {})[point["tokens"]] = v
        if st.get("safety"):
            end = sum(s["tokens"] for s in report["stages"][: report["stages"].index(st) + 1])
            for k in ("gap", "fc_gap", "refusal_harmful", "refusal_safe"):
                out.setdefault(f"safety/{k}", {})[end] = st["safety"]["overall"][k]
    return out


def assert_holds(points: dict[str, dict[int, float]], report: dict, rel: float) -> None:
    want = report_points(report)
    assert set(want) <= set(points), set(want) - set(points)
    for tag, series in want.items():
        assert set(series) <= set(points[tag]), tag
        for tokens, v in series.items():
            assert points[tag][tokens] == pytest.approx(v, rel=rel, abs=1e-6), (tag, tokens)
    assert points["throughput/tokens_per_s"] and all(v > 0 for v in points["throughput/tokens_per_s"].values())


def wandb_records(path: Path):
    """The records of a W&B offline run file (LevelDB log format: 32 KiB blocks of CRC, length, type, data)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, chunk = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            break
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            rec = pb.Record()
            rec.ParseFromString(chunk)
            chunk = b""
            yield rec


@pytest.mark.skipif("wandb" not in TRACKERS, reason="wandb not installed (extra: pip install 'auroram[wandb]')")
def test_wandb_offline_run_holds_the_report_scalars_and_the_recipe(logged_run):
    run, _, report = logged_run
    (path,) = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    points: dict[str, dict[int, float]] = {}
    config = {}
    for rec in wandb_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item}
            for k, v in row.items():
                if not k.startswith("_") and k != "tokens":
                    points.setdefault(k, {})[int(row["tokens"])] = v
        elif kind == "run":
            config = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.run.config.update}
    assert_holds(points, report, rel=1e-9)
    assert config["name"] == "micro" and config["train"]["seq_len"] == 64


@pytest.mark.skipif("mlflow" not in TRACKERS, reason="mlflow not installed (extra: pip install 'auroram[mlflow]')")
def test_mlflow_file_store_holds_the_report_scalars_and_the_recipe(logged_run, monkeypatch):
    from mlflow.tracking import MlflowClient

    run, _, report = logged_run
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(run / "mlruns").as_uri())
    (mrun,) = client.search_runs([client.get_experiment_by_name("auroram").experiment_id])
    points = {tag: {m.step: m.value for m in client.get_metric_history(mrun.info.run_id, tag)}
              for tag in mrun.data.metrics}
    assert_holds(points, report, rel=1e-9)
    assert mrun.data.params["train.seq_len"] == "64" and mrun.data.params["name"] == "micro"


def test_tensorboard_keeps_its_curves(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _, report = logged_run
    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    points = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
    assert_holds(points, report, rel=1e-6)  # TensorBoard stores float32


def test_a_missing_tracker_extra_is_one_line_before_anything_is_written(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    code = ("import sys; sys.modules['wandb'] = None; from auroram.cli import main; "
            f"sys.exit(main(['run', 'micro', '--run-dir', {str(run)!r}, '--set', 'demo_dir={tiny_corpus}', "
            "'--set', 'train.loggers=[tensorboard,wandb]']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 2
    assert p.stderr.strip() == ("auroram: error: recipe 'micro': train.loggers 'wandb' needs the 'wandb' extra "
                                "(wandb is not installed): pip install 'auroram[wandb]'")
    assert not run.exists()


def test_the_export_card_is_hub_metadata_holding_the_report_numbers(logged_run):
    from huggingface_hub import ModelCard

    run, _, report = logged_run
    cat = report["stages"][-1]
    data = ModelCard.load(run / "stages" / "cat" / "hf" / "README.md").data
    assert data.language == ["en", "fi", "hi", "ja", "vi"] and data.license == "apache-2.0"
    assert data.pipeline_tag == "text-generation" and data.library_name == "transformers"
    assert {"auroram", "continual-pretraining", "code"} <= set(data.tags)
    assert data.datasets == ["tests"] and data.base_model is None  # the test corpus; trained from scratch
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in data.eval_results}
    for d, v in cat["eval"].items():
        assert results[(f"heldout-{d}", "bits_per_byte")] == pytest.approx(v["bpb"], abs=1e-6)
    for lang, r in cat["suite"]["mc"].items():
        assert results[(f"auroram-mc-{lang}", "acc")] == r["acc"]
    assert results[("auroram-code", "pass@1")] == cat["suite"]["code"]["pass@1"]
    assert results[("auroram-redteam", "gap")] == cat["safety"]["overall"]["gap"]
