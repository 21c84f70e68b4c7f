"""`auroram curate` killed mid-run with SIGKILL, then rerun with the same command: kept/, rejected/ and
stats.json are byte for byte those of a clean uninterrupted run (nothing duplicated, nothing missing)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auroram.cli import main
from auroram.curate import CurateConfig
from auroram.curate.readers import list_inputs, task_spans

sys.path.insert(0, str(Path(__file__).parent))
from curate_data import en_doc, ja_doc, write_jsonl  # noqa: E402

N_FILES = 8  # about two files' bytes a task (readers.task_spans)
DOCS_PER_FILE = 200


def _args(inputs: Path, out: Path) -> list[str]:
    return ["curate", str(inputs), "--out", str(out), "--tasks", "4", "--workers", "1", "--quiet"]


def _snapshot(out: Path) -> dict[str, bytes]:
    files = [p for sub in ("kept", "rejected") for p in sorted((out / sub).iterdir())] + [out / "stats.json"]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def corpus_and_clean(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("kill")
    rng = random.Random(11)
    for f in range(N_FILES):
        docs = [{"id": f"{f}-{i}", "text": ja_doc(rng) if i % 3 == 0 else en_doc(rng)} for i in range(DOCS_PER_FILE)]
        docs.append({"id": f"{f}-dup", "text": docs[1]["text"]})  # an exact duplicate in every file
        write_jsonl(root / "in" / f"{f:02d}.jsonl", docs)
    assert main(_args(root / "in", root / "clean")) == 0
    snap = _snapshot(root / "clean")
    assert len([k for k in snap if k.startswith("kept/")]) == 4
    return root / "in", snap


def _run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    # its own session, so the kill reaches datatrove's manager process too; no pipes it could hold open
    return subprocess.Popen([sys.executable, "-m", "auroram.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _reap(p: subprocess.Popen) -> None:
    # datatrove's manager process outlives a killed parent and would linger: end the whole session
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)


def _session_members(sid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
                pids.append(int(d.name))
    return pids


def _rerun_and_compare(inputs: Path, out: Path, clean: dict[str, bytes]) -> None:
    assert main(_args(inputs, out)) == 0
    assert _snapshot(out) == clean
    assert not list(out.rglob(".*.tmp"))


def test_sigkill_after_first_task_then_rerun_equals_clean(tmp_path, corpus_and_clean):
    inputs, clean = corpus_and_clean
    out = tmp_path / "out"
    p = _run_cli(_args(inputs, out))
    first = out / "work" / "logs" / "1-filter" / "completions" / "00000"
    deadline = time.monotonic() + 120
    while not first.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert p.poll() is None, f"auroram curate ended (exit {p.returncode}) before its first task completed"
    p.kill()  # the main process only, as the OOM killer or a scheduler's hard stop would
    assert p.wait(timeout=60) == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while _session_members(p.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _session_members(p.pid)
    _reap(p)
    assert not left, f"processes outlived the killed auroram curate: {left}"
    assert first.exists() and not (out / "stats.json").exists()  # killed mid-run, not after it
    _rerun_and_compare(inputs, out, clean)


def test_kill_inside_a_task_then_rerun_equals_clean(tmp_path, corpus_and_clean):
    inputs, clean = corpus_and_clean
    out = tmp_path / "out"
    # task 1's second file: with one worker task 0 is complete, task 1 has filtered its first file (or its
    # share of it) into temp files when the fault kills it
    files = list_inputs([(str(inputs), None)], CurateConfig().reader)
    second = [i for i, _f, _span in task_spans(files, 1, 4)][1]
    assert second not in [i for i, _f, _span in task_spans(files, 0, 4)]
    p = _run_cli(_args(inputs, out), env=dict(os.environ, AURORAM_FAULT=f"curate-read:{second}"))
    try:
        assert p.wait(timeout=120) == -signal.SIGKILL
    finally:
        _reap(p)
    done = out / "work" / "logs" / "1-filter" / "completions"
    assert sorted(x.name for x in done.iterdir()) == ["00000"]
    assert (out / "kept").is_dir() and not (out / "rejected" / "00001.jsonl").exists()
    assert list((out / "rejected").glob(".00001.jsonl.*.tmp"))  # the half-written file was never published
    _rerun_and_compare(inputs, out, clean)
