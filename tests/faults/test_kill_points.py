"""kill -9 at named points of `auroram run micro`, then rerun: the result equals an uninterrupted run.

Each chain starts from a copy of a clean run with some steps deleted and kills one process per point, in
order; the next process resumes from what the previous one left. After every kill nothing looks complete
that is not (check_honest); after the last, uninterrupted rerun the run equals the clean one bitwise.
"""

from __future__ import annotations

import shutil
import signal

import pytest

from .conftest import assert_same_as_clean, check_honest, copy_run, run_micro

pytestmark = pytest.mark.slow

CHAINS = {
    # the data steps: instruction sets, safety set, tokenizer, shards, manifest and report writes
    "data": (["safety", "tokenizer", "shards", "report.json", "report"], [
        "dir:*/instruct",                                  # the demo instruction build, before its rename
        "write:*/safety/.set.*.tmp/items.jsonl",           # a file inside a directory being built
        "write:*/safety/approved_train.jsonl",
        "dir:*/tokenizer/hf",
        "write:*/tokenizer/step.json",
        "write:*/shards/en/parts/part-00000.bin",          # written and synced, not yet renamed
        "wrote:*/shards/fi/parts/part-00000.bin",          # renamed, no part record yet
        "shards:fi:part0",                                 # part and its record, no task record yet
        "shards:hi:written",
        "write:*/shards/vi/index.json",                    # every part there, the index not yet renamed
        "write:*/manifest.json@2",
        "write:*/report.json",
        "dir:*/report",
    ]),
    # training, checkpoints, final weights, export and the stage-end evaluation (cat is kept: cached)
    "train": (["stages/base", "stages/cap", "report.json", "report"], [
        "train:base:step:5",
        "checkpoint:after-model",
        "write:*/stages/base/ckpt/.step-*.tmp/state.json",
        "checkpoint:after-rename",
        "train:base:after-checkpoint:20",
        "weights:*/stages/base/final",
        "dir:*/stages/base/hf",
        "stage:base:evaluated",
        "write:*/stages/base/step.json",
        "train:cap:eval:10",
        "train:cap:step:13",
        "write:*/stages/cap/.hf.*.tmp/README.md",           # inside the export, before its directory rename
    ]),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_kill_at_each_point_then_rerun_equals_a_clean_run(chain, clean_run, fault_corpus, tmp_path):
    delete, points = CHAINS[chain]
    corpus = fault_corpus
    if chain == "data":  # rebuild the demo instruction sets too
        corpus = tmp_path / "corpus"
        shutil.copytree(fault_corpus, corpus, ignore=shutil.ignore_patterns("instruct"))
    run = copy_run(clean_run, tmp_path / "run", delete)
    for point in points:
        p = run_micro(run, corpus, fault=point)
        assert p.returncode == -signal.SIGKILL, f"{point}: not reached (exit {p.returncode}): {p.stderr[-2000:]}"
        check_honest(run, clean_run)
    p = run_micro(run, corpus)
    assert p.returncode == 0, p.stderr
    assert_same_as_clean(run, clean_run)
    if chain == "data":
        for f in (fault_corpus / "instruct").rglob("*"):
            if f.is_file():
                assert f.read_bytes() == (corpus / "instruct" / f.relative_to(fault_corpus / "instruct")).read_bytes()
