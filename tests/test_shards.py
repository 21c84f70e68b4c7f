import numpy as np
import pytest

from auroram.tokenize.bpe import train_bpe
from auroram.tokenize.shards import HEADER_BYTES, Shard, ShardError, tokenize_to_shard, write_shard


def _docs(rng, n, vocab):
    out = []
    for _ in range(n):
        length = int(rng.integers(0, 50))
        toks = rng.integers(0, vocab, length)
        mask = rng.integers(0, 2, length).astype(np.uint8)
        out.append((toks, mask))
    return out


def test_roundtrip_tokens_masks_offsets(tmp_path):
    rng = np.random.default_rng(0)
    docs = _docs(rng, 30, 1000)
    docs.append((np.array([5, 6, 7]), None))  # no mask: every token is a target
    stats = write_shard(tmp_path / "a.shard", iter(docs), vocab_size=1000)
    sh = Shard(tmp_path / "a.shard")
    assert stats == {"documents": 31, "tokens": sum(len(t) for t, _ in docs)}
    assert (sh.n_docs, sh.n_tokens, sh.vocab_size) == (31, stats["tokens"], 1000)
    for i, (toks, mask) in enumerate(docs):
        np.testing.assert_array_equal(sh.doc(i), toks)
        np.testing.assert_array_equal(sh.doc_mask(i), np.ones(3) if mask is None else mask)
    np.testing.assert_array_equal(sh.tokens, np.concatenate([t for t, _ in docs]))
    assert sh.doc_offsets[0] == 0 and sh.doc_offsets[-1] == sh.n_tokens
    sh.verify()


def test_empty_shard(tmp_path):
    write_shard(tmp_path / "e.shard", [], vocab_size=10)
    sh = Shard(tmp_path / "e.shard")
    assert sh.n_docs == 0 and sh.n_tokens == 0 and len(sh.tokens) == 0
    sh.verify()


@pytest.mark.parametrize("vocab,dtype", [(65535, np.uint16), (65536, np.uint32), (200_000, np.uint32)])
def test_token_dtype_by_vocab(tmp_path, vocab, dtype):
    toks = np.array([0, 1, vocab - 1])
    write_shard(tmp_path / "s", [(toks, None)], vocab_size=vocab)
    sh = Shard(tmp_path / "s")
    assert sh.tokens.dtype == dtype
    np.testing.assert_array_equal(sh.tokens, toks)


def test_uint16_file_is_smaller(tmp_path):
    toks = np.arange(1000)
    write_shard(tmp_path / "small", [(toks, None)], vocab_size=50_000)
    write_shard(tmp_path / "big", [(toks, None)], vocab_size=100_000)
    assert (tmp_path / "big").stat().st_size - (tmp_path / "small").stat().st_size == 2000


def test_token_outside_vocab_rejected(tmp_path):
    with pytest.raises(ShardError, match="token id 10 outside the vocabulary"):
        write_shard(tmp_path / "s", [(np.array([1, 10]), None)], vocab_size=10)
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_names_file(tmp_path):
    p = tmp_path / "t.shard"
    write_shard(p, [(np.arange(100), None)], vocab_size=1000)
    full = p.stat().st_size
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ShardError, match=rf"truncated: expected {full} bytes, found {full - 10}") as e:
        Shard(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_header_only_truncation(tmp_path):
    p = tmp_path / "t.shard"
    write_shard(p, [(np.arange(100), None)], vocab_size=1000)
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(ShardError, match="truncated"):
        Shard(p)


def test_wrong_magic(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("just some text, long enough to fill a header " * 4)
    with pytest.raises(ShardError, match="not an auroram shard") as e:
        Shard(p)
    assert str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ShardError, match="not found"):
        Shard(tmp_path / "absent.shard")


def test_verify_catches_flipped_byte(tmp_path):
    p = tmp_path / "f.shard"
    write_shard(p, [(np.arange(100), None)], vocab_size=1000)
    Shard(p).verify()
    data = bytearray(p.read_bytes())
    data[HEADER_BYTES + 51] ^= 0x01  # a token byte: the file still opens, only the checksum can tell
    p.write_bytes(bytes(data))
    sh = Shard(p)
    with pytest.raises(ShardError, match="checksum") as e:
        sh.verify()
    assert str(p) in str(e.value)


def test_no_partial_file_when_docs_fail(tmp_path):
    def docs():
        for i in range(5):
            yield np.arange(10) + i, None
        raise RuntimeError("source went away")

    out = tmp_path / "sub" / "x.shard"
    with pytest.raises(RuntimeError, match="source went away"):
        write_shard(out, docs(), vocab_size=100)
    assert not out.exists()
    assert list((tmp_path / "sub").iterdir()) == []  # no temporary or spill files either


def test_rewrite_replaces_old_shard(tmp_path):
    p = tmp_path / "r.shard"
    write_shard(p, [(np.arange(5), None)], vocab_size=100)
    write_shard(p, [(np.arange(7), None), (np.arange(2), None)], vocab_size=100)
    assert Shard(p).n_docs == 2 and Shard(p).n_tokens == 9


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    corpus = ["hello world, this is text.", "def f(x): return x", "नमस्ते दुनिया", "こんにちは"]
    corpus *= 30
    return train_bpe(corpus, 320, tmp_path_factory.mktemp("bpe") / "tok")


def test_tokenize_to_shard_appends_eos_and_decodes_back(tmp_path, tok):
    texts = ["hello world", "नमस्ते", "", "def f(x): return x\n", "🎉 new"]
    seen = []
    stats = tokenize_to_shard(tok, iter(texts), tmp_path / "s", eos_id=0, batch_docs=2, progress=seen.append)
    sh = Shard(tmp_path / "s")
    assert stats["documents"] == 5 and stats["tokens"] == sh.n_tokens
    assert stats["bytes"] == sum(len(t.encode()) for t in texts)
    assert seen == [2, 4, 5]
    for i, t in enumerate(texts):
        d = sh.doc(i)
        assert d[-1] == 0 and 0 not in d[:-1].tolist()
        assert tok.decode(d[:-1].tolist()) == t
        assert sh.doc_mask(i).all()  # plain text: every token, EOS included, is a target
    sh.verify()


def test_prompt_response_masks_prompt_only(tmp_path, tok):
    docs = ["plain text", ("Question: hello?", " Answer: world."), "more"]
    tokenize_to_shard(tok, docs, tmp_path / "s", eos_id=0)
    sh = Shard(tmp_path / "s")
    n_prompt = len(tok("Question: hello?", add_special_tokens=False)["input_ids"])
    n_resp = len(tok(" Answer: world.", add_special_tokens=False)["input_ids"])
    mask = sh.doc_mask(1)
    assert mask.tolist() == [0] * n_prompt + [1] * (n_resp + 1)
    assert tok.decode(sh.doc(1)[:-1].tolist()) == "Question: hello? Answer: world."
    assert sh.doc_mask(0).all() and sh.doc_mask(2).all()


def test_eos_outside_vocab_rejected(tmp_path, tok):
    with pytest.raises(ShardError, match="eos_id"):
        tokenize_to_shard(tok, ["x"], tmp_path / "s", eos_id=len(tok))


def test_bad_document_type_is_named(tmp_path, tok):
    with pytest.raises(ShardError, match="document 1: expected a string"):
        tokenize_to_shard(tok, ["ok", 42], tmp_path / "s", eos_id=0)
    assert not (tmp_path / "s").exists()


def test_unmasked_shard_has_no_mask_channel(tmp_path):
    docs = [(np.arange(10), None), (np.arange(7), np.ones(7))]
    write_shard(tmp_path / "m", docs, vocab_size=1000)
    write_shard(tmp_path / "u", docs, vocab_size=1000, masked=False)
    m, u = Shard(tmp_path / "m"), Shard(tmp_path / "u")
    assert (m.masked, u.masked, u.loss_mask) == (True, False, None)
    # 17 mask bytes fewer, give or take the padding that aligns the offsets
    assert 17 - 7 <= (tmp_path / "m").stat().st_size - (tmp_path / "u").stat().st_size <= 17
    np.testing.assert_array_equal(u.tokens, m.tokens)
    np.testing.assert_array_equal(u.doc_mask(1), np.ones(7))
    u.verify()
    assert "unmasked" in repr(u)


def test_unmasked_shard_refuses_masked_out_tokens(tmp_path):
    docs = [(np.arange(5), None), (np.arange(4), np.array([0, 0, 1, 1]))]
    with pytest.raises(ShardError, match="document 1: masks 2 tokens out of the loss") as e:
        write_shard(tmp_path / "u", docs, vocab_size=100, masked=False)
    assert str(tmp_path / "u") in str(e.value)
    assert not (tmp_path / "u").exists()


def test_version_1_file_still_reads(tmp_path):
    # a version 1 file is a masked version 2 file with version 1 and no flags word in its header
    import struct

    p = tmp_path / "v1"
    docs = [(np.arange(9), np.array([0, 1] * 4 + [1])), (np.arange(3), None)]
    write_shard(p, docs, vocab_size=100)
    data = bytearray(p.read_bytes())
    data[8:12] = struct.pack("<I", 1)
    data[56:64] = bytes(8)
    p.write_bytes(bytes(data))
    sh = Shard(p)
    assert sh.masked and sh.n_docs == 2
    np.testing.assert_array_equal(sh.doc_mask(0), docs[0][1])
    sh.verify()


def test_unknown_version_and_flags_are_named(tmp_path):
    import struct

    p = tmp_path / "s"
    write_shard(p, [(np.arange(5), None)], vocab_size=100)
    good = p.read_bytes()
    p.write_bytes(good[:8] + struct.pack("<I", 3) + good[12:])
    with pytest.raises(ShardError, match="version 3"):
        Shard(p)
    p.write_bytes(good[:56] + struct.pack("<I", 6) + good[60:])
    with pytest.raises(ShardError, match="unknown flags 0x6"):
        Shard(p)


@pytest.mark.parametrize("masked", [True, False])
def test_windows_gather_rows(tmp_path, masked):
    mask = (np.arange(40) % 4 != 0).astype(np.uint8)
    write_shard(tmp_path / "s", [(np.arange(40), mask if masked else None)], vocab_size=100, masked=masked)
    sh = Shard(tmp_path / "s")
    toks, m = sh.windows(np.array([0, 31, 5]), 9)
    assert toks.dtype == np.int64 and toks.shape == (3, 9)
    np.testing.assert_array_equal(toks, np.array([0, 31, 5])[:, None] + np.arange(9))
    if masked:
        np.testing.assert_array_equal(m, mask[toks])
    else:
        assert m is None
    with pytest.raises(IndexError, match="outside the 40 tokens"):
        sh.windows(np.array([32]), 9)


def test_tokenize_to_shard_unmasked(tmp_path, tok):
    tokenize_to_shard(tok, ["hello world", "こんにちは"], tmp_path / "u", eos_id=0, masked=False)
    sh = Shard(tmp_path / "u")
    assert not sh.masked and sh.doc(0)[-1] == 0
    with pytest.raises(ShardError, match="document 1: masks"):
        tokenize_to_shard(tok, ["x", ("prompt", "answer")], tmp_path / "v", eos_id=0, masked=False)


def test_reads_without_positioned_reads_match(tmp_path, monkeypatch):
    # where the OS has no pread, windows() and verify() fall back to the memory map: same arrays, same checks
    import auroram.tokenize.shards as shards_mod

    rng = np.random.default_rng(1)
    write_shard(tmp_path / "s", _docs(rng, 40, 1000), vocab_size=1000)
    sh = Shard(tmp_path / "s")
    starts = rng.integers(0, sh.n_tokens - 20, 30)
    fast = sh.windows(starts, 20)
    monkeypatch.setattr(shards_mod, "_PREAD", False)
    slow = sh.windows(starts, 20)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    sh.verify()
    assert sh.max_token_id() == int(np.asarray(sh.tokens).max())
