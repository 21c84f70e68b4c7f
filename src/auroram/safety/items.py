"""The safety item: one prompt with its reference response, and reading/writing sets of them.

Fields: id, category, language, kind (harmful | safe_contrast), prompt, response, source, split
(train | heldout), review_status (pending | approved | rejected | auto-approved (demo)).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from auroram.errors import AuroramError
from auroram.io import atomic_file
from auroram.jsonl import read_records
from auroram.safety.taxonomy import UNSPECIFIED, category_ids

FIELDS = ["id", "category", "language", "kind", "prompt", "response", "source", "split", "review_status"]
KINDS = ("harmful", "safe_contrast")
SPLITS = ("train", "heldout")
PENDING, APPROVED, REJECTED, DEMO_APPROVED = "pending", "approved", "rejected", "auto-approved (demo)"
STATUSES = (PENDING, APPROVED, REJECTED, DEMO_APPROVED)


class SafetyDataError(AuroramError, ValueError):
    """A safety set is malformed; the message names the file and the row."""


def check_item(item: Any, where: str, *, seen: set[str] | None = None) -> dict[str, Any]:
    """Validate one item; `where` names the file and row for the error message."""
    if not isinstance(item, dict):
        raise SafetyDataError(f"{where}: expected an object, got {type(item).__name__}")
    missing = [f for f in FIELDS if f not in item]
    if missing:
        raise SafetyDataError(f"{where}: missing field(s) {', '.join(missing)}")
    for f in FIELDS:
        if not isinstance(item[f], str):
            raise SafetyDataError(f"{where}: field '{f}' must be a string, got {type(item[f]).__name__}")
    for f in ("id", "prompt", "language"):
        if not item[f].strip():
            raise SafetyDataError(f"{where}: field '{f}' is empty")
    known = category_ids()
    if item["category"] not in known and item["category"] != UNSPECIFIED:
        raise SafetyDataError(f"{where}: unknown category '{item['category']}' (known: {', '.join(known)}, "
                              f"or '{UNSPECIFIED}')")
    if item["kind"] not in KINDS:
        raise SafetyDataError(f"{where}: unknown kind '{item['kind']}' (known: {', '.join(KINDS)})")
    if item["split"] not in SPLITS:
        raise SafetyDataError(f"{where}: unknown split '{item['split']}' (known: {', '.join(SPLITS)})")
    if item["review_status"] not in STATUSES:
        raise SafetyDataError(f"{where}: unknown review_status '{item['review_status']}' "
                              f"(known: {', '.join(STATUSES)})")
    if seen is not None:
        if item["id"] in seen:
            raise SafetyDataError(f"{where}: duplicate id '{item['id']}'")
        seen.add(item["id"])
    return {f: item[f] for f in FIELDS}


def read_items(path: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise SafetyDataError(f"{path}: no such file")
    items, seen = [], set()
    for lineno, rec in read_records(path, SafetyDataError):
        items.append(check_item(rec, f"{path}: line {lineno}", seen=seen))
    return items


def write_items(path: str | os.PathLike, items: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_file(path, "w") as fh:
        for it in items:
            fh.write(json.dumps({f: it[f] for f in FIELDS}, ensure_ascii=False) + "\n")
            n += 1
    return n


def counts(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
    """language -> category -> kind -> split -> count."""
    out: dict = {}
    for it in items:
        c = out.setdefault(it["language"], {}).setdefault(it["category"], {}).setdefault(it["kind"], {})
        c[it["split"]] = c.get(it["split"], 0) + 1
    return out
