"""Disk full (ENOSPC injected where io.atomic_file writes): one clear line, nothing half-written, the last
good checkpoint loadable, and a rerun with space again finishes as a clean run would."""

from __future__ import annotations

import pytest

from auroram.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

from .conftest import assert_same_as_clean, copy_run, run_micro

pytestmark = pytest.mark.slow


def test_disk_full_during_a_checkpoint_keeps_the_last_good_one(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/base", "stages/cap", "stages/cat", "report.json"])
    p = run_micro(run, fault_corpus, env={"AURORAM_ENOSPC": "*/stages/base/ckpt/.step-00000020.*.tmp/state.json"})
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("auroram: error: no space left on device while writing checkpoint ")
    assert "stages/base/ckpt/step-00000020" in err[0] and "Traceback" not in p.stderr
    ckpt = run / "stages" / "base" / "ckpt"
    assert [c.name for c in list_checkpoints(ckpt)] == ["step-00000010"]
    assert not [c for c in ckpt.iterdir() if c.name.endswith(".tmp")]  # the failed write is gone
    from auroram.config import load_recipe
    from auroram.model.build import build_model
    from auroram.tokenize.bpe import eos_id, load_tokenizer
    from auroram.train.loop import build_optimizer

    recipe = load_recipe("micro", [f"demo_dir={fault_corpus}"])
    tok = load_tokenizer(run / "tokenizer" / "hf")
    model = build_model(recipe.model, vocab_size=len(tok), eos_id=eos_id(tok), seed=recipe.seed)
    state = load_checkpoint(latest_checkpoint(ckpt), model=model, optimizer=build_optimizer(model, recipe.stages[0]))
    assert state["step"] == 10 and len(state["history"]["loss"]) == 10
    assert not (run / "stages" / "base" / "step.json").exists()

    p = run_micro(run, fault_corpus)  # space again: resumes from step 10 and ends where a clean run ends
    assert p.returncode == 0, p.stderr
    assert_same_as_clean(run, clean_run)


def test_disk_full_while_writing_a_shard_names_the_file_and_leaves_nothing(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["shards/en"])
    part = run / "shards/en/parts/part-00000.bin"
    p = run_micro(run, fault_corpus, env={"AURORAM_ENOSPC": "*/shards/en/parts/part-00000.bin"})
    assert p.returncode == 2
    assert p.stderr.strip() == f"auroram: error: no space left on device while writing {part}"
    # the task's spec and the empty parts folder are there; no part, no index, no step record
    assert sorted(f.name for f in (run / "shards" / "en").iterdir()) == ["inputs.json", "parts", "work"]
    assert not list((run / "shards" / "en" / "parts").iterdir())
