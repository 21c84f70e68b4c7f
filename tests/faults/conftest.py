"""Shared pieces of the fault-injection suite: one clean `auroram run micro` per session, copies of it to
break, and the checks every case makes (nothing looks complete that is not; a rerun equals a clean run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auroram.io import sha256_file
from auroram.pipeline.rundir import is_partial_name

# artifacts that hold times, absolute paths or the command line: compared by their stable fields only
VOLATILE = {"provenance.json", "report.json", "report/index.html", "safety/export.json", "recipe.yaml"}
RESULT_KEYS = ("name", "tokens", "steps", "loss", "curve", "eval", "mixture", "nonfinite", "weights")


def auroram(*args: str, fault: str | None = None, env: dict | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    full = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full.pop("AURORAM_FAULT", None)
    if fault:
        full["AURORAM_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "auroram.cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout)


def run_micro(run_dir: Path, corpus: Path, *extra: str, fault: str | None = None,
              env: dict | None = None) -> subprocess.CompletedProcess:
    return auroram("run", "micro", "--quiet", "--run-dir", str(run_dir), "--set", f"demo_dir={corpus}", *extra,
                   fault=fault, env=env)


@pytest.fixture(scope="session")
def fault_corpus(tiny_corpus, tmp_path_factory) -> Path:
    # a private copy: the clean run builds the demo instruction sets into it
    dst = tmp_path_factory.mktemp("faults") / "corpus"
    shutil.copytree(tiny_corpus, dst, ignore=shutil.ignore_patterns("instruct"))
    return dst


@pytest.fixture(scope="session")
def clean_run(fault_corpus, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("faults-clean") / "run"
    p = run_micro(run_dir, fault_corpus)
    assert p.returncode == 0, p.stderr
    return run_dir


def copy_run(clean: Path, dst: Path, delete: list[str] = ()) -> Path:
    shutil.copytree(clean, dst, ignore=shutil.ignore_patterns(".lock"))
    for rel in delete:
        p = dst / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return dst


def _artifacts(root: Path) -> dict[str, Path]:
    """Files at their final names (what a reader would take as complete), by path relative to root."""
    out = {}
    for f in root.rglob("*"):
        rel = f.relative_to(root)
        if f.is_file() and not any(is_partial_name(p) for p in rel.parts) and "tb" not in rel.parts \
                and not f.name.endswith((".db", ".db-journal")) and f.name not in (".lock", "log.txt"):  # live, not artifacts
            out[rel.as_posix()] = f
    return out


TIMES = {"created", "finished_at", "updated", "written"}  # "written": an output marker's time


def _stable(rel: str, f: Path):
    if rel.startswith("stages/") and f.name == "result.json":
        r = json.loads(f.read_text())
        return {k: r.get(k) for k in RESULT_KEYS}
    if f.name == "manifest.json" and rel.count("/") == 0:
        return None  # the run's manifest: checked by verify_run instead
    if rel in VOLATILE or f.name == ".metadata":  # DCP's index holds per-save ids; the weights are in .distcp
        return None
    if f.suffix == ".json":
        obj = json.loads(f.read_text(encoding="utf-8"))
        return {k: v for k, v in obj.items() if k not in TIMES} if isinstance(obj, dict) else obj
    return sha256_file(f)


def same_artifact(rel: str, a: Path, b: Path) -> bool:
    return _stable(rel, a) == _stable(rel, b)


def check_honest(run: Path, clean: Path) -> None:
    """After a kill: every step that says it is done has exactly the clean run's outputs; every JSON file
    at its final name parses; every token shard checks out; checkpoints that exist are whole."""
    from auroram.tokenize.shards import Shard
    from auroram.tokenize.shardset import ShardSet

    arts, ref = _artifacts(run), _artifacts(clean)
    for rec in run.rglob("step.json"):
        d = rec.parent.relative_to(run).as_posix()
        if any(is_partial_name(p) for p in rec.relative_to(run).parts):
            continue
        for rel, f in arts.items():
            if rel.startswith(d + "/") and "/ckpt/" not in rel and rel.split("/")[-1] != "inputs.json":
                assert rel in ref, f"{rel}: in a finished step but not in a clean run"
                assert same_artifact(rel, f, ref[rel]), f"{rel}: differs from a clean run though its step is done"
    for rel, f in arts.items():
        if f.suffix == ".json":
            json.loads(f.read_text(encoding="utf-8"))
        if f.name == "tokens.bin":
            Shard(f).verify()
        if f.name == "index.json" and f.parent.parent.name == "shards":
            ShardSet(f.parent).verify()
    for ck in run.glob("stages/*/ckpt/step-*"):
        if (ck / "state.json").is_file():
            assert (ck / "dcp" / ".metadata").is_file() and (ck / "rng-0.pt").is_file(), ck
    for fin in run.glob("stages/*/final"):
        assert (fin / "dcp" / ".metadata").is_file(), fin
    for m in run.glob("stages/*/hf/auroram-manifest.json"):
        for rel, want in json.loads(m.read_text())["files"].items():
            assert sha256_file(m.parent / rel) == want["sha256"], m.parent / rel


def assert_same_as_clean(run: Path, clean: Path) -> None:
    """A finished rerun: the same artifacts as the clean run, byte for byte where they hold no times, the
    same loss sequence in every stage, no leftover temporary files, and `auroram verify` content."""
    from auroram.pipeline.rundir import verify_run

    arts, ref = _artifacts(run), _artifacts(clean)
    assert sorted(arts) == sorted(ref)
    differ = [rel for rel in ref if not same_artifact(rel, arts[rel], ref[rel])]
    assert not differ, f"differ from a clean run: {differ}"
    for st in ("base", "cap", "cat"):
        a = (run / "stages" / st / "metrics.jsonl").read_bytes()
        assert a == (clean / "stages" / st / "metrics.jsonl").read_bytes(), f"loss sequence of {st} differs"
    leftovers = [p for p in run.rglob(".*") if is_partial_name(p.name)]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    checked, problems = verify_run(run)
    assert checked > 50 and not problems, problems
