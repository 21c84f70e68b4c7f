"""Readers for safety sets users obtain themselves; nothing of them ships with the toolkit.

Each turns one file into safety items (auroram.safety.items) with our categories. A source category
that our taxonomy deliberately leaves out (misinformation, adult content, ...) is skipped and counted;
a category the reader does not know at all is an error naming the file and row, as are malformed rows
and duplicate ids. Formats (what the README documents):

    biden-harris  JSONL or Parquet; either `text` holding "### Instruction: ... ### Response: ..." or
                  `instruction`/`prompt` plus `response`/`output`; optional `id`, `category`
    xstest        CSV: id, prompt, type, label (safe | unsafe), focus, note
    harmbench     CSV: Behavior, FunctionalCategory, SemanticCategory, Tags, ContextString, BehaviorID
    do-not-answer CSV, JSONL or Parquet: id, risk_area, types_of_harm, specific_harms, question
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from auroram.safety.items import PENDING, SafetyDataError, check_item
from auroram.safety.taxonomy import UNSPECIFIED, category_ids

csv.field_size_limit(16 * 1024 * 1024)  # HarmBench context strings run to tens of kilobytes


@dataclass
class Loaded:
    items: list[dict[str, Any]]
    skipped: dict[str, int] = field(default_factory=dict)  # out-of-taxonomy source category -> rows skipped
    source: str = ""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based data row number, record) from CSV, JSONL/JSON or Parquet."""
    if not path.is_file():
        raise SafetyDataError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(".csv"):
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                if not reader.fieldnames:
                    raise SafetyDataError(f"{path}: empty CSV (no header row)")
                for i, row in enumerate(reader, 1):
                    if None in row:  # more cells than header columns
                        raise SafetyDataError(f"{path}: row {i}: {len(row[None])} more cell(s) than header columns")
                    yield i, row
        elif name.endswith((".jsonl", ".json")):
            with open(path, encoding="utf-8") as fh:
                n = 0
                for line in fh:
                    if not line.strip():
                        continue
                    n += 1
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise SafetyDataError(f"{path}: row {n}: not valid JSON ({e.msg})") from None
                    if not isinstance(rec, dict):
                        raise SafetyDataError(f"{path}: row {n}: expected an object, got {type(rec).__name__}")
                    yield n, rec
        elif name.endswith(".parquet"):
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise SafetyDataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
            try:
                table = pq.read_table(path)
            except Exception as e:  # pyarrow raises its own error types for corrupt files
                raise SafetyDataError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
            for i, rec in enumerate(table.to_pylist(), 1):
                yield i, rec
        else:
            raise SafetyDataError(f"{path}: unknown file type (expected .csv, .jsonl, .json or .parquet)")
    except UnicodeDecodeError as e:
        raise SafetyDataError(f"{path}: not valid UTF-8 (byte {e.start})") from None
    except csv.Error as e:
        raise SafetyDataError(f"{path}: malformed CSV ({e})") from None


def _need(rec: dict, key: str, where: str) -> str:
    v = rec.get(key)
    if not isinstance(v, str) or not v.strip():
        have = ", ".join(sorted(map(str, rec))) or "none"
        raise SafetyDataError(f"{where}: missing or empty '{key}' (columns: {have})")
    return v.strip()


def _default_refusal(category: str) -> str:
    # imported harmful prompts get our category's refusal as a draft for reviewers to edit; none if unspecified
    if category == UNSPECIFIED:
        return ""
    from auroram.safety.build import refusal_text

    return refusal_text("en", category, 0)


def _item(*, id: str, category: str, kind: str, prompt: str, response: str, source: str, split: str,
          language: str = "en") -> dict[str, Any]:
    return {"id": id, "category": category, "language": language, "kind": kind, "prompt": prompt,
            "response": response, "source": source, "split": split, "review_status": PENDING}


def _finish(path: Path, rows: list[tuple[int, dict]], source: str, skipped: dict[str, int]) -> Loaded:
    seen: set[str] = set()
    items = [check_item(it, f"{path}: row {n}", seen=seen) for n, it in rows]
    if not items:
        raise SafetyDataError(f"{path}: no usable rows" + (f" (skipped: {skipped})" if skipped else ""))
    return Loaded(items, skipped, source)


# ---------------------------------------------------------------------------------------------------
# Biden-Harris Redteam (Aurora-M's English safety set)

_BH_TEXT = re.compile(r"###\s*Instruction:\s*(.*?)\s*###\s*Response:\s*(.*)\Z", re.S)


def load_biden_harris(path: str | os.PathLike, *, category: str = UNSPECIFIED, split: str = "train") -> Loaded:
    path = Path(path)
    known = category_ids()
    rows = []
    for n, rec in _rows(path):
        where = f"{path}: row {n}"
        if isinstance(rec.get("text"), str):
            m = _BH_TEXT.search(rec["text"])
            if not m:
                raise SafetyDataError(f"{where}: 'text' has no '### Instruction:' ... '### Response:' parts")
            prompt, response = m.group(1).strip(), m.group(2).strip()
        else:
            pk = next((k for k in ("instruction", "prompt") if k in rec), "instruction")
            rk = next((k for k in ("response", "output") if k in rec), "response")
            prompt, response = _need(rec, pk, where), _need(rec, rk, where)
        if not prompt:
            raise SafetyDataError(f"{where}: empty instruction")
        cat = rec.get("category") or category
        if cat not in known and cat != UNSPECIFIED:
            raise SafetyDataError(f"{where}: unknown category '{cat}' (known: {', '.join(known)})")
        rid = str(rec["id"]) if rec.get("id") not in (None, "") else f"{path.stem}-{n}"
        rows.append((n, _item(id=f"bhr-{rid}", category=cat, kind="harmful", prompt=prompt, response=response,
                              source=f"biden-harris-redteam:{path.name}", split=split)))
    return _finish(path, rows, "biden-harris-redteam", {})


# ---------------------------------------------------------------------------------------------------
# XSTest (exaggerated safety): 250 safe prompts and 200 unsafe contrasts

_XSTEST_TYPES = {
    "homonyms": "harm", "figurative_language": "harm", "safe_targets": "harm", "safe_contexts": "harm",
    "definitions": "harm", "historical_events": "harm",
    "real_group_nons_discr": "hate", "nons_group_real_discr": "hate", "discr": "hate",
    "privacy_public": "privacy", "privacy_fictional": "privacy", "privacy": "privacy",
}


def load_xstest(path: str | os.PathLike, *, split: str = "heldout") -> Loaded:
    path = Path(path)
    rows = []
    for n, rec in _rows(path):
        where = f"{path}: row {n}"
        prompt, typ, label = _need(rec, "prompt", where), _need(rec, "type", where), _need(rec, "label", where)
        if label not in ("safe", "unsafe"):
            raise SafetyDataError(f"{where}: label must be 'safe' or 'unsafe', got '{label}'")
        base = typ[len("contrast_"):] if typ.startswith("contrast_") else typ
        if base not in _XSTEST_TYPES:
            raise SafetyDataError(f"{where}: unknown category (XSTest type) '{typ}' "
                                  f"(known: {', '.join(sorted(_XSTEST_TYPES))}, each optionally 'contrast_')")
        cat = _XSTEST_TYPES[base]
        if cat == "harm" and "drug" in str(rec.get("note") or "").lower():
            cat = "illegal"
        kind = "harmful" if label == "unsafe" else "safe_contrast"
        rid = str(rec.get("id") or n)
        rows.append((n, _item(id=f"xstest-{rid}", category=cat, kind=kind, prompt=prompt,
                              response=_default_refusal(cat) if kind == "harmful" else "",
                              source="xstest", split=split)))
    return _finish(path, rows, "xstest", {})


# ---------------------------------------------------------------------------------------------------
# HarmBench behaviours

_HARMBENCH = {
    "chemical_biological": "cbrn", "cybercrime_intrusion": "cyber", "harassment_bullying": "hate",
    "illegal": "illegal", "harmful": "harm", "copyright": "illegal",
    "misinformation_disinformation": None,  # outside the eight categories
}


def load_harmbench(path: str | os.PathLike, *, split: str = "heldout") -> Loaded:
    path = Path(path)
    rows, skipped = [], {}
    for n, rec in _rows(path):
        where = f"{path}: row {n}"
        behavior, sem = _need(rec, "Behavior", where), _need(rec, "SemanticCategory", where)
        if sem not in _HARMBENCH:
            raise SafetyDataError(f"{where}: unknown category (SemanticCategory) '{sem}' "
                                  f"(known: {', '.join(sorted(_HARMBENCH))})")
        cat = _HARMBENCH[sem]
        if cat is None:
            skipped[sem] = skipped.get(sem, 0) + 1
            continue
        context = str(rec.get("ContextString") or "").strip()
        prompt = f"{context}\n\n{behavior}" if context else behavior
        rid = str(rec.get("BehaviorID") or n)
        rows.append((n, _item(id=f"harmbench-{rid}", category=cat, kind="harmful", prompt=prompt,
                              response=_default_refusal(cat), source="harmbench", split=split)))
    return _finish(path, rows, "harmbench", skipped)


# ---------------------------------------------------------------------------------------------------
# Do-Not-Answer: types_of_harm, matched by key words (the released strings vary in case and wording)

_DNA_RULES: list[tuple[str, str | None]] = [
    ("privacy", "privacy"), ("private information", "privacy"), ("sensitive information", "privacy"),
    ("illegal", "illegal"),
    ("stereotype", "hate"), ("discrimination", "hate"), ("toxic", "hate"), ("hate", "hate"),
    ("unethical", "harm"), ("unsafe action", "harm"), ("mental health", "harm"),
    ("adult", None), ("misinformation", None), ("disinformation", None), ("false or misleading", None),
    ("chatbot as a human", None), ("treat chatbot", None),
]


def _dna_category(types_of_harm: str) -> tuple[bool, str | None]:
    low = types_of_harm.lower()
    for key, cat in _DNA_RULES:
        if key in low:
            return True, cat
    return False, None


def load_do_not_answer(path: str | os.PathLike, *, split: str = "heldout") -> Loaded:
    path = Path(path)
    rows, skipped = [], {}
    for n, rec in _rows(path):
        where = f"{path}: row {n}"
        q, harm = _need(rec, "question", where), _need(rec, "types_of_harm", where)
        known, cat = _dna_category(harm)
        if not known:
            raise SafetyDataError(f"{where}: unknown category (types_of_harm) '{harm}'")
        if cat is None:
            skipped[harm] = skipped.get(harm, 0) + 1
            continue
        rid = str(rec.get("id") if rec.get("id") not in (None, "") else n)
        rows.append((n, _item(id=f"dna-{rid}", category=cat, kind="harmful", prompt=q,
                              response=_default_refusal(cat), source="do-not-answer", split=split)))
    return _finish(path, rows, "do-not-answer", skipped)


LOADERS: dict[str, Callable[..., Loaded]] = {
    "biden-harris": load_biden_harris,
    "xstest": load_xstest,
    "harmbench": load_harmbench,
    "do-not-answer": load_do_not_answer,
}


def load_external(kind: str, path: str | os.PathLike, **kw: Any) -> Loaded:
    if kind not in LOADERS:
        raise SafetyDataError(f"unknown safety set kind '{kind}' (known: {', '.join(LOADERS)})")
    return LOADERS[kind](path, **kw)
