"""The curate steps one by one: readers, word splitting, PII, toxicity lists, quality classifier, dedup."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from auroram.curate import curate, load_curate_config
from auroram.curate.config import PiiConfig
from auroram.curate.pii import luhn_ok, redact
from auroram.curate.quality import auc, features, train_with_heldout
from auroram.curate.text import split_words
from auroram.curate.toxicity import PhraseMatcher, parse_phrases

sys.path.insert(0, str(Path(__file__).parent))
from curate_data import EN_WORDS, edit_words, en_doc, read_out, write_jsonl  # noqa: E402

OFF = {k: {"enabled": False} for k in ("gopher_quality", "gopher_repetition", "c4", "fineweb", "toxicity", "cat")}


def only_dedup(**dedup) -> dict:
    return {"default": OFF, "languages": {"en": {}, "ja": {}}, "pii": {"enabled": False}, "dedup": dedup}


# ---- readers ----

def test_readers_parquet_arrow_zst_text_and_fields(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    zstd = pytest.importorskip("zstandard")
    rng = random.Random(1)
    docs = [en_doc(rng) for _ in range(8)]
    pq.write_table(pa.table({"body": docs[:2], "uid": ["p0", "p1"]}), tmp_path / "a.parquet")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "dataset_info.json").write_text("{}")
    table = pa.table({"body": docs[2:4], "uid": ["h0", "h1"]})
    with pa.ipc.new_stream(hf / "data-00000-of-00001.arrow", table.schema) as w:
        w.write_table(table)
    raw = "".join(json.dumps({"body": d, "uid": f"z{i}"}) + "\n" for i, d in enumerate(docs[4:6])).encode()
    (tmp_path / "c.jsonl.zst").write_bytes(zstd.ZstdCompressor().compress(raw))
    txt = tmp_path / "txt"
    txt.mkdir()
    (txt / "one.txt").write_text(docs[6])
    (txt / "two.md").write_text(docs[7])
    cfg = load_curate_config(data={**only_dedup(), "reader": {"text_field": "body", "id_field": "uid"}})
    stats = curate([tmp_path / "a.parquet", hf, tmp_path / "c.jsonl.zst", txt], tmp_path / "out", config=cfg)
    ids = {r["id"] for r in read_out(tmp_path / "out", "kept")}
    assert {"p0", "p1", "h0", "h1", "z0", "z1"} <= ids
    assert sum(1 for i in ids if i.endswith((".txt:1", ".md:1"))) == 2
    assert stats["totals"]["docs_kept"] == 8


def test_oversized_record_is_quarantined_not_loaded(tmp_path):
    write_jsonl(tmp_path / "big.jsonl", [{"id": "big", "text": "word " * 5000}, {"id": "small", "text": en_doc(random.Random(0))}])
    cfg = load_curate_config(data={**only_dedup(), "reader": {"max_doc_bytes": 10_000}})
    curate([tmp_path / "big.jsonl"], tmp_path / "out", config=cfg)
    rej = read_out(tmp_path / "out", "rejected")
    assert len(rej) == 1 and rej[0]["reason"] == "unreadable" and "max_doc_bytes" in rej[0]["detail"]
    assert len(rej[0]["text"]) <= 4096 and rej[0]["line"] == 1


# ---- word splitting ----

def test_word_splitting_japanese_and_hindi():
    ja = split_words("私は毎朝駅まで歩いて行きます。東京タワーへ", "ja")
    assert "私" in ja and "東京" in ja and "タワー" in ja and len(ja) >= 8
    hi = split_words("मॉडल नई भाषाएँ सीखता है।", "hi")
    assert hi == ["मॉडल", "नई", "भाषाएँ", "सीखता", "है"]  # vowel signs stay inside their words
    assert split_words("It's a well-known fact.", "en") == ["It's", "a", "well-known", "fact"]


def test_japanese_and_hindi_prose_pass_default_heuristics(tmp_path):
    rng = random.Random(3)
    hi_sent = ["मॉडल नई भाषाएँ सीखता है और पुरानी बातें याद रखता है।", "यह किताब बहुत रोचक है और बच्चों को पसंद है।",
               "गाँव में सुबह की हवा ठंडी और साफ़ होती है।", "शिक्षक ने छात्रों को नया पाठ ध्यान से पढ़ाया।",
               "हम सप्ताह के अंत में नदी के किनारे घूमने जाते हैं।", "बाज़ार में ताज़ी सब्ज़ियाँ और फल मिलते हैं।"]
    def doc(sents: list[str]) -> str:
        s = rng.sample(sents, len(sents))  # every sentence once: real prose does not repeat itself
        return "\n".join(" ".join(s[i: i + 3]) for i in range(0, len(s), 3))

    from curate_data import JA_SENTENCES

    hi = [doc(hi_sent) for _ in range(5)]
    ja = [doc(JA_SENTENCES).replace("。 ", "。") for _ in range(5)]
    write_jsonl(tmp_path / "x.jsonl", [{"id": f"hi{i}", "text": t} for i, t in enumerate(hi)]
                + [{"id": f"ja{i}", "text": t} for i, t in enumerate(ja)])
    cfg = load_curate_config(data={"dedup": {"near": False, "exact": False}})
    stats = curate([tmp_path / "x.jsonl"], tmp_path / "out", config=cfg)
    assert stats["by_language"]["hi"]["docs_kept"] == 5, stats["by_language"]["hi"]
    assert stats["by_language"]["ja"]["docs_kept"] == 5, stats["by_language"]["ja"]


# ---- PII ----

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumG\nAbCdEf==\n-----END RSA PRIVATE KEY-----"


def test_pii_planted_items_found_and_invalid_cards_left():
    text = ("Mail jane.doe@example.com, server 203.0.113.77 and 2001:db8:85a3::8a2e:370:7334, "
            "phone (415) 555-0132, card 4111 1111 1111 1111, not a card 4111 1111 1111 1112, "
            "version 1.2.3 and localhost 127.0.0.1.\npassword: hunter2hunter\n" + PEM)
    new, found = redact(text, PiiConfig())
    assert "jane.doe" not in new and "<EMAIL>" in new
    assert "203.0.113.77" not in new and "2001:db8" not in new and new.count("<IP_ADDRESS>") == 2
    assert "<PHONE>" in new and "555-0132" not in new
    assert "<CARD>" in new and "4111 1111 1111 1112" in new  # Luhn-invalid stays
    assert "1.2.3" in new and "127.0.0.1" in new
    assert "hunter2hunter" not in new and "<PRIVATE_KEY>" in new and "MIIEow" not in new
    assert found["card"] == 1 and found["ip"] == 2 and luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_pii_in_python_keeps_it_compiling():
    code = (
        'API = "AKIAIOSFODNN7EXAMPLE"\n'
        'GITHUB = "ghp_' + "a1B2" * 9 + '"\n'
        'password = "correct horse battery"\n'
        "KEY = '''" + PEM + "'''\n"
        "CARD_NUMBER_CONST = 4111111111111111  # owner: bob@example.com\n"
        "def connect(host='198.51.100.23'):\n    return host\n")
    compile(code, "x", "exec")
    new, found = redact(code, PiiConfig(), code=True)
    compile(new, "x", "exec")  # still valid Python
    for secret in ("AKIAIOSFODNN7EXAMPLE", "ghp_a1B2", "correct horse", "MIIEow", "bob@example.com", "198.51.100.23"):
        assert secret not in new, secret
    assert found["api_key"] == 2 and found["password"] == 1 and found["private_key"] == 1


# ---- toxicity ----

def test_toxicity_file_format_whole_words_and_threshold(tmp_path):
    assert parse_phrases("# comment\n\nBad Phrase\n  rude  \n") == ["bad phrase", "rude"]
    m = PhraseMatcher(["ass", "bad phrase"], spaceless=False)
    assert m.count("a class of grass") == 0 and m.count("What a BAD PHRASE, ass.") == 2
    assert PhraseMatcher(["くたばれ"], spaceless=True).count("もうくたばれと言った") == 1
    lst = tmp_path / "en.txt"
    lst.write_text("# my list\nriver\n")
    rng = random.Random(5)
    docs = [en_doc(rng) for _ in range(6)]
    write_jsonl(tmp_path / "d.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(docs)])
    cfg = load_curate_config(data={"languages": {"en": {"toxicity": {"phrase_file": str(lst), "min_matches": 2}}},
                                   "dedup": {"near": False}})
    stats = curate([tmp_path / "d.jsonl"], tmp_path / "out", config=cfg)
    want = sum(1 for t in docs if len([w for w in t.replace(".", " ").split() if w.lower() == "river"]) >= 2)
    got = stats["per_step"]["toxicity"]["en"]["dropped"].get("toxic_phrases", {}).get("docs", 0)
    assert got == want


# ---- quality classifier ----

def _bad_doc(rng: random.Random) -> str:
    junk = ["click", "here", "buy", "now", "cheap", "login", "free", "offer", "best", "price", "sale", "win"]
    return "\n".join(" ".join(rng.choice(junk) for _ in range(rng.randint(3, 9))) for _ in range(8))


def test_quality_classifier_heldout_auc_on_planted_sets():
    rng = random.Random(0)
    good = [en_doc(rng) for _ in range(80)]
    bad = [_bad_doc(rng) for _ in range(80)]
    pool = good[:20] + bad  # the raw pool is mostly, not only, bad
    model, rep = train_with_heldout(good[20:], pool, "en", heldout_fraction=0.25, bits=16, epochs=40, l2=1e-4)
    assert rep["auc_heldout"] > 0.9
    s_good = model.score([en_doc(rng) for _ in range(20)])
    s_bad = model.score([_bad_doc(rng) for _ in range(20)])
    assert auc(s_good, s_bad) > 0.95
    assert features("a b", "en", 8).max() < 256


def test_quality_step_drops_low_scores_and_reports_auc(tmp_path):
    rng = random.Random(2)
    write_jsonl(tmp_path / "good.jsonl", [{"text": en_doc(rng)} for _ in range(40)])
    pool = [{"id": f"b{i}", "text": _bad_doc(rng) + "\nThis is the end of the page and we say goodbye."}
            for i in range(30)]
    pool += [{"id": f"g{i}", "text": en_doc(rng)} for i in range(10)]  # after the 30-document training sample
    write_jsonl(tmp_path / "pool.jsonl", pool)
    write_jsonl(tmp_path / "bad.jsonl", [{"text": _bad_doc(rng)} for _ in range(20)])
    cfg = load_curate_config(data={
        "default": OFF, "languages": {"en": {"quality": {"enabled": True, "good_path": str(tmp_path / "good.jsonl"),
                                                         "planted_bad_path": str(tmp_path / "bad.jsonl"),
                                                         "threshold": 0.5, "hash_bits": 16,
                                                         "max_train_docs": 30}}},
        "langid": {"min_score": 0.0}, "dedup": {"near": False}})
    stats = curate([tmp_path / "pool.jsonl"], tmp_path / "out", config=cfg)
    q = stats["quality_models"]["en"]
    assert q["auc_planted"] > 0.95 and q["auc_heldout"] > 0.95
    kept = {r["id"] for r in read_out(tmp_path / "out", "kept")}
    assert sum(k.startswith("g") for k in kept) >= 8 and sum(k.startswith("b") for k in kept) <= 3
    assert all("quality_score" in r for r in read_out(tmp_path / "out", "kept"))


# ---- dedup ----

def test_near_dup_recall_and_no_false_merges(tmp_path):
    rng = random.Random(7)
    originals = [en_doc(rng, 10) for _ in range(30)]
    edited = [edit_words(t, rng.uniform(0.05, 0.10), rng) for t in originals]
    docs = [{"id": f"o{i}", "text": t} for i, t in enumerate(originals)]
    docs += [{"id": f"e{i}", "text": t} for i, t in enumerate(edited)]
    write_jsonl(tmp_path / "a.jsonl", docs[:30])
    write_jsonl(tmp_path / "b.jsonl", docs[30:])  # duplicates live in another file
    cfg = load_curate_config(data=only_dedup())
    curate([tmp_path], tmp_path / "out", config=cfg)
    rej = read_out(tmp_path / "out", "rejected")
    removed = {r["id"] for r in rej if r["reason"] == "near_duplicate"}
    assert len(removed & {f"e{i}" for i in range(30)}) >= 29  # recall >= 0.95
    assert not removed & {f"o{i}" for i in range(30)}  # the first copy is kept, no distinct doc merged
    assert all(r["detail"].startswith("of 0:") for r in rej if r["reason"] == "near_duplicate")


def test_japanese_near_duplicates_found(tmp_path):
    from curate_data import JA_SENTENCES, ja_doc

    rng = random.Random(11)
    a = ja_doc(rng, 16)
    b = a.replace(JA_SENTENCES[0], "私は毎朝学校まで走って行きます。", 1) if JA_SENTENCES[0] in a else a[:-10] + "新しい文です。"
    other = ja_doc(random.Random(99), 16)
    write_jsonl(tmp_path / "j.jsonl", [{"id": "a", "text": a}, {"id": "b", "text": b}, {"id": "c", "text": other}])
    curate([tmp_path / "j.jsonl"], tmp_path / "out", config=load_curate_config(data=only_dedup()))
    rej = {r["id"]: r["reason"] for r in read_out(tmp_path / "out", "rejected")}
    assert rej.get("b") in ("near_duplicate", "exact_duplicate") and "a" not in rej


def test_dedup_settings_are_configurable():
    cfg = load_curate_config(data={"dedup": {"n_grams": 5, "bands": 14, "rows_per_band": 8, "threshold": 0.8}})
    from auroram.curate.dedup import MinHasher

    h = MinHasher(cfg.dedup)
    sig = h.signature(h.shingles(" ".join(EN_WORDS[:40]), "en"))
    assert sig.shape == (112,) and h.band_keys(sig).shape == (14,)
    assert np.array_equal(sig, h.signature(h.shingles(" ".join(EN_WORDS[:40]).upper(), "en")))
