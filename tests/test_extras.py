"""The optional extras stay optional: without `curate` (datatrove) and `lmeval` (lm-evaluation-harness) the
CLI, the planner and a whole run work; a command that needs an extra says which, in one line, and writes
nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# importing a module set to None in sys.modules raises ImportError, as if it were not installed
BLOCK = "import sys; sys.modules.update(datatrove=None, lm_eval=None); from auroram.cli import main; sys.exit(main({argv!r}))"


def auroram(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK.format(argv=list(argv))], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_help_and_plan_work_without_the_extras(tmp_path):
    p = auroram("--help", cwd=tmp_path)
    assert p.returncode == 0 and "curate" in p.stdout, p.stderr
    p = auroram("plan", "micro", "--gpus", "8", cwd=tmp_path)
    assert p.returncode == 0 and "GPU" in p.stdout.upper(), p.stderr


def test_curate_without_datatrove_names_the_extra_in_one_line(tmp_path, tiny_corpus):
    p = auroram("curate", str(tiny_corpus / "corpus" / "en" / "train.jsonl"), "--out", str(tmp_path / "out"),
                cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "auroram: error: auroram curate needs the 'curate' extra (datatrove is not installed): "
        "pip install 'auroram[curate]'"]
    assert not (tmp_path / "out").exists()


def test_a_recipe_that_curates_names_the_extra_before_writing_anything(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    p = auroram("run", "micro", "--quiet", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}",
                "--set", "curate={}", cwd=tmp_path)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "'curate' extra" in p.stderr and not run.exists()


@pytest.mark.slow
def test_a_whole_run_works_without_the_extras(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    p = auroram("run", "micro", "--quiet", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (run / "report" / "index.html").is_file() and (run / "stages" / "cat" / "hf" / "config.json").is_file()
