"""Tokenization on datatrove's executor into shard sets: one part per task, never merged; the parts read in
order equal what the in-process tokenize_to_shard writes, with any task count; a killed task is redone on
rerun and the others are not; a deleted part is redone alone."""

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

import numpy as np

from auroram.curate.tokenize_step import (TokenizeInputError, iter_range_texts, task_byte_range, tokenize_groups,
                                          tokenize_kept)
from auroram.tokenize.bpe import eos_id, train_bpe
from auroram.tokenize.shards import Shard, tokenize_to_shard
from auroram.tokenize.shardset import ShardSet, is_complete, part_path

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


def _reference(tok_dir: Path, texts: list[str], path: Path) -> Shard:
    from auroram.tokenize.bpe import load_tokenizer

    tok = load_tokenizer(tok_dir)
    tokenize_to_shard(tok, texts, path, eos_id=eos_id(tok))
    return Shard(path)


def _same_stream(set_dir: Path, ref: Shard) -> bool:
    """The set's parts concatenated: the reference's tokens and document boundaries (plain text: no mask)."""
    s = ShardSet(set_dir)
    docs = [np.asarray(s.doc(i)) for i in range(s.n_docs)]
    want = [np.asarray(ref.doc(i)) for i in range(ref.n_docs)]
    return not s.masked and len(docs) == len(want) and all(np.array_equal(a, b) for a, b in zip(docs, want))


def test_byte_ranges_cover_every_record_once(tmp_path):
    recs = _kept(tmp_path, n_files=3, per_file=7)
    files = [str(p) for p in sorted((tmp_path / "kept").glob("*.jsonl"))]
    total = sum(os.path.getsize(f) for f in files)
    for world in (1, 2, 3, 5, 40):
        got = [t for r in range(world) for t in iter_range_texts(files, *task_byte_range(total, r, world))]
        assert got == [r["text"] for r in recs], world


@pytest.mark.parametrize("tasks", [1, 3])
def test_shard_sets_equal_in_process_stream(tmp_path, tok_dir, tasks):
    recs = _kept(tmp_path / "cur")
    out = tmp_path / "shards"
    res = tokenize_kept(tmp_path / "cur", tok_dir, out, tasks=tasks, workers=1)
    assert set(res) == {"en", "fi", "ja"}
    for lang in res:
        texts = [r["text"] for r in recs if r["lang"] == lang]
        assert _same_stream(out / lang, _reference(tok_dir, texts, tmp_path / f"ref-{lang}.bin")), lang
        assert res[lang]["documents"] == len(texts) == ShardSet(out / lang).n_docs
        assert res[lang]["bytes"] == sum(len(t.encode()) for t in texts) and res[lang]["parts"] == tasks
        assert len(list((out / lang / "parts").glob("*.bin"))) == tasks  # never merged
    ShardSet(out / "en").verify()
    one = tokenize_kept(tmp_path / "cur", tok_dir, tmp_path / "one", by_lang=False, tasks=tasks)
    assert _same_stream(tmp_path / "one" / "all", _reference(tok_dir, [r["text"] for r in recs],
                                                             tmp_path / "ref-all.bin"))
    assert one["all"]["documents"] == len(recs)


def test_more_tasks_than_records_and_parallel_workers(tmp_path, tok_dir):
    recs = _kept(tmp_path / "cur", n_files=1, per_file=2)
    out = tmp_path / "shards"
    tokenize_kept(tmp_path / "cur", tok_dir, out, by_lang=False, tasks=4, workers=2)
    assert _same_stream(out / "all", _reference(tok_dir, [r["text"] for r in recs], tmp_path / "ref.bin"))
    assert sum(Shard(p).n_docs == 0 for p in (out / "all" / "parts").glob("*.bin")) >= 2


def test_bad_record_named_and_nothing_looks_complete(tmp_path, tok_dir):
    f = tmp_path / "k.jsonl"
    f.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(TokenizeInputError, match=r"k\.jsonl: line 2: no string 'text' field"):
        tokenize_groups({"all": {"files": [str(f)]}}, tok_dir, tmp_path / "out", tasks=2)
    assert not is_complete(tmp_path / "out" / "all") and not (tmp_path / "out" / "step.json").exists()


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
    done = out / "work" / "logs" / "1-tokenize" / "completions"
    assert sorted(x.name for x in done.iterdir()) == ["00000"]
    assert not is_complete(out / "all")
    before = {r: part_path(out / "all", r).stat().st_mtime_ns for r in (0, 1)}
    res = tokenize_kept(tmp_path / "cur", tok_dir, out, by_lang=False, tasks=3)
    assert part_path(out / "all", 0).stat().st_mtime_ns == before[0]  # finished task not redone
    assert part_path(out / "all", 1).stat().st_mtime_ns != before[1]  # the killed one redone
    ref = _reference(tok_dir, [r["text"] for r in recs], tmp_path / "ref.bin")
    assert _same_stream(out / "all", ref)
    assert res["all"]["documents"] == len(recs)
    assert not list(out.rglob(".*.tmp"))
    # a part deleted before the sets were indexed: only its task runs again
    (out / "step.json").unlink()
    (out / "all" / "index.json").unlink()
    part_path(out / "all", 1).unlink()
    kept = {r: part_path(out / "all", r).stat().st_mtime_ns for r in (0, 2)}
    tokenize_kept(tmp_path / "cur", tok_dir, out, by_lang=False, tasks=3)
    assert {r: part_path(out / "all", r).stat().st_mtime_ns for r in (0, 2)} == kept
    assert _same_stream(out / "all", ref)


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
        assert texts and f"{out / 'shards' / lang}: {len(texts)} documents" in printed
        assert _same_stream(out / "shards" / lang, _reference(tok_dir, texts, tmp_path / f"ref-{lang}.bin"))
