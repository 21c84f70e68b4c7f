"""Hostile input: recipes built to exhaust memory or slip past checks, shards corrupted or holding ids the
model has no row for, model directories that ask to run their own code. Each is one line on stderr naming
the file, key or directory, and exit status 2, before anything large is allocated or trained."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from auroram.cli import main
from auroram.config import ModelConfig, load_recipe
from auroram.typedconfig import MAX_YAML_BYTES, ConfigError

MICRO = resources.files("auroram.recipes") / "micro.yaml"


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert lines and lines[-1].startswith("auroram: error: "), err
    assert not any("Traceback" in ln for ln in lines), err
    return lines[-1]


def _bomb(levels: int = 9) -> str:
    # 9 levels of 9 aliases each: ~300 bytes that expand to 9**9 (387 million) strings
    parts = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


# ----------------------------------------------------------------------------------------------------
# Recipes.


def test_alias_bomb_in_a_recipe_file_is_refused_at_once(capsys, tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(f"name: bomb\ndomains: [en]\ndescription: {_bomb()}\n")
    t = time.monotonic()
    code, err = run_cli(capsys, "plan", str(f), "--gpus", "8")
    assert time.monotonic() - t < 10
    line = one_line(err)
    assert code == 2 and str(f) in line and "aliases expand to more than" in line


def test_alias_bomb_in_a_set_value_is_refused_at_once(capsys):
    t = time.monotonic()
    code, err = run_cli(capsys, "plan", "micro", "--gpus", "8", "--set", f"description={_bomb()}")
    assert time.monotonic() - t < 10
    line = one_line(err)
    assert code == 2 and "--set description" in line and "aliases expand" in line


@pytest.mark.parametrize("value, fragment", [
    ("[" * 3000 + "]" * 3000, "nested too deeply"),
    ("&r [*r]", "an alias refers to a block that contains it"),
    ("9" * 5000, "4300 digits"),
])
def test_odd_yaml_is_one_line_naming_the_file(capsys, tmp_path, value, fragment):
    f = tmp_path / "odd.yaml"
    f.write_text(f"name: odd\ndomains: [en]\ndescription: {value}\n")
    code, err = run_cli(capsys, "plan", str(f), "--gpus", "8")
    line = one_line(err)
    assert code == 2 and f"{f}:" in line and fragment in line


def test_small_anchors_and_aliases_still_work(tmp_path):
    text = MICRO.read_text(encoding="utf-8")
    text = text.replace("    optim: {lr: 3.0e-3}", "    optim: &opt {lr: 3.0e-3}", 1)
    text = text.replace("    optim: {lr: 1.0e-3}", "    optim: *opt", 1)
    f = tmp_path / "anchors.yaml"
    f.write_text(text)
    r = load_recipe(str(f))
    assert r.stage("cat").optim.lr == r.stage("base").optim.lr == 3.0e-3


def test_oversized_recipe_file_and_set_value_are_refused(capsys, tmp_path):
    text = MICRO.read_text(encoding="utf-8")
    f = tmp_path / "big.yaml"
    f.write_text(text + f"\n# {'x' * MAX_YAML_BYTES}\n")
    code, err = run_cli(capsys, "plan", str(f), "--gpus", "8")
    line = one_line(err)
    assert code == 2 and str(f) in line and "bytes" in line
    code, err = run_cli(capsys, "plan", "micro", "--gpus", "8", "--set", "description=" + "y" * 100_000)
    line = one_line(err)
    assert code == 2 and "--set description" in line and "bytes" in line


@pytest.mark.parametrize("override, key", [
    ("stages.base.mixture.en=nan", "stages[0].mixture.en"),  # was accepted: the source silently dropped
    ("stages.base.mixture.en=.inf", "stages[0].mixture.en"),
    ("stages.base.optim.lr=nan", "stages[0].optim.lr"),
    ("stages.base.optim.lr=-1", "stages[0].optim.lr"),
    ("model.n_embd=0", "model.n_embd"),  # was a ZeroDivisionError inside the model
    ("model.n_head=0", "model.n_head"),
    ("tokenizer.vocab_size=1e9", "tokenizer.vocab_size"),  # aborted the BPE trainer (exit 134)
    ("seed=-1", "seed"),
    ("train.threads=-4", "train.threads"),
    ("stages.base.tokens=1e30", "stages[0].tokens"),
    ("stages.base.tokens=1e17", "stages[0].tokens"),
    ("model.dropout=1.5", "model.dropout"),
    ("stages.base.optim.betas=[0.9, 2]", "stages[0].optim.betas[1]"),
    ("train.log_every_steps=0", "train.log_every_steps"),
])
def test_bad_numbers_are_one_line_naming_the_key(capsys, override, key):
    code, err = run_cli(capsys, "plan", "micro", "--gpus", "8", "--set", override)
    line = one_line(err)
    assert code == 2 and f"key '{key}'" in line and "recipe 'micro'" in line


def test_huge_vocabulary_exits_2_not_134(tmp_path, tiny_corpus):
    argv = ["run", "micro", "--quiet", "--run-dir", str(tmp_path / "r"), "--set", f"demo_dir={tiny_corpus}",
            "--set", "tokenizer.vocab_size=1e9", "--until", "tokenizer"]
    p = subprocess.run([sys.executable, "-m", "auroram.cli", *argv], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 2, p.stderr
    assert "tokenizer.vocab_size" in one_line(p.stderr.strip())


def test_model_too_large_for_memory_is_an_error_before_allocating(monkeypatch):
    from auroram.model import build

    cfg = ModelConfig(n_embd=256, n_layer=1_000_000, n_head=4)
    t = time.monotonic()
    with pytest.raises(build.ModelTooLargeError) as e:
        build.build_model(cfg, vocab_size=512, eos_id=0, seed=0)
    assert time.monotonic() - t < 30
    msg = str(e.value)
    assert "model.n_layer=1,000,000" in msg and "model.n_embd=256" in msg and "tokenizer.vocab_size=512" in msg
    assert isinstance(e.value, ConfigError) and "\n" not in msg
    # the estimate is exact: a model that is built has the parameters it was estimated to have
    small = ModelConfig(n_embd=64, n_layer=3, n_head=2, n_positions=64)
    for arch in ("gpt_bigcode", "llama", "qwen2"):
        c = ModelConfig(**{**small.__dict__, "arch": arch})
        model = build.build_model(c, vocab_size=300, eos_id=0, seed=0)
        assert build.estimate_params(c, vocab_size=300, eos_id=0) == build.count_params(model)["total"]
    # a small machine refuses what fits a large one; the device's memory is checked where it trains
    monkeypatch.setattr(build, "available_memory", lambda device="cpu": (10**6, "a 1 MB test machine"))
    with pytest.raises(build.ModelTooLargeError, match="a 1 MB test machine"):
        build.build_model(small, vocab_size=300, eos_id=0, seed=0)


# ----------------------------------------------------------------------------------------------------
# Shards and models through the pipeline: one run up to its shards, copied for each case.


@pytest.fixture(scope="module")
def shards_run(tiny_corpus, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("hostile") / "run"
    assert main(["run", "micro", "--quiet", "--run-dir", str(run_dir), "--set", f"demo_dir={tiny_corpus}",
                 "--until", "shards"]) == 0
    return run_dir


def _copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns(".lock"))  # copy2 keeps the files' mtimes
    return dst


def _train(capsys, run: Path, corpus: Path, *extra: str) -> tuple[int, str]:
    return run_cli(capsys, "train", "micro", "--stage", "base", "--quiet", "--run-dir", str(run),
                   "--set", f"demo_dir={corpus}", *extra)


def _newer(path: Path, than: Path) -> None:
    # file times tick in milliseconds on some file systems: make "changed after its record" unambiguous
    t = than.stat().st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(t, t))


def test_flipped_bits_in_a_shard_stop_the_stage(capsys, shards_run, tiny_corpus, tmp_path):
    run = _copy(shards_run, tmp_path / "r")
    shard = run / "shards" / "en" / "parts" / "part-00000.bin"  # the shard set's one part
    with open(shard, "r+b") as fh:  # a few bits in the token area: header and size stay valid
        fh.seek(64 + 100)
        b = fh.read(4)
        fh.seek(64 + 100)
        fh.write(bytes(x ^ 0x10 for x in b))
    _newer(shard, run / "shards" / "en" / "step.json")
    code, err = _train(capsys, run, tiny_corpus)
    line = one_line(err)
    assert code == 2 and str(shard) in line and "checksum mismatch" in line
    assert not (run / "stages" / "base" / "step.json").exists()


def test_an_untouched_shard_is_not_read_again(shards_run, monkeypatch):
    from auroram.tokenize.shards import Shard
    from auroram.tokenize.shardset import ShardSet

    def boom(self):
        raise AssertionError(f"{self.path} was checksummed again")

    rec = json.loads((shards_run / "shards" / "en" / "step.json").read_text())
    assert 0 < rec["verified"]["max_token_id"] < 512
    monkeypatch.setattr(Shard, "verify", boom)
    sh = ShardSet(shards_run / "shards" / "en")
    sh.verify_once(rec["verified"])
    assert sh.max_token_id() == rec["verified"]["max_token_id"]


def test_token_ids_beyond_the_model_vocabulary_name_shard_and_offset(capsys, shards_run, tiny_corpus, tmp_path):
    from auroram.tokenize.shardset import finalize, write_part

    run = _copy(shards_run, tmp_path / "r")
    shard = run / "shards" / "en" / "parts" / "part-00000.bin"
    # a whole, checksummed shard set from a larger tokenizer: only the model's ~500 rows make it wrong
    docs = [(np.arange(i * 200, i * 200 + 200) % 400, None) for i in range(20)]
    docs[7] = (np.full(200, 3), None)
    docs[7][0][42] = 60_000
    write_part(run / "shards" / "en", 0, iter(docs), 65_000, masked=False)
    finalize(run / "shards" / "en", 1)
    _newer(shard, run / "shards" / "en" / "step.json")
    code, err = _train(capsys, run, tiny_corpus)
    line = one_line(err)
    assert code == 2 and str(shard) in line
    assert f"token {7 * 200 + 42} (document 7) has id 60000, outside the model's vocabulary" in line


def test_a_model_too_large_stops_the_stage_before_building_it(capsys, shards_run, tiny_corpus, tmp_path):
    run = _copy(shards_run, tmp_path / "r")
    code, err = _train(capsys, run, tiny_corpus, "--set", "model.n_layer=1000000")
    line = one_line(err)
    assert code == 2 and "model.n_layer=1,000,000" in line and "model.n_embd=64" in line
    assert "tokenizer.vocab_size" in line


# ----------------------------------------------------------------------------------------------------
# Model directories with their own code.

MARKER = "ran-remote-code"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    from auroram.model.build import build_model
    from auroram.tokenize.bpe import train_bpe

    root = tmp_path_factory.mktemp("remote")
    tok = train_bpe(["def f(x):\n    return x + 1\n", "the model learns"] * 50, 300, root / "tok")
    d = root / "plain"
    build_model(ModelConfig(n_embd=32, n_layer=1, n_head=2, n_positions=64), vocab_size=len(tok), eos_id=0,
                seed=0).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _with_code(src: Path, dst: Path, file: str, edit: dict) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / file).read_text())
    (dst / file).write_text(json.dumps({**cfg, **edit}))
    # would leave a marker beside itself if it were ever imported
    code = f"open(__file__ + '.{MARKER}', 'w').close()\nfrom transformers import GPTBigCodeConfig as C\n"
    for name in ("modeling_evil.py", "tokenization_evil.py"):
        (dst / name).write_text(code)
    return dst


@pytest.mark.parametrize("case, file, edit", [
    # an architecture transformers knows: loaded silently with its own class before, ignoring the code
    ("known-type", "config.json", {"auto_map": {"AutoModelForCausalLM": "modeling_evil.EvilModel"}}),
    ("custom-type", "config.json", {"model_type": "evil", "auto_map": {"AutoConfig": "modeling_evil.C"}}),
    ("tokenizer", "tokenizer_config.json",
     {"tokenizer_class": "EvilTokenizer", "auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}),
])
def test_model_directory_with_its_own_code_is_one_line_not_a_prompt(hf_dir, tiny_corpus, tmp_path, case, file, edit):
    d = _with_code(hf_dir, tmp_path / case, file, edit)
    p = subprocess.run([sys.executable, "-m", "auroram.cli", "eval", "bpb", str(d), "micro", "--quiet",
                        "--set", f"demo_dir={tiny_corpus}"], input="y\n", capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 2, p.stderr
    line = one_line(p.stderr.strip())
    assert str(d) in line and f"{file} has auto_map" in line and "trust_remote_code=False" in line
    assert "[y/N]" not in p.stdout + p.stderr
    assert not list(d.glob(f"*.{MARKER}"))


def test_tokenizer_directory_with_its_own_code_is_refused(hf_dir, tmp_path):
    from auroram.tokenize.bpe import RemoteCodeError, load_tokenizer

    d = _with_code(hf_dir, tmp_path / "tok", "config.json", {"model_type": "evil",
                                                              "auto_map": {"AutoConfig": "modeling_evil.C"}})
    with pytest.raises(RemoteCodeError, match="config.json has auto_map"):
        load_tokenizer(d)
    assert not list(d.glob(f"*.{MARKER}"))


def test_curate_config_alias_bomb_is_one_line(tmp_path, capsys):
    from auroram.cli import main

    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdef", "bcdefg"):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "bomb.yaml").write_text("\n".join(levels) + "\n")
    (tmp_path / "in.jsonl").write_text('{"text": "hello"}\n')
    rc = main(["curate", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out"),
               "--config", str(tmp_path / "bomb.yaml")])
    assert rc == 2 and "aliases expand to more than" in capsys.readouterr().err
