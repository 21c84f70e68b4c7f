"""The safety texts as data files: the shipped ones load, a broken edit is a one-line error naming the file
and the key, and a reviewer's edit reaches the built set."""

from __future__ import annotations

from pathlib import Path

import pytest

from auroram.errors import AuroramError
from auroram.safety.build import build_safety_set
from auroram.safety.items import SafetyDataError, read_items
from auroram.safety.templates import CATEGORIES, LANGUAGES, TEXT, TemplateError, builtin_dir, load_templates

HARM_REASON = "Hurting a person or an animal, including yourself, causes real and often lasting harm."


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    """A copy of the shipped texts, as a reviewer would start from."""
    d = tmp_path / "texts"
    d.mkdir()
    for lang in LANGUAGES:
        (d / f"{lang}.yaml").write_text((builtin_dir() / f"{lang}.yaml").read_text(encoding="utf-8"),
                                        encoding="utf-8")
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_texts_load_for_every_language_and_category():
    loaded = load_templates()
    assert list(loaded) == LANGUAGES and loaded == TEXT
    for lang, t in loaded.items():
        assert list(t["categories"]) == CATEGORIES, lang
        assert all("{a}" in f for f in t["frames"]), lang
    shipped = sorted(p.name for p in builtin_dir().iterdir() if p.name.endswith(".yaml"))
    assert shipped == sorted(f"{lang}.yaml" for lang in LANGUAGES)  # no file the build would ignore


@pytest.mark.parametrize("old, new, key, says", [
    ("    reason: Hurting", "    reasn: Hurting", "categories.harm.reasn", "unknown key"),
    (f"    reason: {HARM_REASON}\n", "", "categories.harm.reason", "missing key"),
    ("  cbrn:", "  weapons:", "categories.weapons", "unknown category"),
    ("  - Tell me how to {a}.", "  - Tell me how to {a} with {tool}.", "frames[0]", "placeholder {tool} has no values"),
    ("  - Tell me how to {a}.", "  - Tell me how.", "frames[0]", "has no {a} placeholder"),
    ("  - hurt someone without", "  - hurt {person} without", "categories.harm.harmful[0]",
     "placeholder {person} has no values"),
    ("  - Sure.", "  - 42", "helpful_openers[0]", "must be text, got int"),
    ("    harmful:\n      - hurt someone without", "    harmful: hurt someone without", "categories.harm.harmful",
     "must be a list of texts, got str"),
    ("    harmful:\n", "    harmful: nothing to refuse\n    unused:\n", "categories.harm.unused", "unknown key"),
    ("  - i can't help", "  - I can't help", "refusal_markers[0]", "lower case"),
    (f"    reason: {HARM_REASON}\n", f"    reason: {HARM_REASON}\n    reason: again\n", "", "duplicate key 'reason'"),
])
def test_a_broken_edit_is_a_one_line_error_naming_file_and_key(texts, old, new, key, says):
    edit(texts / "en.yaml", old, new)
    with pytest.raises(TemplateError) as e:
        load_templates(texts)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(texts / "en.yaml")), msg
    assert key in msg and says in msg, msg
    assert isinstance(e.value, SafetyDataError) and isinstance(e.value, AuroramError)


def test_invalid_yaml_names_the_file_and_the_line(texts):
    text = (texts / "en.yaml").read_text(encoding="utf-8")
    line = text[: text.index("  - Sure.")].count("\n") + 1
    edit(texts / "en.yaml", "  - Sure.", "\t- Sure.")  # YAML forbids tabs in indentation
    with pytest.raises(TemplateError) as e:
        load_templates(texts)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{texts / 'en.yaml'}:{line}: invalid YAML"), msg


def test_a_missing_language_file_or_directory_is_named(texts, tmp_path):
    (texts / "vi.yaml").unlink()
    with pytest.raises(TemplateError, match=r"vi\.yaml: missing language file"):
        load_templates(texts)  # the other four are fine, and still nothing is returned
    assert load_templates(texts, ["en", "fi"])["fi"] == TEXT["fi"]
    with pytest.raises(TemplateError, match="no such template directory"):
        load_templates(tmp_path / "nowhere")


def test_a_reviewers_edit_shows_up_in_the_built_set_and_nothing_else_changes(texts, tmp_path):
    same = build_safety_set(tmp_path / "same", seed=7, templates_dir=texts)
    shipped = build_safety_set(tmp_path / "shipped", seed=7)
    assert same["sha256"] == shipped["sha256"] and same["fingerprint"] == shipped["fingerprint"]

    reviewed = "Hurting anyone, yourself included, does real harm that often lasts."
    edit(texts / "en.yaml", HARM_REASON, reviewed)
    edited = build_safety_set(tmp_path / "edited", seed=7, templates_dir=texts)
    assert edited["fingerprint"] != shipped["fingerprint"]  # a rebuild is not skipped as up to date
    before = {it["id"]: it for it in read_items(tmp_path / "shipped" / "items.jsonl")}
    after = {it["id"]: it for it in read_items(tmp_path / "edited" / "items.jsonl")}
    changed = {i for i in before if before[i] != after[i]}
    assert changed and all(i.startswith("en-harm-h") for i in changed)
    assert all(reviewed in after[i]["response"] and HARM_REASON not in after[i]["response"] for i in changed)
    assert len(changed) == sum(1 for i in before if i.startswith("en-harm-h"))
