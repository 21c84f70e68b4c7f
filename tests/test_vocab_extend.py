"""Vocabulary extension: new tokens from new languages merged into a base's tokenizer without moving an old
id or changing how the base's languages tokenize; the new embedding rows; training only the embeddings."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_doc
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from auroram.cli import main
from auroram.config import ConfigError, ModelConfig, OptimConfig, ScheduleConfig, StageConfig, TrainConfig, load_recipe
from auroram.io import read_json, write_json
from auroram.model.build import build_model
from auroram.model.embeddings import FIRST_NEW_ROW, apply_extension, extend_embeddings
from auroram.tokenize.bpe import load_tokenizer, train_bpe
from auroram.tokenize.extend import (
    ExtendError,
    TextSource,
    TrainerSettings,
    base_of,
    extend_tokenizer,
    fertility,
    read_extension,
    share_quotas,
)

LANGS = ["en", "fi", "hi", "ja", "vi", "code"]
NEW = ["fi", "hi", "ja", "vi"]
OLD = ["en", "code"]


@pytest.fixture(scope="module")
def docs() -> dict[str, list[str]]:
    rng = random.Random(5)
    return {d: [make_doc(d, rng) for _ in range(60)] for d in LANGS}


def _save(tok: Tokenizer, path: Path, **specials: str) -> Path:
    PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **specials).save_pretrained(path)
    cfg = read_json(path / "tokenizer_config.json")
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    write_json(path / "tokenizer_config.json", cfg)
    return path


def llama_like(texts: list[str], vocab_size: int, path: Path) -> Path:
    """A BPE with byte fallback laid out as Llama's tokenizer.json: <unk> <s> </s>, the 256 byte tokens,
    then the learnt tokens; ▁ for spaces by the normalizer, no pre-tokenizer, <s> added in front."""
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", "merged_with_next")  # sentencepiece's word starts, for training
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials + byte_tokens,
                                                       show_progress=False))
    tj = json.loads(tok.to_str())
    tj["added_tokens"] = [a for a in tj["added_tokens"] if a["content"] in specials]
    tj["pre_tokenizer"] = None
    tok = Tokenizer.from_str(json.dumps(tj))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return _save(tok, path, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.fixture(scope="module")
def bases(docs, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bases")
    train_bpe(docs["en"] + docs["code"], 400, root / "byte-level")
    llama_like(docs["en"] + docs["code"], 500, root / "byte-fallback")
    return {"byte-level": root / "byte-level", "byte-fallback": root / "byte-fallback"}


def _extend(docs, base: Path, out: Path, add: int = 200, keep: bool = True, **kw) -> dict:
    return extend_tokenizer(base, [TextSource(d, docs[d]) for d in NEW], TrainerSettings(add=add, **kw), out,
                            keep=[TextSource(d, docs[d]) for d in OLD] if keep else None)


@pytest.fixture(scope="module")
def extended(docs, bases, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("extended")
    for kind, base in bases.items():
        _extend(docs, base, root / kind)
    return {k: root / k for k in bases}


KINDS = ["byte-level", "byte-fallback"]


@pytest.mark.parametrize("kind", KINDS)
def test_old_ids_and_merges_stay_new_ids_come_after(kind, bases, extended):
    old_tj = json.loads((bases[kind] / "tokenizer.json").read_text(encoding="utf-8"))
    new_tj = json.loads((extended[kind] / "tokenizer.json").read_text(encoding="utf-8"))
    old_vocab, new_vocab = old_tj["model"]["vocab"], new_tj["model"]["vocab"]
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    assert new_tj["model"]["merges"][: len(old_tj["model"]["merges"])] == old_tj["model"]["merges"]
    assert new_tj["added_tokens"] == old_tj["added_tokens"]
    rec = read_extension(extended[kind])
    top = max([*old_vocab.values(), *(a["id"] for a in old_tj["added_tokens"])])
    assert rec["first_new_id"] == top + 1 and rec["added"] == 200 and rec["base"]["kind"] == kind
    assert sorted(i for t, i in new_vocab.items() if t not in old_vocab) == list(range(top + 1, top + 201))
    # the record says what the tokens were learnt from and with what
    assert [u["name"] for u in rec["learnt_from"]] == NEW and all(u["bytes"] > 0 for u in rec["learnt_from"])
    assert rec["trainer"]["min_frequency"] == 2 and rec["base"]["tokenizer_hash"]


@pytest.mark.parametrize("kind", KINDS)
def test_old_text_keeps_its_ids_every_text_round_trips_new_languages_get_shorter(kind, docs, bases, extended):
    old = AutoTokenizer.from_pretrained(str(bases[kind]))
    new = AutoTokenizer.from_pretrained(str(extended[kind]))  # loads as transformers loads any tokenizer
    assert len(new) == len(old) + 200
    for d in OLD:
        assert [new.encode(x) for x in docs[d]] == [old.encode(x) for x in docs[d]], d
    for d in LANGS:
        for x in docs[d]:
            assert new.decode(new.encode(x), skip_special_tokens=True) == x, d
    before, after = fertility(old, docs), fertility(new, docs)
    for d in ("hi", "ja"):
        assert after[d]["tokens_per_byte"] < 0.6 * before[d]["tokens_per_byte"], d
    assert after["ja"]["tokens_per_word"] is None and after["hi"]["tokens_per_word"] > 0
    assert after["en"] == before["en"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_new_token_is_built_by_the_merge_chain(kind, extended):
    tok = Tokenizer.from_file(str(extended[kind] / "tokenizer.json"))
    first = read_extension(extended[kind])["first_new_id"]
    for i in range(first, tok.get_vocab_size()):
        token = tok.id_to_token(i)
        assert [t.id for t in tok.model.tokenize(token)] == [i], token


def test_keep_texts_hold_the_base_languages_still(docs, bases, tmp_path):
    """English that quotes Finnish words: without keep texts a new Finnish token fires in it and its ids
    change; with it as a keep text those tokens are dropped (and others taken instead) and no id changes."""
    quoting = [x + " In Finnish, languages are kieliä and the model is malli." for x in docs["en"][:20]]
    base = bases["byte-fallback"]
    old = load_tokenizer(base)
    _extend(docs, base, tmp_path / "free", keep=False)
    free = load_tokenizer(tmp_path / "free")
    assert any(free.encode(x) != old.encode(x) for x in quoting)
    rec = extend_tokenizer(base, [TextSource(d, docs[d]) for d in NEW], TrainerSettings(add=200), tmp_path / "kept",
                           keep=[TextSource("quoting", quoting)])
    kept = load_tokenizer(tmp_path / "kept")
    assert [kept.encode(x) for x in quoting] == [old.encode(x) for x in quoting]
    assert rec["dropped_for_keep"] > 0 and rec["added"] == 200
    assert fertility(kept, {"fi": docs["fi"]})["fi"]["tokens_per_byte"] < \
        fertility(old, {"fi": docs["fi"]})["fi"]["tokens_per_byte"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_few_katakana_in_a_keep_text_no_longer_ban_japanese_tokens(kind, docs, bases, tmp_path):
    """One English document quoting a katakana word (モデル, "model"): the strict check (0) drops every new
    token that fires on it; by default Katakana is foreign to the keep texts (far under 0.1% of their
    characters), its run there may change and Japanese keeps those tokens. English keeps its ids either way."""
    from auroram.tokenize.extend import script_runs

    quoting = docs["en"] + ["The word for a model is モデル in Japanese, spelt in katakana."]
    base, old = bases[kind], load_tokenizer(bases[kind])
    ja = [TextSource("ja", docs["ja"])]
    recs, toks = {}, {}
    for below in (0, 0.001):
        out = tmp_path / str(below)
        recs[below] = extend_tokenizer(base, ja, TrainerSettings(add=60, keep_foreign_below=below), out,
                                       keep=[TextSource("en", quoting)])
        toks[below] = load_tokenizer(out)
    strict, default = recs[0], recs[0.001]
    assert strict["keep_foreign"] == {"below": 0, "scripts": {}}
    assert strict["dropped_for_keep"] > 0 and default["dropped_for_keep"] == 0
    katakana = default["keep_foreign"]["scripts"]["Katakana"]
    assert katakana["characters"] == 3 and katakana["documents"] == 1 and katakana["share"] < 0.001
    assert katakana["exempted_characters"] == 4  # モデル and the space after it (Common joins the run it ends)
    assert list(default["keep_foreign"]["scripts"]) == ["Katakana"]  # Latin is the keep texts' own: guarded
    # the strict tokenizer has no token for モデル's bytes; the default one does, and Japanese is shorter with it
    word = "モデル"
    assert len(toks[0].encode(word)) == len(old.encode(word)) > len(toks[0.001].encode(word))
    per_byte = {b: fertility(t, {"ja": docs["ja"]})["ja"]["tokens_per_byte"] for b, t in toks.items()}
    assert per_byte[0.001] < per_byte[0]
    for tok in toks.values():  # every English document as before; in the quoting one, all but the katakana word
        assert [tok.encode(x) for x in docs["en"]] == [old.encode(x) for x in docs["en"]]
    text = quoting[-1]
    (a, b, sc), = [r for r in script_runs(text) if r[2] == "Katakana"]
    assert text[a:b] == "モデル " and sc == "Katakana"
    assert toks[0].encode(text) == old.encode(text)
    head = old.encode(text[:a], add_special_tokens=False)
    assert toks[0.001].encode(text, add_special_tokens=False)[: len(head)] == head


def test_script_runs_join_common_characters_to_the_run_around_them():
    from auroram.tokenize.extend import foreign_scripts, script_runs

    text = "「ライト」 is light, 光 (ひかり). 42"
    runs = [(text[a:b], sc) for a, b, sc in script_runs(text)]
    assert runs == [("「ライト」 ", "Katakana"), ("is light, ", "Latin"), ("光 (", "Han"), ("ひかり). 42", "Hiragana")]
    assert set(foreign_scripts([text], 0.2)) == {"Han", "Hiragana", "Katakana"} and foreign_scripts([text], 0) == {}


@pytest.mark.parametrize("below", [-0.1, 1, 1.5, float("nan")])
def test_bad_keep_foreign_below_is_a_one_line_error_naming_the_key(below, docs, bases, tmp_path, tiny_corpus):
    with pytest.raises(ExtendError, match="keep_foreign_below"):
        extend_tokenizer(bases["byte-level"], [TextSource("ja", docs["ja"])],
                         TrainerSettings(add=10, keep_foreign_below=below), tmp_path / "out")
    with pytest.raises(ConfigError, match="tokenizer.keep_foreign_below"):
        load_recipe("micro", [f"demo_dir={tiny_corpus}", f"model.base={bases['byte-level']}", "tokenizer.kind=extend",
                              "tokenizer.add=10", "tokenizer.train_sources=[ja]",
                              f"tokenizer.keep_foreign_below={below}"])


def test_new_ids_come_after_added_tokens_beyond_the_vocab(docs, bases, tmp_path):
    hf = load_tokenizer(bases["byte-level"])
    hf.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    hf.save_pretrained(tmp_path / "base")
    top = hf.convert_tokens_to_ids("<|im_end|>")
    rec = _extend(docs, tmp_path / "base", tmp_path / "ext", add=20)
    new = load_tokenizer(tmp_path / "ext")
    assert rec["first_new_id"] == top + 1 and len(new) == top + 21
    assert new.convert_tokens_to_ids("<|im_end|>") == top


def test_old_merges_written_as_strings_and_asking_for_more_than_the_text_holds(docs, bases, tmp_path):
    """Older tokenizer.json files write merges as "a b" strings: the new ones are appended the same way.
    Asking for more tokens than the text teaches gives what it teaches; no text at all is an error."""
    tj = json.loads((bases["byte-fallback"] / "tokenizer.json").read_text(encoding="utf-8"))
    tj["model"]["merges"] = [" ".join(m) for m in tj["model"]["merges"]]
    base = tmp_path / "base"
    base.mkdir()
    (base / "tokenizer.json").write_text(json.dumps(tj), encoding="utf-8")
    for f in ("tokenizer_config.json",):
        (base / f).write_bytes((bases["byte-fallback"] / f).read_bytes())
    rec = extend_tokenizer(base, [TextSource("hi", docs["hi"][:10])], TrainerSettings(add=5000), tmp_path / "ext")
    assert 0 < rec["added"] < 5000 and rec["requested"] == 5000
    new_tj = json.loads((tmp_path / "ext" / "tokenizer.json").read_text(encoding="utf-8"))
    assert all(isinstance(m, str) for m in new_tj["model"]["merges"])
    new = load_tokenizer(tmp_path / "ext")
    assert all(new.decode(new.encode(x), skip_special_tokens=True) == x for x in docs["hi"])
    with pytest.raises(ExtendError, match="no text to learn new tokens from"):
        extend_tokenizer(base, [TextSource("empty", [])], TrainerSettings(add=5), tmp_path / "none")
    assert not (tmp_path / "none").exists()


def _other_kind(kind: str, texts: list[str], path: Path) -> Path:
    if kind == "WordPiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]"], show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=100, special_tokens=["<unk>"], unk_token="<unk>",
                                          show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return _save(tok, path, unk_token=trainer.special_tokens[0].content)


@pytest.mark.parametrize("kind", ["WordPiece", "Unigram"])
def test_other_tokenizer_kinds_are_a_one_line_error_naming_the_kind(kind, docs, tmp_path):
    base = _other_kind(kind, docs["en"], tmp_path / "base")
    with pytest.raises(ExtendError) as e:
        _extend(docs, base, tmp_path / "out", add=10)
    msg = str(e.value)
    assert "\n" not in msg and f"a {kind} tokenizer cannot be extended" in msg and str(base) in msg
    assert not (tmp_path / "out").exists()


def _write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


def test_cli_extend_writes_a_loadable_tokenizer_and_never_overwrites_a_users_directory(docs, bases, tmp_path, capsys):
    files = {d: _write_jsonl(tmp_path / f"{d}.jsonl", docs[d]) for d in LANGS}
    out = tmp_path / "ext"
    args = ["vocab", "extend", str(bases["byte-level"]), "--from", str(files["hi"]), str(files["ja"]),
            "--keep", str(files["en"]), str(files["code"]), "--add", "40", "--out", str(out)]
    assert main(args) == 0
    assert "+ 40 tokens" in capsys.readouterr().out
    rec = read_extension(out)
    assert [u["name"] for u in rec["learnt_from"]] == ["hi", "ja"]
    assert rec["learnt_bytes"] == sum(len(x.encode()) for d in ("hi", "ja") for x in docs[d])
    assert len(AutoTokenizer.from_pretrained(str(out))) == 440
    assert main(args[:-4] + ["--add", "50", "--out", str(out)]) == 0  # its own earlier output: replaced
    assert read_extension(out)["added"] == 50

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(args[:-1] + [str(mine)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert main(args[:-1] + [str(mine), "--force"]) == 0
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me" and (mine / "tokenizer.json").is_file()


def test_cli_reads_recipe_sources_and_fertility(docs, bases, tmp_path, tiny_corpus, capsys):
    out = tmp_path / "ext"
    assert main(["vocab", "extend", str(bases["byte-level"]), "--recipe", "micro", "--set",
                 f"demo_dir={tiny_corpus}", "--from", "hi", "ja", "--keep", "en", "--add", "30", "--out",
                 str(out)]) == 0
    rec = read_extension(out)
    assert [(u["name"], u["documents"]) for u in rec["learnt_from"]] == [("hi", 120), ("ja", 120)]
    capsys.readouterr()
    assert main(["vocab", "fertility", str(bases["byte-level"]), str(out), "--recipe", "micro", "--set",
                 f"demo_dir={tiny_corpus}", "--texts", "en", "ja", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    old, new = res[str(bases["byte-level"])], res[str(out)]
    assert new["ja"]["tokens_per_byte"] < old["ja"]["tokens_per_byte"]
    assert new["en"] == old["en"] and new["ja"]["tokens_per_word"] is None

# ---- per-source shares of the new tokens ----

SHARES = {"fi": 0.1, "hi": 0.2, "ja": 0.5, "vi": 0.2}


@pytest.mark.parametrize("kind", KINDS)
def test_shares_give_each_source_its_quota_learnt_from_its_own_text(kind, docs, bases, tmp_path):
    """With shares each source fills its own part of `add` from its own text, in the order named, under the
    same guarantees as pooled learning: old ids and keep texts unchanged, every new token built by the chain."""
    rec = _extend(docs, bases[kind], tmp_path / "ext", add=100, shares=SHARES)
    assert [(u["name"], u["quota"], u["share"]) for u in rec["learnt_from"]] == \
        [("fi", 10, 0.1), ("hi", 20, 0.2), ("ja", 50, 0.5), ("vi", 20, 0.2)]
    assert [u["added"] for u in rec["learnt_from"]] == [10, 20, 50, 20] and rec["added"] == 100
    assert rec["trainer"]["shares"] == SHARES
    tok = Tokenizer.from_file(str(tmp_path / "ext" / "tokenizer.json"))
    old = Tokenizer.from_file(str(bases[kind] / "tokenizer.json"))
    first = rec["first_new_id"]
    for d in OLD:
        assert [e.ids for e in tok.encode_batch(docs[d])] == [e.ids for e in old.encode_batch(docs[d])], d
    start = first
    for u in rec["learnt_from"]:  # a source's tokens come together, in the order the sources were named
        own = "\n".join(docs[u["name"]]).encode("utf-8")
        for i in range(start, start + u["added"]):
            token = tok.id_to_token(i)
            assert [t.id for t in tok.model.tokenize(token)] == [i], token
            text = tok.decode([i]) if kind == "byte-level" else token.replace("▁", " ")
            if "\ufffd" not in text:  # a whole character or more: it is in this source's own text
                assert text.lstrip().encode("utf-8") in own, (u["name"], text)
        start += u["added"]
    # Japanese gets half the tokens: more than pooled learning gives it, so it gets shorter still
    pooled = load_tokenizer(_extend_dir(docs, bases[kind], tmp_path / "pooled", add=100))
    shared = load_tokenizer(tmp_path / "ext")
    ja = {"ja": docs["ja"]}
    assert fertility(shared, ja)["ja"]["tokens_per_byte"] < fertility(pooled, ja)["ja"]["tokens_per_byte"]


def _extend_dir(docs, base: Path, out: Path, **kw) -> Path:
    _extend(docs, base, out, **kw)
    return out


def test_one_source_with_all_of_add_is_pooled_learning_bit_for_bit(docs, bases, tmp_path):
    src = [TextSource("hi", docs["hi"])]
    a = extend_tokenizer(bases["byte-level"], src, TrainerSettings(add=60), tmp_path / "a")
    src = [TextSource("hi", docs["hi"])]
    b = extend_tokenizer(bases["byte-level"], src, TrainerSettings(add=60, shares={"hi": 1.0}), tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert "shares" not in a["trainer"] and "quota" not in a["learnt_from"][0]
    assert b["learnt_from"][0]["quota"] == b["learnt_from"][0]["added"] == 60


def test_quotas_round_to_add_exactly():
    assert share_quotas({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, ["a", "b", "c"], 100) == [34, 33, 33]
    assert share_quotas({"a": 0.25, "b": 0.75}, ["a", "b"], 2048) == [512, 1536]
    rng = random.Random(0)
    for _ in range(200):
        w = [rng.random() + 1e-3 for _ in range(rng.randint(1, 6))]
        names = [str(i) for i in range(len(w))]
        shares = {n: x / sum(w) for n, x in zip(names, w)}
        add = rng.randint(1, 5000)
        q = share_quotas(shares, names, add)
        assert sum(q) == add and all(abs(k - shares[n] * add) < 1 for k, n in zip(q, names))


@pytest.mark.parametrize("shares, message", [
    ({"fi": 0.5, "hi": 0.5, "ja": 0.0, "vi": 0.0}, "the share of 'ja' must be a positive fraction"),
    ({"fi": 0.5, "hi": 0.3, "ja": 0.3, "vi": -0.1}, "the share of 'vi' must be a positive fraction"),
    ({"fi": 0.25, "hi": 0.25, "ja": 0.25, "vi": 0.2}, "the shares must sum to 1, got 0.95"),
    ({"fi": 0.25, "hi": 0.25, "ja": 0.25, "en": 0.25}, "'en' is not a source the tokens are learnt from"),
    ({"fi": 0.5, "hi": 0.5}, "no share for 'ja', 'vi'"),
])
def test_bad_shares_are_one_line_errors_naming_the_key(shares, message, docs, bases, tmp_path, tiny_corpus):
    with pytest.raises(ExtendError, match=f"shares: {message}") as e:
        _extend(docs, bases["byte-level"], tmp_path / "out", add=10, shares=shares)
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()
    flat = "{" + ", ".join(f"{k}: {v}" for k, v in shares.items()) + "}"
    with pytest.raises(ConfigError, match=f"'tokenizer.shares': {message}"):
        load_recipe("micro", ["model.base=/x", "tokenizer.kind=extend", "tokenizer.add=10",
                              "tokenizer.train_sources=[fi,hi,ja,vi]", f"tokenizer.shares={flat}"])


def test_cli_share(docs, bases, tmp_path, capsys):
    files = {d: _write_jsonl(tmp_path / f"{d}.jsonl", docs[d]) for d in LANGS}
    out = tmp_path / "ext"
    args = ["vocab", "extend", str(bases["byte-level"]), "--from", str(files["hi"]), str(files["ja"]),
            "--keep", str(files["en"]), "--add", "40", "--out", str(out), "--share"]
    assert main(args + ["hi=0.25", "ja=0.75"]) == 0
    assert "ja: 30 of its 30 (0.75 of 40)" in capsys.readouterr().out
    assert [(u["name"], u["quota"]) for u in read_extension(out)["learnt_from"]] == [("hi", 10), ("ja", 30)]
    for bad, message in ((["hi=0.25", "ja"], "--share ja: expected SOURCE=FRACTION"),
                         (["hi=0.25", "ja=x"], "--share ja=x: expected SOURCE=FRACTION"),
                         (["hi=0.5", "hi=0.5"], "'hi' is given twice"),
                         (["hi=0.5", "vi=0.5"], "--share: 'vi' is not a source the tokens are learnt from"),
                         (["hi=0.5", "ja=0.6"], "--share: the shares must sum to 1")):
        assert main(args + bad) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert read_extension(out)["learnt_from"][1]["quota"] == 30  # the earlier output is untouched


def test_cli_keep_foreign_below(docs, bases, tmp_path, capsys):
    """--keep-foreign-below reaches the record, the spared script is printed, a bad value is one line naming it."""
    files = {d: _write_jsonl(tmp_path / f"{d}.jsonl", docs[d]) for d in ("ja", "en")}
    quoting = _write_jsonl(tmp_path / "quoting.jsonl", docs["en"] + ["A model is モデル in Japanese."])
    out = tmp_path / "ext"
    args = ["vocab", "extend", str(bases["byte-level"]), "--from", str(files["ja"]), "--keep", str(quoting),
            "--add", "30", "--out", str(out)]
    assert main(args + ["--keep-foreign-below", "0.01"]) == 0
    assert "Katakana: " in capsys.readouterr().out
    assert read_extension(out)["keep_foreign"]["below"] == 0.01
    assert list(read_extension(out)["keep_foreign"]["scripts"]) == ["Katakana"]
    assert main(args + ["--keep-foreign-below", "1"]) == 2
    err = capsys.readouterr().err
    assert "keep_foreign_below must be a fraction within [0, 1)" in err and len(err.strip().splitlines()) == 1, err


# ---- embeddings ----


def _tiny(arch: str, vocab: int, eos: int, seed: int = 0):
    return build_model(ModelConfig(arch=arch, n_embd=32, n_layer=2, n_head=4, n_positions=64), vocab_size=vocab,
                       eos_id=eos, seed=seed)


@pytest.mark.parametrize("arch, kind", [("gpt_bigcode", "byte-level"), ("llama", "byte-fallback")])
def test_new_rows_are_the_mean_of_their_pieces_and_old_rows_stay(arch, kind, bases, extended):
    old_tok, new_tok = load_tokenizer(bases[kind]), load_tokenizer(extended[kind])
    model = _tiny(arch, len(old_tok), old_tok.eos_token_id)
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    tied = arch == "gpt_bigcode"
    done = extend_embeddings(model, old_tok, new_tok)
    inp, out = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert inp.shape[0] == len(new_tok) == done["rows"] and model.config.vocab_size == len(new_tok)
    assert (out is inp) == tied and done["tied"] == tied
    assert torch.equal(inp[: len(old_tok)], before_in) and torch.equal(out[: len(old_tok)], before_out)
    # one by hand: a new word-like token, its text encoded by the old tokenizer, the mean of those rows
    first = len(old_tok)
    if kind == "byte-level":
        i = next(i for i in range(first, len(new_tok)) if len(new_tok.decode([i]).strip()) >= 2)
        text = new_tok.decode([i])
    else:  # a word start: the old tokenizer puts the ▁ in front of the text back itself
        i = next(i for i in range(first, len(new_tok)) if new_tok.convert_ids_to_tokens(i).startswith("▁")
                 and len(new_tok.convert_ids_to_tokens(i)) >= 3)
        text = new_tok.convert_ids_to_tokens(i)[1:]
    pieces = old_tok(text, add_special_tokens=False)["input_ids"]
    assert len(pieces) > 1
    assert torch.allclose(inp[i], before_in[pieces].mean(0), atol=1e-6)
    assert torch.allclose(out[i], before_out[pieces].mean(0), atol=1e-6)
    out_logits = model(input_ids=torch.tensor([[1, i]])).logits
    assert out_logits.shape[-1] == len(new_tok)


def test_random_and_mean_inits_and_apply_extension(bases, extended):
    old_tok, new_tok = load_tokenizer(bases["byte-level"]), load_tokenizer(extended["byte-level"])
    first = len(old_tok)
    m = _tiny("llama", first, old_tok.eos_token_id)
    old_rows = m.get_input_embeddings().weight.detach().clone()
    extend_embeddings(m, old_tok, new_tok, "mean")
    assert torch.allclose(m.get_input_embeddings().weight[first:], old_rows.mean(0).expand(200, -1))
    rand = [_tiny("llama", first, old_tok.eos_token_id) for _ in range(2)]
    for r in rand:
        extend_embeddings(r, old_tok, new_tok, "random", seed=3)
    new_rows = rand[0].get_input_embeddings().weight[first:].detach()
    assert torch.equal(new_rows, rand[1].get_input_embeddings().weight[first:])  # seeded
    assert float(new_rows.std()) == pytest.approx(float(old_rows.std()), rel=0.2)
    with pytest.raises(ValueError, match="embedding init 'nope' is unknown"):
        extend_embeddings(_tiny("llama", first, 0), old_tok, new_tok, "nope")
    # from the tokenizer directory alone: the base rebuilt from extension.json gives the same rows
    assert base_of(extended["byte-level"]).get_vocab(with_added_tokens=True) == old_tok.backend_tokenizer.get_vocab(
        with_added_tokens=True)
    a, b = _tiny("gpt_bigcode", first, 0), _tiny("gpt_bigcode", first, 0)
    extend_embeddings(a, old_tok, new_tok)
    assert apply_extension(b, extended["byte-level"])["new_rows"] == 200
    assert torch.equal(a.get_input_embeddings().weight, b.get_input_embeddings().weight)



def test_scaled_mean_init_is_a_multiple_of_the_mean_row_recorded_with_the_tokenizer(docs, bases, tmp_path):
    """scaled_mean starts every new row at `scale` times the mean old row; the scale travels in extension.json
    so every stage (and `vocab resize`) gives the same rows; old rows stay bit-identical."""
    old_tok = load_tokenizer(bases["byte-level"])
    first = len(old_tok)
    rec = _extend(docs, bases["byte-level"], tmp_path / "ext", add=50, init="scaled_mean", init_scale=2.5)
    assert rec["init"] == {"method": "scaled_mean", "seed": 0, "scale": 2.5}
    m = _tiny("gpt_bigcode", first, old_tok.eos_token_id)
    old_rows = m.get_input_embeddings().weight.detach().clone()
    done = apply_extension(m, tmp_path / "ext")
    assert done["method"] == "scaled_mean" and done["scale"] == 2.5
    w = m.get_input_embeddings().weight.detach()
    assert torch.equal(w[:first], old_rows)
    assert torch.allclose(w[first:], 2.5 * old_rows.mean(0).expand(50, -1))
    assert apply_extension(_tiny("gpt_bigcode", first, 0), tmp_path / "ext", scale=1.0)["scale"] == 1.0
    assert "scale" not in _extend(docs, bases["byte-level"], tmp_path / "plain", add=20)["init"]
    with pytest.raises(ValueError, match="init scale must be a positive number"):
        apply_extension(_tiny("gpt_bigcode", first, 0), tmp_path / "ext", scale=0.0)
    with pytest.raises(ExtendError, match="init_scale must be a positive number"):
        _extend(docs, bases["byte-level"], tmp_path / "bad", add=20, init="scaled_mean", init_scale=-1.0)
    with pytest.raises(ConfigError, match="'tokenizer.init_scale': must be a positive number"):
        load_recipe("micro", ["model.base=/x", "tokenizer.kind=extend", "tokenizer.add=10",
                              "tokenizer.train_sources=[hi]", "tokenizer.init=scaled_mean", "tokenizer.init_scale=0"])
    r = load_recipe("micro", ["model.base=/x", "tokenizer.kind=extend", "tokenizer.add=10",
                              "tokenizer.train_sources=[hi]", "tokenizer.init=scaled_mean"])
    assert r.tokenizer.init_scale == 3.0


# ---- trainable ----


def _train(tmp_path, trainable: str, first_new: int | None = None, arch: str = "gpt_bigcode"):
    from auroram.mix.mixture import Mixture
    from auroram.tokenize.shards import Shard, write_shard
    from auroram.train.loop import train_stage

    vocab = 97
    rng = np.random.default_rng(0)
    docs = [(np.append(rng.integers(1, vocab, 40), 0).astype(np.int64), np.ones(41, dtype=np.uint8))
            for _ in range(40)]
    write_shard(tmp_path / "s.bin", docs, vocab_size=vocab)
    mix = Mixture({"s": Shard(tmp_path / "s.bin")}, {"s": 1.0}, seq_len=16, global_batch_seqs=8, seed=3)
    model = _tiny(arch, vocab, 0, seed=1)
    if first_new is not None:
        setattr(model.get_input_embeddings(), FIRST_NEW_ROW, first_new)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stage = StageConfig(name="s", tokens=3 * 128, optim=OptimConfig(lr=1e-2), trainable=trainable,
                        schedule=ScheduleConfig(kind="constant"))
    train = TrainConfig(seq_len=16, global_batch_tokens=128, micro_batch_seqs=4)
    train_stage(model=model, mixture=mix, stage=stage, stage_index=0, train=train, total_steps=3,
                out_dir=tmp_path / "out")
    return model, before


def test_trainable_embeddings_freezes_every_block(tmp_path):
    model, before = _train(tmp_path, "embeddings")
    emb = "transformer.wte.weight"
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert emb in changed and changed <= {emb, "lm_head.weight"}  # tied: one tensor under two names
    assert all(not p.requires_grad for n, p in model.named_parameters() if "wte" not in n)


@pytest.mark.parametrize("arch", ["gpt_bigcode", "llama"])
def test_trainable_new_embeddings_keeps_old_rows_exactly(tmp_path, arch):
    model, before = _train(tmp_path, "new_embeddings", first_new=60, arch=arch)
    state = model.state_dict()
    for name in ("embed_tokens", "wte", "lm_head"):
        for k in [k for k in state if name in k]:
            assert torch.equal(state[k][:60], before[k][:60]), k
            assert not torch.equal(state[k][60:], before[k][60:]), k
    others = [k for k in state if not any(n in k for n in ("embed_tokens", "wte", "lm_head"))]
    assert others and all(torch.equal(state[k], before[k]) for k in others)


def test_new_embeddings_without_new_rows_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="needs an extended vocabulary"):
        _train(tmp_path, "new_embeddings")


def test_recipe_checks_extend_settings(tiny_corpus):
    with pytest.raises(ConfigError, match="'tokenizer.kind': 'extend' adds tokens to a base's tokenizer"):
        load_recipe("micro", ["tokenizer.kind=extend", "tokenizer.add=10", "tokenizer.train_sources=[hi]"])
    with pytest.raises(ConfigError, match=r"stages\[1\].trainable"):
        load_recipe("micro", ["stages.cap.trainable=new_embeddings"])
    with pytest.raises(ConfigError, match="tokenizer.keep"):
        load_recipe("micro", ["model.base=/x", "tokenizer.kind=extend", "tokenizer.add=10",
                              "tokenizer.train_sources=[hi]", "tokenizer.keep=[nope]"])


def test_keep_foreign_below_is_in_the_extend_key_and_not_in_a_train_bpe_key(bases, tiny_corpus, tmp_path):
    """It changes which tokens an extension keeps, so an extension made with another value is made again; a
    recipe that trains its own BPE keeps its key (the setting is never read there)."""
    from types import SimpleNamespace

    from auroram.pipeline.context import RunContext
    from auroram.pipeline.resolve import resolve
    from auroram.pipeline.steps.tokenizer import TokenizerStep

    def key(*sets: str) -> str:
        spec = load_recipe("micro", [f"demo_dir={tiny_corpus}", *sets])
        ctx = SimpleNamespace(spec=spec, recipe=resolve(spec, tmp_path), run_dir=tmp_path)
        ctx.source_identity = lambda name: RunContext.source_identity(ctx, name)
        return TokenizerStep().key(ctx)

    ext = [f"model.base={bases['byte-level']}", "tokenizer.kind=extend", "tokenizer.add=10",
           "tokenizer.train_sources=[ja]", "tokenizer.keep=[en]"]
    assert key(*ext) == key(*ext, "tokenizer.keep_foreign_below=0.001") != key(*ext, "tokenizer.keep_foreign_below=0")
    assert key() == key("tokenizer.keep_foreign_below=0")


# ---- the recipe path and `vocab resize` ----


def _base_model(bases, path: Path) -> Path:
    tok = load_tokenizer(bases["byte-level"])
    model = build_model(ModelConfig(n_embd=32, n_layer=1, n_head=2, n_positions=64), vocab_size=len(tok),
                        eos_id=tok.eos_token_id, seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _weights(d: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(d.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def test_cli_resize_gives_a_base_the_rows_of_its_extended_tokenizer(docs, bases, extended, tmp_path, capsys):
    base = _base_model(bases, tmp_path / "base")
    assert main(["vocab", "resize", str(base), "--tokenizer", str(extended["byte-level"]), "--out",
                 str(tmp_path / "out")]) == 0
    assert "400 -> 600 embedding rows, 200 new (mean_of_pieces, tied head)" in capsys.readouterr().out
    from auroram.model.build import load_base

    model, tok = load_base(tmp_path / "out")
    assert len(tok) == 600 and model.get_input_embeddings().weight.shape[0] == 600
    before, after = _weights(base), _weights(tmp_path / "out")
    emb = "transformer.wte.weight"
    assert torch.equal(after[emb][:400], before[emb]) and all(torch.equal(after[k], v) for k, v in before.items()
                                                               if k != emb)
    # a tokenizer extended from another base is refused
    assert main(["vocab", "resize", str(base), "--tokenizer", str(extended["byte-fallback"]), "--out",
                 str(tmp_path / "out2")]) == 2
    assert "is not the one" in capsys.readouterr().err


def test_recipe_extends_the_base_tokenizer_and_trains_only_new_rows(docs, bases, tiny_corpus, tmp_path, capsys):
    """`auroram run --base DIR` with tokenizer.kind extend: the extended tokenizer is made in the run, its
    record is in the step record, the base is scored with its new rows (eval-base), and a stage with trainable
    new_embeddings changes nothing of the base but the new rows."""
    base = _base_model(bases, tmp_path / "base")
    run = tmp_path / "run"
    args = ["run", "micro", "--base", str(base), "--quiet", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}",
            "--set", "tokenizer.kind=extend", "--set", "tokenizer.add=60", "--set", "tokenizer.train_sources=[hi,ja]",
            "--set", "tokenizer.keep=[en,code]", "--set", "stages.cap.trainable=new_embeddings",
            "--set", "stages.cap.tokens=2048", "--until", "cap"]
    assert main(args) == 0, capsys.readouterr().err
    rec = read_json(run / "tokenizer" / "step.json")
    ext = rec["extension"]
    assert rec["vocab_size"] == 460 and ext["added"] == 60 and ext["first_new_id"] == 400
    assert [u["name"] for u in ext["learnt_from"]] == ["hi", "ja"] and ext["base"]["kind"] == "byte-level"
    assert len(load_tokenizer(run / "stages" / "cap" / "hf")) == 460
    before, after = _weights(base), _weights(run / "stages" / "cap" / "hf")
    emb = "transformer.wte.weight"
    assert after[emb].shape[0] == 460 and torch.equal(after[emb][:400], before[emb])
    assert all(torch.equal(after[k], v) for k, v in before.items() if k != emb)
    init = _tiny_from(base)
    apply_extension(init, run / "tokenizer" / "hf")
    assert not torch.equal(after[emb][400:], init.get_input_embeddings().weight[400:].detach())  # they trained
    # the same command again: the extended tokenizer is complete and current, so it is not made again
    mtime = (run / "tokenizer" / "hf" / "tokenizer.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (run / "tokenizer" / "hf" / "tokenizer.json").stat().st_mtime_ns == mtime


def _tiny_from(base: Path):
    from auroram.model.build import load_base

    return load_base(base)[0]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fsdp2", "ddp"])
def test_new_embeddings_on_two_processes_keeps_old_rows_exactly(mode, tmp_path):
    """FSDP2 shards the embedding by rows (the gradient mask is sharded alike); DDP was wrapped before the
    freeze, so frozen gradients are dropped after backward instead."""
    import os
    import subprocess
    import sys

    worker = Path(__file__).parent / "vocab_dist_worker.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(29600 + os.getpid() % 300), str(worker), str(tmp_path), mode, "llama"]
    p = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "OK" in p.stdout.splitlines(), p.stdout[-2000:]
