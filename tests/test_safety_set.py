"""The built-in safety set: taxonomy, counts, split by template, refusals that explain, determinism."""

from __future__ import annotations

import json

import pytest

from auroram.safety.build import build_safety_set, generate_items
from auroram.safety.evaluate import is_refusal
from auroram.safety.items import SafetyDataError, read_items
from auroram.safety.taxonomy import category_ids, load_taxonomy
from auroram.safety.templates import CATEGORIES, LANGUAGES, TEXT


@pytest.fixture(scope="module")
def items():
    return generate_items(seed=1234)


def test_taxonomy_has_the_eight_categories_with_known_hazard_codes():
    tax = load_taxonomy()
    assert category_ids() == CATEGORIES
    assert len(CATEGORIES) == 8
    lg, ail = tax["hazard_codes"]["llama_guard_3"], tax["hazard_codes"]["ailuminate"]
    assert sorted(lg, key=lambda c: int(c[1:])) == [f"S{i}" for i in range(1, 15)]
    for c in tax["categories"]:
        assert c["llama_guard_3"] and set(c["llama_guard_3"]) <= set(lg), c["id"]
        assert c["ailuminate"] and set(c["ailuminate"]) <= set(ail), c["id"]
    by_id = {c["id"]: c for c in tax["categories"]}
    assert "S9" in by_id["cbrn"]["llama_guard_3"] and "S4" in by_id["child"]["llama_guard_3"]


def test_every_category_and_language_has_enough_train_and_heldout_items(items):
    for lang in LANGUAGES:
        for cat in CATEGORIES:
            mine = [it for it in items if it["language"] == lang and it["category"] == cat]
            harmful_train = sum(1 for it in mine if it["kind"] == "harmful" and it["split"] == "train")
            harmful_held = sum(1 for it in mine if it["kind"] == "harmful" and it["split"] == "heldout")
            safe_held = sum(1 for it in mine if it["kind"] == "safe_contrast" and it["split"] == "heldout")
            assert harmful_train >= 50 and harmful_held >= 20, (lang, cat, harmful_train, harmful_held)
            assert sum(1 for it in mine if it["split"] == "train") >= 50
            assert safe_held >= 20, (lang, cat)


def test_no_heldout_prompt_text_occurs_in_train(items):
    train = [it["prompt"] for it in items if it["split"] == "train"]
    held = [it["prompt"] for it in items if it["split"] == "heldout"]
    assert set(train).isdisjoint(held)
    blob = "\n".join(train)
    assert not [p for p in held if p in blob]  # not even as part of a longer training prompt


def test_split_is_by_frame_per_language(items):
    for lang in LANGUAGES:
        frames = {it["id"].rsplit("-f", 1)[1]: it["split"] for it in items if it["language"] == lang}
        held = {f for f, s in frames.items() if s == "heldout"}
        # one frame never appears in both splits, across every category and kind
        for it in items:
            if it["language"] == lang:
                assert (it["id"].rsplit("-f", 1)[1] in held) == (it["split"] == "heldout")


def test_refusals_refuse_and_explain_and_safe_answers_help(items):
    for it in items:
        refused = is_refusal(it["response"], it["language"])
        if it["kind"] == "harmful":
            assert refused, it["id"]
            assert TEXT[it["language"]]["categories"][it["category"]]["reason"] in it["response"]  # says why
        else:
            assert not refused, (it["id"], it["response"])
            assert it["response"].strip()


def test_ids_unique_and_fields_complete(items):
    assert len({it["id"] for it in items}) == len(items)
    for it in items[:50]:
        assert it["review_status"] == "pending" and it["source"]


def test_build_writes_manifest_and_is_deterministic(tmp_path):
    m = build_safety_set(tmp_path / "a", seed=7)
    again = build_safety_set(tmp_path / "b", seed=7)
    other = build_safety_set(tmp_path / "c", seed=8)
    assert (tmp_path / "a" / "items.jsonl").read_bytes() == (tmp_path / "b" / "items.jsonl").read_bytes()
    assert m["sha256"] == again["sha256"] and m["heldout_frames"] != other["heldout_frames"]
    assert m["counts"]["hi"]["cbrn"]["harmful"]["heldout"] >= 20
    assert len(read_items(tmp_path / "a" / "items.jsonl")) == m["items"]
    # a rebuild with the same seed keeps the directory as is
    mtime = (tmp_path / "a" / "items.jsonl").stat().st_mtime_ns
    build_safety_set(tmp_path / "a", seed=7)
    assert (tmp_path / "a" / "items.jsonl").stat().st_mtime_ns == mtime
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_read_items_names_file_and_line(tmp_path):
    good = generate_items()[:2]
    f = tmp_path / "items.jsonl"
    f.write_text(json.dumps(good[0]) + "\n" + json.dumps({**good[1], "category": "weather"}) + "\n")
    with pytest.raises(SafetyDataError, match=r"items.jsonl: line 2: unknown category 'weather'"):
        read_items(f)
    f.write_text(json.dumps(good[0]) + "\n" + json.dumps(good[0]) + "\n")
    with pytest.raises(SafetyDataError, match=r"line 2: duplicate id"):
        read_items(f)
    f.write_text(json.dumps(good[0]) + "\n{not json\n")
    with pytest.raises(SafetyDataError, match=r"line 2: not valid JSON"):
        read_items(f)
