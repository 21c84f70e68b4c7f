"""Instruction data: readers per format, quarantine with exact counts, rendering and loss masks, the demo set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from auroram.config import SourceConfig
from auroram.data.demo_instruct import build_demo_instructions
from auroram.data.instruct import Conversation, Quarantine
from auroram.data import virtual
from auroram.data.sources import SourceError, iter_source
from auroram.tokenize.bpe import train_bpe
from auroram.tokenize.render import SIMPLE_FORMAT, Renderer, render_docs
from auroram.tokenize.shards import Shard, tokenize_to_shard


def _demo(path: str, root: Path) -> str:
    return virtual.resolve(path, split="train", demo_dir=root, run_dir=root / "run")


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in records), encoding="utf-8")
    return path


def _read(path: Path, fmt: str, q: Quarantine | None = None, **kw) -> list:
    return list(iter_source(SourceConfig(domain="en", path=str(path), format=fmt, **kw), quarantine=q))


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    corpus = ["<|user|>\nhello there, how are you?\n<|assistant|>\nfine thanks\n", "def f(x): return x",
              "Mitä kuuluu? Hyvää.", "नमस्ते दुनिया", "こんにちは世界"] * 30
    return train_bpe(corpus, 400, tmp_path_factory.mktemp("bpe") / "tok")


# ---- readers ---------------------------------------------------------------------------------------------


def test_every_format_reads_to_the_same_turns(tmp_path):
    one = [("user", "Name a prime."), ("assistant", "7")]
    cases = {
        "alpaca": {"instruction": "Name a prime.", "input": "", "output": "7"},
        "sharegpt": {"conversations": [{"from": "human", "value": "Name a prime."}, {"from": "gpt", "value": "7"}]},
        "messages": {"messages": [{"role": "user", "content": "Name a prime."},
                                  {"role": "assistant", "content": [{"type": "text", "text": "7"}]}]},
        "xp3": {"inputs": "Name a prime.", "targets": "7"},
        "prompt_response": {"prompt": "Name a prime.", "response": "7"},
        "oasst": {"message_tree_id": "t", "prompt": {"message_id": "p", "role": "prompter", "text": "Name a prime.",
                                                     "replies": [{"role": "assistant", "text": "7", "rank": 0}]}},
    }
    for fmt, rec in cases.items():
        docs = _read(_jsonl(tmp_path / f"{fmt}.jsonl", [rec]), fmt)
        assert len(docs) == 1 and isinstance(docs[0], Conversation), fmt
        assert docs[0].turns == one, fmt
        assert docs[0].line == 1 and docs[0].file.endswith(f"{fmt}.jsonl")


def test_alpaca_input_follows_the_instruction_and_json_array_files_read(tmp_path):
    recs = [{"instruction": "Translate to Finnish.", "input": "cat", "output": "kissa"}]
    (tmp_path / "a.json").write_text(json.dumps(recs), encoding="utf-8")  # alpaca_data.json is one array
    [c] = _read(tmp_path / "a.json", "alpaca")
    assert c.turns == [("user", "Translate to Finnish.\n\ncat"), ("assistant", "kissa")]


def test_oasst_follows_the_best_ranked_live_path(tmp_path):
    tree = {"message_tree_id": "t", "tree_state": "ready_for_export", "prompt": {
        "message_id": "p", "role": "prompter", "text": "Hi?", "lang": "en", "replies": [
            {"message_id": "a1", "role": "assistant", "text": "second best", "rank": 1, "replies": []},
            {"message_id": "a0", "role": "assistant", "text": "best", "rank": 0, "replies": [
                {"message_id": "q2", "role": "prompter", "text": "More?", "rank": 0, "replies": [
                    {"message_id": "d", "role": "assistant", "text": "deleted one", "rank": 0, "deleted": True},
                    {"message_id": "b", "role": "assistant", "text": "kept one", "rank": 1},
                ]},
            ]},
            {"message_id": "ax", "role": "assistant", "text": "unranked", "rank": None},
        ]}}
    dangling = {"message_tree_id": "u", "prompt": {"role": "prompter", "text": "Hello?", "replies": [
        {"role": "assistant", "text": "Hi.", "rank": 0, "replies": [{"role": "prompter", "text": "Unanswered"}]}]}}
    a, b = _read(_jsonl(tmp_path / "t.jsonl", [tree, dangling]), "oasst")
    assert a.turns == [("user", "Hi?"), ("assistant", "best"), ("user", "More?"), ("assistant", "kept one")]
    assert b.turns == [("user", "Hello?"), ("assistant", "Hi.")]  # a trailing unanswered prompt is cut


def test_bad_records_are_quarantined_with_line_and_reason_and_counts_stay_exact(tmp_path):
    recs = [
        {"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "fine"}]},  # 1 kept
        {"messages": []},  # 2 empty
        {"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]},  # 3 unknown role
        {"text": "no messages field"},  # 4 missing field
        "{not json",  # 5 invalid JSON
        {"messages": [{"role": "user", "content": "only a question"}]},  # 6 no assistant
        "",  # blank line: not a record
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                      {"role": "assistant", "content": "a"}]},  # 8 kept
    ]
    f = _jsonl(tmp_path / "m.jsonl", recs)
    q = Quarantine()
    docs = _read(f, "messages", q)
    assert len(docs) == 2
    assert q.records == 7 and q.kept == 2 and q.quarantined == 5 and q.records == q.kept + q.quarantined
    by_line = {r["line"]: r["reason"] for r in q.rejects}
    assert set(by_line) == {2, 3, 4, 5, 6}
    assert by_line[2] == "empty conversation"
    assert "unknown role 'bot'" in by_line[3]
    assert "missing field 'messages'" in by_line[4]
    assert "not valid JSON" in by_line[5]
    assert by_line[6] == "no assistant turn"
    assert all(r["file"] == str(f) for r in q.rejects)
    assert q.summary()["reasons"]["unknown role 'bot'"] == 1
    q.write(tmp_path / "quarantine.jsonl")
    assert len((tmp_path / "quarantine.jsonl").read_text().splitlines()) == 5
    # without a quarantine the first bad record stops the read, naming file and line
    with pytest.raises(SourceError, match=r"m\.jsonl: line 2: empty conversation"):
        _read(f, "messages")


def test_unknown_sharegpt_speaker_and_alpaca_missing_output(tmp_path):
    q = Quarantine()
    _read(_jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "narrator", "value": "x"}]}]), "sharegpt", q)
    _read(_jsonl(tmp_path / "a.jsonl", [{"instruction": "do it"}]), "alpaca", q)
    assert [r["reason"] for r in q.rejects] == ["turn 0: unknown role 'narrator'", "missing field 'output'"]


# ---- rendering and masks -------------------------------------------------------------------------------


def _shard_of(tok, docs, path):
    tokenize_to_shard(tok, docs, path, eos_id=0)
    return Shard(path)


def test_simple_format_masks_everything_but_the_assistant_turns(tmp_path, tok):
    conv = Conversation([("user", "hello there"), ("assistant", "fine thanks"), ("user", "how are you?"),
                         ("assistant", "well")])
    r = Renderer(tok)
    assert r.kind == SIMPLE_FORMAT  # a trained BPE has no chat template
    assert r.text(conv.turns) == ("<|user|>\nhello there\n<|assistant|>\nfine thanks\n"
                                  "<|user|>\nhow are you?\n<|assistant|>\nwell\n")
    sh = _shard_of(tok, list(render_docs([conv, "plain text"], r, "response")), tmp_path / "r")
    toks, mask = sh.doc(0), sh.doc_mask(0).astype(bool)
    assert tok.decode(toks[:-1].tolist()) == r.text(conv.turns)
    # the targets are exactly the assistant turns and the EOS, nothing of the user's words
    assert tok.decode(toks[mask][:-1].tolist()) == "fine thanks\nwell\n" and toks[mask][-1] == 0
    assert sh.doc_mask(1).all()  # plain text documents pass through unchanged
    sh_all = _shard_of(tok, list(render_docs([conv], r, "all")), tmp_path / "a")
    assert sh_all.doc_mask(0).all() and np.array_equal(sh_all.doc(0), toks)


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_tokenizer_chat_template_is_used_and_masks_follow_it(tmp_path, tok):
    tok.chat_template = CHATML
    try:
        r = Renderer(tok)
        assert r.kind == "tokenizer"
        turns = [("system", "be brief"), ("user", "hi"), ("assistant", "hello"), ("user", "bye"), ("assistant", "ciao")]
        segs = r.segments(turns, "response")
        whole = tok.apply_chat_template([{"role": a, "content": b} for a, b in turns], tokenize=False)
        assert "".join(t for t, _ in segs) == whole
        assert [t for t, target in segs if target] == ["hello<|im_end|>\n", "ciao<|im_end|>\n"]
        # a template that only renders the last message cannot be masked per turn: the simple format instead
        tok.chat_template = "{{ messages[-1]['content'] }}"
        r2 = Renderer(tok)
        assert r2.kind == SIMPLE_FORMAT and "not prefix-stable" in r2.note
    finally:
        tok.chat_template = None


def test_template_refusal_is_quarantined(tmp_path, tok):
    tok.chat_template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
                         + CHATML)
    try:
        r = Renderer(tok)
        assert r.kind == "tokenizer"  # usable: it only refuses system turns
        q = Quarantine(records=2)
        docs = [Conversation([("system", "s"), ("user", "u"), ("assistant", "a")], "f.jsonl", 3),
                Conversation([("user", "u"), ("assistant", "a")], "f.jsonl", 4)]
        out = list(render_docs(docs, r, "response", q))
        assert len(out) == 1 and q.kept == 1
        assert q.rejects == [{"file": "f.jsonl", "line": 3, "reason": "chat template: no system role"}]
    finally:
        tok.chat_template = None


def test_source_to_shard_counts_are_exact(tmp_path, tok):
    good = {"conversations": [{"from": "human", "value": "hello there"}, {"from": "gpt", "value": "fine thanks"}]}
    f = _jsonl(tmp_path / "s.jsonl", [good, {"conversations": []}, good, {"conversations": "x"}, good])
    q = Quarantine()
    src = SourceConfig(domain="en", path=str(f), format="sharegpt", loss_on="response")
    docs = render_docs(iter_source(src, quarantine=q), Renderer(tok), src.loss_on, q)
    stats = tokenize_to_shard(tok, docs, tmp_path / "tokens.bin", eos_id=0)
    assert stats["documents"] == q.kept == 3 and q.quarantined == 2 and q.records == 5


def test_instruction_format_needs_json_records(tmp_path):
    (tmp_path / "x.txt").write_text("plain", encoding="utf-8")
    with pytest.raises(SourceError, match="needs JSONL records"):
        _read(tmp_path / "x.txt", "alpaca")


# ---- the demo's own instruction set -----------------------------------------------------------------------

MODULE = '''"""A module."""


def clamp(value, low, high):
    """Clamp a value into a closed range.

    Values below `low` become `low`, values above `high` become `high`;
    anything between is returned unchanged.
    """
    if value < low:
        return low
    if value > high:
        return high
    return value


def double(x):
    """Return twice x."""
    return 2 * x


def _private(x):
    """Hidden."""
    return x
'''

HELP_BODY = {
    "en": "Choose Tools - Macros to open the dialog. The dialog lists every library you can edit. "
          "Select one and press Edit to open it in the editor.",
    "fi": "Valitse Työkalut - Makrot avataksesi valintaikkunan. Ikkuna luettelee kaikki muokattavat kirjastot. "
          "Valitse yksi ja napsauta Muokkaa, niin se avautuu muokkaimeen.",
    "hi": "संवाद खोलने के लिए उपकरण - मैक्रो चुनें. संवाद हर लाइब्रेरी की सूची दिखाता है जिसे आप संपादित कर सकते हैं. "
          "एक चुनें और संपादक में खोलने के लिए संपादित करें दबाएँ.",
    "ja": "「ツール」→「マクロ」を選択してダイアログを開きます。ダイアログには編集できるすべてのライブラリが表示されます。"
          "ライブラリを選択して「編集」を押すと、エディターで開きます。編集が終わったらダイアログを閉じます。",
    "vi": "Chọn Công cụ > Vĩ lệnh để mở hộp thoại. Hộp thoại liệt kê mọi thư viện bạn có thể sửa. "
          "Chọn một thư viện rồi nhấn Sửa để mở nó trong bộ sửa.",
}
MAN = {
    "fi": "NIMI\n       ls - luettele hakemiston sisältö\n\nKUVAUS\n       Luettelee tiedostot.",
    "ja": "名前\n       ls - ディレクトリの内容をリスト表示する\n\n説明\n       ファイルの情報を表示する。",
    "vi": "TÊN\n       ls - liệt kê nội dung thư mục\n\nMÔ TẢ\n       Liệt kê thông tin về các tập tin.",
}


def _demo_corpus(root: Path) -> Path:
    for lang in ["en", "fi", "hi", "ja", "vi", "code"]:
        d = root / "corpus" / lang
        d.mkdir(parents=True)
        docs = []
        if lang == "code":
            docs.append({"id": "python-stdlib:clamp.py", "text": MODULE})
        else:
            pkg = "libreoffice-help-en-us" if lang == "en" else f"libreoffice-help-{lang}"
            docs.append({"id": f"{pkg}:text/a.html", "text": f"Macro Libraries\n\n{HELP_BODY[lang]}"})
            docs.append({"id": f"{pkg}:text/b.html", "text": "Just one paragraph with no title at all."})
            if lang in MAN:
                docs.append({"id": f"manpages-{lang}:man1/ls.1", "text": MAN[lang]})
        _jsonl(d / "train.jsonl", docs)
        _jsonl(d / "val.jsonl", [{"id": f"val-{lang}", "text": "Held out\n\nNever a source of questions here."}])
    return root


def test_demo_instructions_cover_every_language_with_origins(tmp_path):
    root = _demo_corpus(tmp_path / "demo")
    m = build_demo_instructions(root, root / "instruct")
    counts = {lang: m["counts"]["cap"][lang] + m["counts"]["cat"][lang] for lang in m["counts"]["cap"]}
    assert all(counts[lang] >= 1 for lang in ["en", "fi", "hi", "ja", "vi", "code"]), counts
    assert m["counts"]["cat"]["code"] == 1 and m["counts"]["cap"]["code"] == 1  # clamp is CAT, double CAP
    assert m["skipped"]["en"] == {"page with a single paragraph (no title and body)": 1}
    train_ids = {json.loads(line)["id"] for f in (root / "corpus").glob("*/train.jsonl")
                 for line in f.read_text(encoding="utf-8").splitlines()}
    items = []
    for rel in m["files"]:
        items += [json.loads(x) for x in (root / "instruct" / rel).read_text(encoding="utf-8").splitlines()]
    assert len(items) == sum(counts.values())
    for it in items:
        assert it["origin"].rsplit(":", 1)[0] in train_ids or it["origin"] in train_ids
    man_ja = next(it for it in items if it["kind"] == "man" and it["lang"] == "ja")
    assert man_ja["messages"][0]["content"].count("`ls`") == 1
    assert man_ja["messages"][1]["content"].startswith("`ls` — ディレクトリの内容をリスト表示する")
    fn = next(it for it in items if it["origin"].endswith(":clamp"))
    assert fn["quality"] == "cat" and fn["messages"][1]["content"].startswith("def clamp(value, low, high):")
    assert "clamp(value, low, high)" in fn["messages"][0]["content"]
    # the sets are sources like any other: `demo-instruct:cat` reads them as conversations
    src = SourceConfig(domain="en", path=_demo("demo-instruct:cat", root), format="messages", loss_on="response")
    q = Quarantine()
    convs = list(iter_source(src, quarantine=q))
    assert len(convs) == sum(m["counts"]["cat"].values()) and q.quarantined == 0
    src_fi = SourceConfig(domain="en", path=_demo("demo-instruct:cap/fi", root), format="messages")
    assert len(list(iter_source(src_fi))) == m["counts"]["cap"]["fi"]
