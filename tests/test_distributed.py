"""Two processes on CPU (gloo) through torchrun: FSDP2 really shards, the loss equals the one-process run
with the same global batch, and a run killed on two processes resumes on one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(run_dir: Path, corpus: Path, nproc: int, fault: str | None = None, *, torchrun: bool = False,
         sets: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cli = ["-m", "auroram.cli", "run", "micro", "--quiet", "--run-dir", str(run_dir), "--set", f"demo_dir={corpus}"]
    for s in sets:
        cli += ["--set", s]
    if nproc == 1 and not torchrun:
        cmd = [sys.executable, *cli]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-addr", "127.0.0.1", "--master-port", str(29500 + os.getpid() % 1000), *cli]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if fault:
        env["AURORAM_FAULT"] = fault
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def _losses(run_dir: Path) -> dict[str, list[float]]:
    report = json.loads((run_dir / "report.json").read_text())
    return {s["name"]: [x["loss"] for x in s["loss"]] for s in report["stages"]}


@pytest.fixture(scope="module")
def runs(tiny_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    one, two = root / "one", root / "two"
    p = _run(one, tiny_corpus, 1)
    assert p.returncode == 0, p.stderr[-2000:]
    # the two-process run reuses the tokenizer and shards: only training differs
    shutil.copytree(one, two, ignore=shutil.ignore_patterns("stages", "report*", ".lock"))
    p = _run(two, tiny_corpus, 2)
    assert p.returncode == 0, p.stderr[-3000:]
    return one, two


def test_two_processes_give_the_one_process_loss(runs):
    one, two = runs
    a, b = _losses(one), _losses(two)
    assert a.keys() == b.keys()
    for stage in a:
        assert b[stage] == pytest.approx(a[stage], abs=1e-5), stage
    report = json.loads((two / "report.json").read_text())
    assert {s["processes"] for s in report["stages"]} == {2}
    assert {s["parallel"] for s in report["stages"]} == {"fsdp2"}


def test_parameters_are_sharded_one_file_per_rank(runs):
    _, two = runs
    files = sorted(p.name for p in (two / "stages" / "cat" / "final" / "dcp").iterdir())
    assert files == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    sizes = [(two / "stages" / "cat" / "final" / "dcp" / f).stat().st_size for f in files[1:]]
    # each rank holds about half of the weights, not a full copy
    assert abs(sizes[0] - sizes[1]) < 0.2 * max(sizes)


def test_killed_on_two_processes_resumes_on_one(runs, tiny_corpus, tmp_path):
    one, two = runs
    run = tmp_path / "r"
    shutil.copytree(one, run, ignore=shutil.ignore_patterns("stages", "report*", ".lock"))
    p = _run(run, tiny_corpus, 2, fault="train:cap:step:13")
    assert p.returncode != 0
    ckpts = sorted(p.name for p in (run / "stages" / "cap" / "ckpt").iterdir() if not p.name.startswith("."))
    assert ckpts == ["step-00000010"]
    assert sorted(x.name for x in (run / "stages" / "cap" / "ckpt" / "step-00000010" / "dcp").iterdir()) == [
        ".metadata", "__0_0.distcp", "__1_0.distcp"]
    p = _run(run, tiny_corpus, 1)
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert report["stages"][1]["resumed_from"] == 10
    a, c = _losses(one), _losses(run)
    for stage in a:
        assert c[stage] == pytest.approx(a[stage], abs=1e-5), stage


def test_fsdp2_on_one_process_under_torchrun(runs, tiny_corpus, tmp_path):
    # one GPU with FSDP2 (bf16 parameters, sharded checkpoints) is a layout users ask for: torchrun with one process
    one, _ = runs
    run = tmp_path / "r"
    shutil.copytree(one, run, ignore=shutil.ignore_patterns("stages", "report*", ".lock"))
    p = _run(run, tiny_corpus, 1, torchrun=True, sets=("train.parallel=fsdp2",))
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert {s["parallel"] for s in report["stages"]} == {"fsdp2"}
    assert {s["processes"] for s in report["stages"]} == {1}
    assert sorted(x.name for x in (run / "stages" / "cat" / "final" / "dcp").iterdir()) == [".metadata", "__0_0.distcp"]
    a, c = _losses(one), _losses(run)
    for stage in a:
        assert c[stage] == pytest.approx(a[stage], abs=1e-5), stage
    # the export was gathered from the sharded weights: it scores like the unsharded run's export
    ref = json.loads((one / "report.json").read_text())["stages"][-1]["eval"]
    got = report["stages"][-1]["eval"]
    assert got.keys() == ref.keys()
    for domain in ref:
        assert got[domain]["bpb"] == pytest.approx(ref[domain]["bpb"], rel=1e-4), domain


def test_two_processes_hand_off_through_the_sharded_checkpoint(runs):
    # cap and cat start from the stage before without a full copy: meta model, FSDP2, then DCP into the shards;
    # the evaluation says where it ran
    _, two = runs
    report = json.loads((two / "report.json").read_text())
    for s in report["stages"]:
        assert s["eval_on"] == {"bpb": "sharded model (FSDP2), 2 processes", "suite": "export (float32), one device"}
        assert s["export_dtype"] == "float32"


def test_base_loaded_sharded_on_two_processes_exports_in_the_chosen_dtype(runs, tiny_corpus, tmp_path):
    # a base continued on two processes: each rank reads its own rows of the base's safetensors; scored as
    # it is, it gives the bits per byte the one-process run measured on the same weights
    from safetensors import safe_open

    one, _ = runs
    base = one / "stages" / "base" / "hf"
    run = tmp_path / "b"
    p = _run(run, tiny_corpus, 2, sets=(f"model.base={base}", "tokenizer.kind=base", "model.export_dtype=bfloat16"))
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    ref = json.loads((one / "report.json").read_text())["stages"][0]["eval"]
    got = report["stages"][0]
    assert got["imported"] == str(base)
    for d in ref:
        assert got["eval"][d]["bpb"] == pytest.approx(ref[d]["bpb"], rel=1e-5), d
    for s in report["stages"][1:]:
        assert s["export_dtype"] == "bfloat16"
        assert s["eval_on"]["suite"] == "export (bfloat16), one device"
        hf = run / "stages" / s["name"] / "hf"
        assert json.loads((hf / "config.json").read_text())["dtype"] == "bfloat16"
        with safe_open(str(hf / "model.safetensors"), framework="pt") as fh:
            assert {str(fh.get_tensor(k).dtype) for k in fh.keys()} == {"torch.bfloat16"}


def test_truncated_base_fails_in_one_line_before_training_on_two_processes(runs, tiny_corpus, tmp_path):
    one, _ = runs
    base = tmp_path / "base"
    shutil.copytree(one / "stages" / "base" / "hf", base)
    f = base / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-64])
    run = tmp_path / "t"
    p = _run(run, tiny_corpus, 2, sets=(f"model.base={base}", "tokenizer.kind=base"))
    assert p.returncode != 0
    # each rank checks the headers itself and says the same one line (the two may share a line of stderr)
    said = (f"auroram: error: {f}: truncated safetensors file: its tensors need {f.stat().st_size + 64} bytes, "
            f"it has {f.stat().st_size}")
    assert said in p.stderr and p.stderr.count("auroram: error:") == p.stderr.count(said), p.stderr[-2000:]
    assert not list(run.glob("stages/*/hf")) and not list(run.glob("stages/*/ckpt"))
