"""Tokenization on datatrove's executor: per-task parts merged into the same bytes the in-process
tokenize_to_shard writes, with any task count; a killed task is redone on rerun and the others are not."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from auroram.curate.tokenize_step import (TokenizeInputError, iter_range_texts, merge_shards, task_byte_range,
                                          tokenize_groups, tokenize_kept)
from auroram.tokenize.bpe import eos_id, train_bpe
from auroram.tokenize.shards import Shard, tokenize_to_shard

WORDS = {"en": "the river runs past the old mill and the garden gate".split(),
         "fi": "joki virtaa vanhan myllyn ohi ja puutarhan portti aukeaa".split(),
         "ja": "川 は 古い 水車 小屋 の 横 を 流れ 庭 の 門".split()}


def _kept(root: Path, n_files: int = 3, per_file: int = 9, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    recs = []
    (root / "kept").mkdir(parents=True)
    for f in range(n_files):
        lines = []
        for i in range(per_file):
            lang = rng.choice(list(WORDS))
            sep = "" if lang == "ja" else " "
            text = sep.join(rng.choice(WORDS[lang]) for _ in range(rng.randint(1, 40)))
            rec = {"id": f"{f}-{i}", "text": text, "lang": lang, "file": "x.jsonl", "line": i + 1}
            recs.append(rec)
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        (root / "kept" / f"{f:05d}.jsonl").write_text("".join(lines), encoding="utf-8")
    by_lang = {lang: {"docs_kept": sum(r["lang"] == lang for r in recs)} for lang in WORDS}
    (root / "stats.json").write_text(json.dumps({"by_language": by_lang}))
    return recs


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tok") / "bpe"
    texts = [" ".join(w) for w in WORDS.values()] * 20
    train_bpe(texts, 300, d)
    return d


def _reference(tok_dir: Path, texts: list[str], path: Path) -> bytes:
    from auroram.tokenize.bpe import load_tokenizer

    tok = load_tokenizer(tok_dir)
    tokenize_to_shard(tok, texts, path, eos_id=eos_id(tok))
    return path.read_bytes()


def test_byte_ranges_cover_every_record_once(tmp_path):
    recs = _kept(tmp_path, n_files=3, per_file=7)
    files = [str(p) for p in sorted((tmp_path / "kept").glob("*.jsonl"))]
    total = sum(os.path.getsize(f) for f in files)
    for world in (1, 2, 3, 5, 40):
        got = [t for r in range(world) for t in iter_range_texts(files, *task_byte_range(total, r, world))]
        assert got == [r["text"] for r in recs], world


@pytest.mark.parametrize("tasks", [1, 3])
def test_merged_shards_equal_in_process_bytes(tmp_path, tok_dir, tasks):
    recs = _kept(tmp_path / "cur")
    out = tmp_path / "shards"
    res = tokenize_kept(tmp_path / "cur", tok_dir, out, tasks=tasks, workers=1)
    assert set(res) == {"en", "fi", "ja"}
    for lang in res:
        texts = [r["text"] for r in recs if r["lang"] == lang]
        ref = _reference(tok_dir, texts, tmp_path / f"ref-{lang}.bin")
        assert (out / lang / "tokens.bin").read_bytes() == ref, lang
        assert res[lang]["documents"] == len(texts) == Shard(out / lang / "tokens.bin").n_docs
        assert res[lang]["bytes"] == sum(len(t.encode()) for t in texts)
    Shard(out / "en" / "tokens.bin").verify()
    one = tokenize_kept(tmp_path / "cur", tok_dir, tmp_path / "one", by_lang=False, tasks=tasks)
    assert (tmp_path / "one" / "all" / "tokens.bin").read_bytes() == \
        _reference(tok_dir, [r["text"] for r in recs], tmp_path / "ref-all.bin")
    assert one["all"]["documents"] == len(recs)


def test_more_tasks_than_records_and_parallel_workers(tmp_path, tok_dir):
    recs = _kept(tmp_path / "cur", n_files=1, per_file=2)
    out = tmp_path / "shards"
    tokenize_kept(tmp_path / "cur", tok_dir, out, by_lang=False, tasks=4, workers=2)
    ref = _reference(tok_dir, [r["text"] for r in recs], tmp_path / "ref.bin")
    assert (out / "all" / "tokens.bin").read_bytes() == ref
    assert sum(Shard(p).n_docs == 0 for p in (out / "work" / "parts" / "all").glob("*.bin")) >= 2


def test_merge_of_no_parts_and_bad_record_named(tmp_path, tok_dir):
    from auroram.tokenize.shards import ShardError

    with pytest.raises(ShardError, match="no parts"):
        merge_shards([], tmp_path / "x.bin")
    f = tmp_path / "k.jsonl"
    f.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(TokenizeInputError, match=r"k\.jsonl: line 2: no string 'text' field"):
        tokenize_groups({"all": {"files": [str(f)]}}, tok_dir, tmp_path / "out", tasks=2)
    assert not (tmp_path / "out" / "all" / "tokens.bin").exists()


def test_killed_task_is_redone_and_finished_ones_skipped(tmp_path, tok_dir):
    recs = _kept(tmp_path / "cur", n_files=3, per_file=12)
    out = tmp_path / "shards"
    code = ("from auroram.curate.tokenize_step import tokenize_kept; "
            f"tokenize_kept({str(tmp_path / 'cur')!r}, {str(tok_dir)!r}, {str(out)!r}, by_lang=False, tasks=3)")
    env = dict(os.environ, AURORAM_FAULT="tokenize-part:all:rank1")
    # its own session: datatrove's manager process outlives the killed parent and is ended with the group
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        assert p.wait(timeout=120) == -9  # killed after task 1 wrote its part, before datatrove marked it complete
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    parts = out / "work" / "parts" / "all"
    done = out / "work" / "logs" / "1-tokenize" / "completions"
    assert sorted(x.name for x in done.iterdir()) == ["00000"]
    assert not (out / "all" / "tokens.bin").exists()
    before = {r: (parts / f"{r:05d}.bin").stat().st_mtime_ns for r in (0, 1)}
    res = tokenize_kept(tmp_path / "cur", tok_dir, out, by_lang=False, tasks=3)
    assert (parts / "00000.bin").stat().st_mtime_ns == before[0]  # finished task not redone
    assert (parts / "00001.bin").stat().st_mtime_ns != before[1]  # the killed one redone
    assert (out / "all" / "tokens.bin").read_bytes() == \
        _reference(tok_dir, [r["text"] for r in recs], tmp_path / "ref.bin")
    assert res["all"]["documents"] == len(recs)
    assert not list(out.rglob(".*.tmp"))


def test_cli_curate_then_tokenize(tmp_path, tok_dir, capsys):
    from auroram.cli import main

    sys.path.insert(0, str(Path(__file__).parent))
    from curate_data import en_doc, ja_doc, read_out, write_jsonl

    rng = random.Random(5)
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": f"en{i}", "text": en_doc(rng)} for i in range(6)]
                + [{"id": f"ja{i}", "text": ja_doc(rng)} for i in range(4)])
    out = tmp_path / "out"
    assert main(["curate", str(tmp_path / "in"), "--out", str(out), "--tasks", "2", "--quiet",
                 "--tokenize", str(tok_dir)]) == 0
    printed = capsys.readouterr().out
    kept = read_out(out, "kept")
    for lang in ("en", "ja"):
        texts = [r["text"] for r in kept if r["lang"] == lang]
        assert texts and f"{out / 'shards' / lang / 'tokens.bin'}: {len(texts)} documents" in printed
        assert (out / "shards" / lang / "tokens.bin").read_bytes() == \
            _reference(tok_dir, texts, tmp_path / f"ref-{lang}.bin")
