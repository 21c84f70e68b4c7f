import json

import numpy as np
import pytest
import torch

from auroram.mix.mixture import IGNORE_INDEX, Mixture
from auroram.tokenize.shards import HEADER_BYTES, Shard, ShardError, tokenize_to_shard, write_shard
from auroram.tokenize.shardset import (ShardSet, finalize, is_complete, open_tokens, part_path, tokenize_part,
                                       write_part)

VOCAB = 5000


def _docs(seed: int, n: int, masked: bool) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        toks = rng.integers(0, VOCAB, int(rng.integers(0, 60)))
        # instruction-like data: a prompt masked out, then a response that is a target
        mask = (np.arange(toks.size) >= rng.integers(0, toks.size + 1)).astype(np.uint8) if masked else None
        out.append((toks, mask))
    return out


def _write_set(set_dir, docs, cuts, masked):
    """Parts docs[cuts[i]:cuts[i+1]]; equal neighbouring cuts make empty parts."""
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        write_part(set_dir, i, docs[a:b], VOCAB, masked=masked)
    finalize(set_dir, len(cuts) - 1)
    return ShardSet(set_dir)


def _batches(sources, steps=50):
    mix = Mixture(sources, {"x": 0.5, "y": 0.3, "z": 0.2}, seq_len=16, global_batch_seqs=8, seed=3)
    return [mix.batch(s) for s in range(steps)]


def _equal(a, b):
    return all(torch.equal(x.input_ids, y.input_ids) and torch.equal(x.labels, y.labels) and x.sources == y.sources
               for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_batches_do_not_depend_on_how_the_stream_was_split(tmp_path, masked):
    docs = {name: _docs(seed, 70, masked) for seed, name in enumerate("xyz")}
    single = {}
    for name, d in docs.items():
        write_shard(tmp_path / f"{name}.bin", d, VOCAB, masked=masked)
        single[name] = Shard(tmp_path / f"{name}.bin")
    one = {n: _write_set(tmp_path / f"one-{n}", d, [0, len(d)], masked) for n, d in docs.items()}
    # empty parts at the start, in the middle and at the end; cuts at several document boundaries
    cuts = [0, 0, 1, 9, 9, 30, 31, 55, 70, 70]
    many = {n: _write_set(tmp_path / f"many-{n}", d, cuts, masked) for n, d in docs.items()}
    assert all(len(s.parts) == 9 and s.masked == masked for s in many.values())
    ref = _batches(single)
    assert _equal(ref, _batches(one))
    assert _equal(ref, _batches(many))
    labels = torch.cat([b.labels for b in ref])
    assert (labels == IGNORE_INDEX).any() == masked  # unmasked: every target counts
    # some windows of those steps did cross a part boundary, so the cross-part path was compared too
    sset = many["x"]
    starts = np.arange(0, sset.n_tokens - 16, 16)
    assert np.any(sset._part_of(starts) != sset._part_of(starts + 16))


@pytest.mark.parametrize("pread", [True, False], ids=["pread", "memmap"])
@pytest.mark.parametrize("masked", [True, False])
def test_window_spanning_three_parts(tmp_path, masked, pread, monkeypatch):
    import auroram.tokenize.shards as shards_mod

    monkeypatch.setattr(shards_mod, "_PREAD", pread and shards_mod._PREAD)
    toks = np.arange(30)
    mask = (toks % 3 != 0).astype(np.uint8) if masked else None
    cuts = [0, 5, 5, 8, 30]  # part sizes 5, 0, 3, 22
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        write_part(tmp_path / "s", i, [(toks[a:b], None if mask is None else mask[a:b])], VOCAB, masked=masked)
    finalize(tmp_path / "s", 4)
    s = ShardSet(tmp_path / "s")
    starts = np.array([3, 0, 20, 4, 7, 3])  # 3 -> 13 covers parts 0, 2 and 3 (part 1 is empty)
    got, got_mask = s.windows(starts, 10)
    np.testing.assert_array_equal(got, starts[:, None] + np.arange(10))
    assert got.dtype == np.int64
    if masked:
        np.testing.assert_array_equal(got_mask, mask[starts[:, None] + np.arange(10)])
    else:
        assert got_mask is None
    with pytest.raises(IndexError, match="outside the 30 tokens"):
        s.windows(np.array([21]), 10)
    with pytest.raises(IndexError):
        s.windows(np.array([-1]), 2)


def test_documents_and_counts_match_a_single_shard(tmp_path):
    docs = _docs(5, 40, True)
    write_shard(tmp_path / "one.bin", docs, VOCAB)
    one = Shard(tmp_path / "one.bin")
    s = _write_set(tmp_path / "s", docs, [0, 13, 13, 40], True)
    assert (s.n_tokens, s.n_docs, s.vocab_size, len(s)) == (one.n_tokens, one.n_docs, VOCAB, 40)
    for i in range(-40, 40):
        np.testing.assert_array_equal(s.doc(i), one.doc(i))
        np.testing.assert_array_equal(s.doc_mask(i), one.doc_mask(i))
    with pytest.raises(IndexError):
        s.doc(40)
    assert s.max_token_id() == one.max_token_id()


def test_index_records_every_part_and_is_written_last(tmp_path):
    docs = _docs(1, 20, False)
    recs = [write_part(tmp_path, i, docs[i * 10:(i + 1) * 10], VOCAB, masked=False) for i in range(2)]
    assert not (tmp_path / "index.json").exists() and not is_complete(tmp_path)
    assert recs[0]["file"] == "parts/part-00000.bin"
    assert json.loads((tmp_path / "parts" / "part-00001.json").read_text()) == recs[1]
    index = finalize(tmp_path, 2, meta={"source": "en"})
    assert json.loads((tmp_path / "index.json").read_text()) == index
    assert (index["format"], index["version"], index["masked"], index["meta"]) == ("auroram-shardset", 1, False,
                                                                                     {"source": "en"})
    assert index["parts"] == recs
    assert index["tokens"] == sum(len(t) for t, _ in docs) and index["documents"] == 20
    assert recs[0]["bytes"] == part_path(tmp_path, 0).stat().st_size
    assert is_complete(tmp_path)
    # rewriting a part makes the set incomplete until finalize runs again
    write_part(tmp_path, 1, docs[10:], VOCAB, masked=False)
    assert not is_complete(tmp_path)


def test_finalize_removes_stale_parts(tmp_path):
    docs = _docs(2, 30, True)
    for i in range(4):
        write_part(tmp_path, i, docs[i * 5:(i + 1) * 5], VOCAB, masked=True)
    finalize(tmp_path, 2)
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        "part-00000.bin", "part-00000.json", "part-00001.bin", "part-00001.json"]
    assert ShardSet(tmp_path).n_docs == 10


def _one_line(e, *names):
    msg = str(e.value)
    assert "\n" not in msg, msg
    for n in names:
        assert n in msg, msg


@pytest.fixture
def three(tmp_path):
    docs = _docs(3, 30, True)
    _write_set(tmp_path / "s", docs, [0, 10, 20, 30], True)
    return tmp_path / "s"


def test_missing_part_is_named(three):
    part_path(three, 1).unlink()
    with pytest.raises(ShardError, match="not found") as e:
        ShardSet(three)
    _one_line(e, "part-00001.bin")
    assert not is_complete(three)


def test_truncated_part_is_named(three):
    p = part_path(three, 2)
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ShardError, match="truncated") as e:
        ShardSet(three)
    _one_line(e, "part-00002.bin")


def test_part_changed_after_finalize(three):
    p = part_path(three, 1)
    data = bytearray(p.read_bytes())
    data[HEADER_BYTES + 3] ^= 0x01  # a token byte: the header still matches the index, only the checksum can tell
    p.write_bytes(bytes(data))
    s = ShardSet(three)
    rec = s.record()
    with pytest.raises(ShardError, match="checksum") as e:
        s.verify()
    _one_line(e, "part-00001.bin")
    with pytest.raises(ShardError, match="checksum"):
        ShardSet(three).verify_once(None)
    ShardSet(three).verify_once(rec)  # a record the caller trusts (newer than mtime_ns) skips the reading
    # a part replaced wholesale by another shard: its header no longer matches the index, caught on open
    write_shard(p, _docs(9, 10, True), VOCAB)
    with pytest.raises(ShardError, match="does not match its index") as e:
        ShardSet(three)
    _one_line(e, "part-00001.bin")


def test_index_naming_another_vocab(three):
    ip = three / "index.json"
    index = json.loads(ip.read_text())
    index["vocab_size"] = 70000
    ip.write_text(json.dumps(index))
    with pytest.raises(ShardError, match="vocab_size 5000, index says 70000") as e:
        ShardSet(three)
    _one_line(e, "part-00000.bin")


def test_index_cannot_name_a_file_outside_the_set(three, tmp_path):
    write_shard(tmp_path / "elsewhere.bin", _docs(3, 10, True), VOCAB)
    ip = three / "index.json"
    index = json.loads(ip.read_text())
    index["parts"][0]["file"] = "../elsewhere.bin"
    ip.write_text(json.dumps(index))
    with pytest.raises(ShardError, match="corrupt index: part 0") as e:
        ShardSet(three)
    _one_line(e, "index.json")


def test_half_written_set_is_incomplete(tmp_path):
    docs = _docs(4, 10, True)
    write_part(tmp_path / "s", 0, docs, VOCAB, masked=True)
    for opener in (ShardSet, open_tokens):
        with pytest.raises(ShardError, match="has no index.json: incomplete shard set") as e:
            opener(tmp_path / "s")
        _one_line(e, str(tmp_path / "s"))


def test_finalize_with_a_missing_part_writes_no_index(tmp_path):
    docs = _docs(4, 10, True)
    write_part(tmp_path, 0, docs, VOCAB, masked=True)
    write_part(tmp_path, 2, docs, VOCAB, masked=True)
    with pytest.raises(ShardError, match="part not found") as e:
        finalize(tmp_path, 3)
    _one_line(e, "part-00001.bin")
    assert not (tmp_path / "index.json").exists()
    # a part whose record never got written (killed in between) counts as missing too
    write_part(tmp_path, 1, docs, VOCAB, masked=True)
    (tmp_path / "parts" / "part-00001.json").unlink()
    with pytest.raises(ShardError, match="no record") as e:
        finalize(tmp_path, 3)
    _one_line(e, "part-00001.bin")
    assert not (tmp_path / "index.json").exists()


def test_finalize_refuses_parts_that_disagree(tmp_path):
    write_part(tmp_path, 0, _docs(1, 5, False), VOCAB, masked=False)
    write_part(tmp_path, 1, _docs(1, 5, True), VOCAB, masked=True)
    with pytest.raises(ShardError, match="masked True but part 0") as e:
        finalize(tmp_path, 2)
    _one_line(e, "part-00001.bin")
    write_part(tmp_path, 1, _docs(1, 5, False), VOCAB + 1, masked=False)
    with pytest.raises(ShardError, match=f"vocab_size {VOCAB + 1}"):
        finalize(tmp_path, 2)
    assert not (tmp_path / "index.json").exists()


def test_unmasked_part_refuses_a_masked_out_token(tmp_path):
    docs = [(np.arange(4), None), (np.arange(3), np.array([1, 0, 1]))]
    with pytest.raises(ShardError, match="document 1: masks 1 tokens out of the loss") as e:
        write_part(tmp_path, 0, docs, VOCAB, masked=False)
    _one_line(e, "part-00000.bin")
    assert not part_path(tmp_path, 0).exists()


def test_check_vocab_names_the_part(tmp_path):
    docs = [(np.array([1, 2, 3]), None), (np.array([4, 4000]), None)]
    write_part(tmp_path, 0, docs[:1], VOCAB, masked=False)
    write_part(tmp_path, 1, docs[1:], VOCAB, masked=False)
    finalize(tmp_path, 2)
    s = ShardSet(tmp_path)
    s.check_vocab(4001)
    with pytest.raises(ShardError, match=r"token 1 \(document 0\) has id 4000") as e:
        Mixture({"x": s}, {"x": 1.0}, seq_len=2, global_batch_seqs=1, seed=0, vocab_size=1000)
    _one_line(e, "part-00001.bin")


def test_open_tokens_takes_a_set_or_a_file(tmp_path, three):
    write_shard(tmp_path / "old.bin", _docs(1, 5, True), VOCAB)
    assert isinstance(open_tokens(tmp_path / "old.bin"), Shard)
    assert isinstance(open_tokens(three), ShardSet)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from auroram.tokenize.bpe import train_bpe

    corpus = ["hello world, this is text.", "def f(x): return x", "नमस्ते दुनिया", "こんにちは"] * 30
    return train_bpe(corpus, 320, tmp_path_factory.mktemp("bpe") / "tok")


def test_tokenize_part_matches_tokenize_to_shard(tmp_path, tok):
    docs = ["hello world", ("Question: hi?", " Answer: yes."), [("sys ", False), ("reply", True)], "नमस्ते"]
    st = tokenize_to_shard(tok, docs, tmp_path / "one.bin", eos_id=0)
    rec0 = tokenize_part(tok, docs[:2], tmp_path / "s", 0, eos_id=0, masked=True, batch_docs=1)
    rec1 = tokenize_part(tok, docs[2:], tmp_path / "s", 1, eos_id=0, masked=True)
    assert rec0["bytes_text"] + rec1["bytes_text"] == st["bytes"]
    index = finalize(tmp_path / "s", 2)
    assert index["bytes_text"] == st["bytes"]
    one, s = Shard(tmp_path / "one.bin"), ShardSet(tmp_path / "s")
    for i in range(len(docs)):
        np.testing.assert_array_equal(s.doc(i), one.doc(i))
        np.testing.assert_array_equal(s.doc_mask(i), one.doc_mask(i))
    # plain text needs no mask channel; a prompt would be trained on without one, so it is refused
    tokenize_part(tok, ["hello world", "नमस्ते"], tmp_path / "u", 0, eos_id=0, masked=False)
    assert Shard(part_path(tmp_path / "u", 0)).loss_mask is None
    with pytest.raises(ShardError, match="document 1: masks"):
        tokenize_part(tok, docs, tmp_path / "u", 1, eos_id=0, masked=False)


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_one_descriptor_per_part_and_none_left_open(tmp_path):
    # a set of many parts must not run out of file descriptors (ulimit -n is often 1024), nor leak them
    import gc
    import os

    docs = _docs(6, 40, True)
    _write_set(tmp_path / "s", docs, list(range(0, 41, 2)), True)  # 20 parts
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    s = ShardSet(tmp_path / "s")
    s.windows(np.arange(0, s.n_tokens - 30, 7), 30)
    s.verify()
    assert len(os.listdir("/proc/self/fd")) - before == 20
    del s
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("edit", ["tokens", "max_token_id", "format", "version", "parts"])
def test_damaged_index_is_one_line(three, edit):
    ip = three / "index.json"
    index = json.loads(ip.read_text())
    if edit in ("tokens", "max_token_id"):
        index["parts"][1][edit] = "12"
    elif edit == "parts":
        index["parts"] = []
    else:
        index[edit] = "other"
    ip.write_text(json.dumps(index))
    with pytest.raises(ShardError) as e:
        ShardSet(three)
    _one_line(e, "index.json")
    ip.write_text('{"format": "auroram-shardset", ')
    with pytest.raises(ShardError, match="unreadable") as e:
        ShardSet(three)
    _one_line(e, "index.json")


def test_pickled_set_reopens_by_path(three):
    # a spawned worker gets the set by pickling: it must reopen the files, not reuse descriptor numbers
    import pickle

    s = ShardSet(three)
    starts = np.arange(0, s.n_tokens - 40, 9)
    back = pickle.loads(pickle.dumps(s))
    assert isinstance(back, ShardSet) and back.path == s.path
    np.testing.assert_array_equal(back.windows(starts, 40)[0], s.windows(starts, 40)[0])
    part = pickle.loads(pickle.dumps(s.parts[1]))
    assert isinstance(part, Shard) and part.n_tokens == s.parts[1].n_tokens
