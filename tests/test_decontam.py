"""Decontamination: planted evaluation items in every language never survive; clean documents stay."""

from __future__ import annotations

from auroram.data.decontam import Decontaminator, decontaminate, format_table
from auroram.data.instruct import Conversation

# one evaluation item per language, written for these tests
EVAL = {
    "en": ["The committee decided that every new member must read the handbook twice before the first "
           "meeting of the season, and nobody objected to that rule."],
    "fi": ["Kokous päätti, että jokaisen uuden jäsenen on luettava käsikirja kahdesti ennen kauden "
           "ensimmäistä kokousta, eikä kukaan vastustanut tätä sääntöä lainkaan."],
    "hi": ["समिति ने तय किया कि हर नए सदस्य को मौसम की पहली बैठक से पहले पुस्तिका दो बार पढ़नी होगी "
           "और किसी ने भी इस नियम का विरोध नहीं किया।"],
    "ja": ["委員会は、新しい会員は全員シーズン最初の会合の前に手引きを二度読まなければならないと決め、"
           "誰もその規則に反対しなかった。"],
    "vi": ["Ủy ban quyết định rằng mọi thành viên mới phải đọc sổ tay hai lần trước buổi họp đầu tiên "
           "của mùa giải, và không ai phản đối quy định đó."],
    "code": ["def merge_intervals(intervals):\n    ordered = sorted(intervals, key=lambda pair: pair[0])\n"
             "    merged = [list(ordered[0])]\n    for start, end in ordered[1:]:\n"
             "        if start <= merged[-1][1]:\n            merged[-1][1] = max(merged[-1][1], end)\n"
             "        else:\n            merged.append([start, end])\n    return merged\n"],
}

CLEAN = {
    "en": "The library opens at nine and closes at five; members may borrow up to six books at a time.",
    "fi": "Kirjasto aukeaa yhdeksältä ja sulkeutuu viideltä, ja jäsenet voivat lainata kuusi kirjaa kerrallaan.",
    "hi": "पुस्तकालय नौ बजे खुलता है और पाँच बजे बंद होता है, सदस्य एक बार में छह किताबें ले सकते हैं।",
    "ja": "図書館は九時に開いて五時に閉まり、会員は一度に六冊まで本を借りることができる。",
    "vi": "Thư viện mở cửa lúc chín giờ và đóng cửa lúc năm giờ, thành viên được mượn sáu cuốn sách mỗi lần.",
    "code": "def clamp(value, low, high):\n    return max(low, min(high, value))\n",
}


def _excerpt(lang: str) -> str:
    """A piece of the eval item just long enough to trip the rule, with case and punctuation changed."""
    item = EVAL[lang][0]
    if lang == "ja":
        return item[5:40]  # 35 characters from the middle
    words = item.split()
    return " ".join(words[2:16]).upper().replace(",", " ;")  # 14 words, shouted, punctuation swapped


def test_planted_contaminants_in_every_language_are_dropped_and_clean_docs_kept():
    train = []
    for lang in EVAL:
        train.append(("clean", lang, CLEAN[lang]))
        # whole item inside other text, and just an excerpt of it
        train.append(("whole", lang, f"{CLEAN[lang]}\n\n{EVAL[lang][0]}\n\nMore text after it."))
        train.append(("excerpt", lang, f"Intro. {_excerpt(lang)} Outro."))
    # an item pasted into a page of another language is found as well
    train.append(("cross", "en", f"{CLEAN['en']} {EVAL['ja'][0]}"))
    train.append(("cross", "ja", f"{CLEAN['ja']} {EVAL['fi'][0]}"))
    kept, drops, table = decontaminate([t for _, _, t in train], EVAL, source="mixed")
    kept_set = set(kept)
    for kind, lang, text in train:
        if kind == "clean":
            assert text in kept_set, f"clean {lang} document was dropped"
        else:
            assert text not in kept_set, f"{kind} contaminant in {lang} survived"
    n_bad = sum(kind != "clean" for kind, _, _ in train)
    assert len(drops) == n_bad and len(kept) == len(train) - n_bad
    assert table["sources"]["mixed"] == {
        "checked": len(train), "kept": len(train) - n_bad, "dropped": n_bad,
        "by_eval_set": {"code": 2, "en": 2, "fi": 3, "hi": 2, "ja": 3, "vi": 2},
    }
    ja_drop = next(d for d in drops if d["eval_set"] == "ja")
    assert "25-character sequence with eval set 'ja' item 0" in ja_drop["reason"]
    en_drop = next(d for d in drops if d["eval_set"] == "en")
    assert "13-word sequence with eval set 'en' item 0" in en_drop["reason"]


def test_a_shorter_overlap_is_not_contamination():
    d = Decontaminator(EVAL)
    words = EVAL["en"][0].split()
    assert d.check(" ".join(words[:12])) is None  # 12 words: under the 13-word rule
    assert d.check(" ".join(words[:13])) is not None
    # the item's comma is not counted: 25 characters of text hold 24 that count, 26 hold 25
    assert d.check(EVAL["ja"][0][:25]) is None
    assert d.check(EVAL["ja"][0][:26]) is not None


def test_latin_runs_of_japanese_items_do_not_match_other_languages():
    ja = ["対応する文字コードは iso-8859-1, iso-8859-2, windows-1252, utf-8 などです。"]
    d = Decontaminator({"ja": ja})
    assert d.check("Supported encodings: ISO-8859-1, ISO-8859-2, Windows-1252, UTF-8 and more.") is None
    assert d.check("Japanese item: " + ja[0]) is not None


def test_short_items_are_indexed_whole_or_counted_as_too_short():
    d = Decontaminator({"en": ["one two three four five six seven eight nine", "too short to check"]})
    assert d.check("x one two three four five six seven eight nine y") is not None
    assert d.check("it is too short to check here") is None
    assert d.table()["eval_sets"]["en"] == {"items": 2, "too_short": 1}


def test_filter_handles_every_document_shape_and_tables_per_source():
    d = Decontaminator(EVAL)
    conv = Conversation([("user", "Summarise."), ("assistant", EVAL["vi"][0])], "inst.jsonl", 7)
    docs = [CLEAN["en"], ("prompt", EVAL["en"][0]), [("seg ", False), (EVAL["code"][0], True)], conv]
    kept = list(d.filter(docs, "inst"))
    assert kept == [CLEAN["en"]]
    assert [x["doc"] for x in d.drops] == [1, 2, 3]
    assert d.drops[-1]["file"] == "inst.jsonl" and d.drops[-1]["line"] == 7
    list(d.filter([CLEAN["fi"]], "fi"))
    t = d.table()["sources"]
    assert t["inst"]["dropped"] == 3 and t["fi"] == {"checked": 1, "kept": 1, "dropped": 0, "by_eval_set": {}}
    text = format_table(d.table())
    assert text.splitlines()[0].split()[:3] == ["source", "checked", "dropped"] and "inst" in text
