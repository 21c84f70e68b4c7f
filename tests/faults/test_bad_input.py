"""Bad input to every command: one clear line naming the file, line or key; exit code 2; no traceback
unless --debug. Commands run in-process through auroram.cli.main (what the `auroram` script calls)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auroram import cli


@pytest.fixture(scope="module")
def bad(tmp_path_factory, clean_run, fault_corpus) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    hf = clean_run / "stages" / "cat" / "hf"
    (d / "types.yaml").write_text("name: x\ntrain: {seq_len: abc}\n")
    (d / "yaml.yaml").write_text("name: [x\n")
    (d / "utf8.yaml").write_bytes(b"name: \xff\xfe\n")
    (d / "mc.jsonl").write_text('{"context": "a", "choices": ["x"')
    (d / "samples.jsonl").write_text('{"task_id": "x", "compl')
    (d / "latin1.jsonl").write_bytes(b'{"prompt": "caf\xe9"}\n')
    (d / "run").mkdir()
    (d / "run" / "report.json").write_bytes((clean_run / "report.json").read_bytes()[:100])
    for name, edit in {"vit": {"model_type": "vit"}, "vocab": {"vocab_size": 100}}.items():
        shutil.copytree(hf, d / name)
        cfg = json.loads((d / name / "config.json").read_text())
        (d / name / "config.json").write_text(json.dumps({**cfg, **edit}))
    shutil.copytree(hf, d / "truncated")
    (d / "truncated" / "config.json").write_bytes((hf / "config.json").read_bytes()[:50])
    corpus = d / "corpus"  # a demo corpus with one truncated and one non-UTF-8 line
    shutil.copytree(fault_corpus, corpus, ignore=shutil.ignore_patterns("instruct"))
    fi = corpus / "corpus" / "fi" / "train.jsonl"
    fi.write_bytes(fi.read_bytes()[:3000])
    corpus2 = d / "corpus2"
    shutil.copytree(fault_corpus, corpus2, ignore=shutil.ignore_patterns("instruct"))
    with open(corpus2 / "corpus" / "hi" / "train.jsonl", "ab") as fh:
        fh.write(b'{"id": "x", "text": "\xff\xfe", "source": "s"}\n')
    return {"dir": d, "hf": hf, "corpus": fault_corpus, "run": clean_run}


CASES = {
    "recipe-wrong-type": (["run", "{d}/types.yaml"], "{d}/types.yaml: key 'train.seq_len': expected an integer, got 'abc'"),
    "recipe-bad-yaml": (["run", "{d}/yaml.yaml"], "{d}/yaml.yaml: line 2: not valid YAML"),
    "recipe-bad-utf8": (["run", "{d}/utf8.yaml"], "{d}/utf8.yaml: byte 6: not valid UTF-8"),
    "recipe-missing": (["run", "{d}/nope.yaml"], "{d}/nope.yaml: recipe file not found"),
    "plan-wrong-type": (["plan", "{d}/types.yaml", "--gpus", "8"], "key 'train.seq_len'"),
    "override-unknown-key": (["run", "micro", "--set", "train.seq_lenn=3"], "train.seq_lenn"),
    "corpus-truncated": (["tokenize", "micro", "--quiet", "--run-dir", "{d}/r1", "--set", "demo_dir={d}/corpus"],
                         "{d}/corpus/corpus/fi/train.jsonl: line 6: not valid JSON"),
    "corpus-bad-utf8": (["tokenize", "micro", "--quiet", "--run-dir", "{d}/r2", "--set", "demo_dir={d}/corpus2"],
                        "{d}/corpus2/corpus/hi/train.jsonl: line 121: not valid UTF-8"),
    "train-unknown-stage": (["train", "micro", "--stage", "nope", "--run-dir", "{d}/r3"], "--until/--stage 'nope'"),
    "eval-missing-model": (["eval", "bpb", "{d}/nope", "micro", "--set", "demo_dir={c}"], "{d}/nope: not a directory"),
    "eval-unsupported-kind": (["eval", "bpb", "{d}/vit", "micro", "--set", "demo_dir={c}"],
                              "{d}/vit: unsupported model type 'vit'"),
    "eval-not-hf-dir": (["eval", "bpb", "{r}/stages/cat/final", "micro", "--set", "demo_dir={c}"], "no config.json"),
    "eval-truncated-config": (["eval", "bpb", "{d}/truncated", "micro", "--set", "demo_dir={c}"],
                              "{d}/truncated: config.json is not readable JSON"),
    "vocab-mismatch": (["eval", "bpb", "{d}/vocab", "micro", "--set", "demo_dir={c}"],
                       "the tokenizer has 497 tokens but the model's embedding has only 100 rows"),
    "run-base-vocab-mismatch": (["run", "micro", "--quiet", "--base", "{d}/vocab", "--run-dir", "{d}/r4",
                                 "--set", "demo_dir={c}"], "has only 100 rows"),
    "mc-truncated": (["eval", "mc", "{h}", "--tasks", "{d}/mc.jsonl"], "{d}/mc.jsonl: line 1: not valid JSON"),
    "code-truncated": (["eval", "code", "--samples", "{d}/samples.jsonl"], "{d}/samples.jsonl: line 1: not valid JSON"),
    "code-missing": (["eval", "code", "--samples", "{d}/nope.jsonl"], "{d}/nope.jsonl: samples file not found"),
    "safety-import-bad-utf8": (["safety", "import", "biden-harris", "{d}/latin1.jsonl", "--out", "{d}/o.jsonl"],
                               "{d}/latin1.jsonl: not valid UTF-8"),
    "safety-eval-missing": (["safety", "eval", "{h}", "--items", "{d}/nope.jsonl"], "{d}/nope.jsonl: no such file"),
    "curate-missing": (["curate", "{d}/nope.jsonl", "--out", "{d}/c"], "{d}/nope.jsonl: no such file"),
    "report-truncated": (["report", "{d}/run"], "{d}/run/report.json: line 3: not valid JSON"),
    "report-not-a-run": (["report", "{d}"], "no report.json"),
    "export-unknown-stage": (["export", "{r}", "--stage", "nope", "--out", "{d}/x"], "no exported model"),
    "verify-not-a-run": (["verify", "{d}"], "{d}/manifest.json: missing"),
    "data-instruct-missing": (["data", "instruct", "--demo-dir", "{d}/nope"], "demo corpus split missing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_clear_line(case, bad, capsys):
    argv, want = CASES[case]
    fmt = {"d": bad["dir"], "h": bad["hf"], "c": bad["corpus"], "r": bad["run"]}
    code = cli.main([a.format(**fmt) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err and err[-1].startswith("auroram: error: "), err
    assert want.format(**fmt) in err[-1]
    assert not any("Traceback" in line for line in err)


def test_an_unexpected_exception_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_verify", boom)
    assert cli.main(["verify", "x"]) == 3
    assert capsys.readouterr().err.strip() == ("auroram: internal error: ZeroDivisionError: division by zero "
                                               "(rerun with --debug for the traceback)")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "verify", "x"])
