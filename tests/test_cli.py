"""Bad input through the command line: one clear line, exit status 2, nothing half-written."""

from __future__ import annotations

import json

import pytest

from auroram.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def test_recipe_typo_is_one_line_naming_the_key(capsys, tmp_path):
    code, err = run_cli(capsys, "run", "micro", "--run-dir", str(tmp_path / "r"), "--set", "stages.cap.mixture.fii=1")
    assert code == 2
    assert err.startswith("auroram: error:") and "stages[1].mixture.fii" in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_missing_source_path_names_the_key(capsys, tmp_path):
    code, err = run_cli(capsys, "run", "micro", "--run-dir", str(tmp_path / "r"),
                        "--set", f"sources.fi.path={tmp_path / 'nope.jsonl'}")
    assert code == 2 and "sources.fi.path" in err and "does not exist" in err


def test_empty_source_is_an_error_naming_it(capsys, tmp_path, tiny_corpus):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, err = run_cli(capsys, "run", "micro", "--quiet", "--run-dir", str(tmp_path / "r"),
                        "--set", f"demo_dir={tiny_corpus}", "--set", f"sources.fi.path={empty}", "--until", "shards")
    assert code == 2 and "'fi'" in err and "no documents" in err
    assert not (tmp_path / "r" / "shards" / "fi" / "step.json").exists()


def test_malformed_jsonl_names_file_and_line(capsys, tmp_path, tiny_corpus):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n{oops\n")
    code, err = run_cli(capsys, "run", "micro", "--quiet", "--run-dir", str(tmp_path / "r"),
                        "--set", f"demo_dir={tiny_corpus}", "--set", f"sources.fi.path={bad}", "--until", "shards")
    assert code == 2 and "bad.jsonl: line 2" in err


def test_corrupt_shard_is_reported(capsys, tmp_path, tiny_corpus):
    args = ["run", "micro", "--quiet", "--run-dir", str(tmp_path / "r"), "--set", f"demo_dir={tiny_corpus}",
            "--until", "shards"]
    assert main(args) == 0
    shard = tmp_path / "r" / "shards" / "en" / "parts" / "part-00000.bin"  # the shard set's one part
    shard.write_bytes(shard.read_bytes()[:-100])
    code, err = run_cli(capsys, *args)
    assert code == 2 and "part-00000.bin" in err and "truncated" in err


def test_base_directory_without_tokenizer(capsys, tmp_path, tiny_corpus):
    from auroram.config import ModelConfig
    from auroram.model.build import build_model

    d = tmp_path / "base"
    build_model(ModelConfig(n_embd=32, n_layer=1, n_head=2, n_positions=64), vocab_size=300, eos_id=0,
                seed=0).save_pretrained(d)
    code, err = run_cli(capsys, "run", "micro", "--quiet", "--run-dir", str(tmp_path / "r"),
                        "--set", f"demo_dir={tiny_corpus}", "--base", str(d))
    assert code == 2 and str(d) in err and "tokenizer" in err


def test_unknown_until_step(capsys, tmp_path, tiny_corpus):
    code, err = run_cli(capsys, "run", "micro", "--run-dir", str(tmp_path / "r"), "--set", f"demo_dir={tiny_corpus}",
                        "--until", "nope")
    assert code == 2 and "not a step" in err
