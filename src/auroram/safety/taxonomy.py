"""The eight safety categories and their Llama Guard 3 / AILuminate hazard codes (taxonomy.json)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

UNSPECIFIED = "unspecified"  # imported sets that carry no category of their own


@functools.cache
def load_taxonomy() -> dict[str, Any]:
    return json.loads((resources.files("auroram.safety") / "taxonomy.json").read_text(encoding="utf-8"))


def category_ids() -> list[str]:
    return [c["id"] for c in load_taxonomy()["categories"]]


def category_names() -> dict[str, str]:
    return {c["id"]: c["name"] for c in load_taxonomy()["categories"]}


def hazard_codes(category: str) -> dict[str, list[str]]:
    for c in load_taxonomy()["categories"]:
        if c["id"] == category:
            return {"llama_guard_3": c["llama_guard_3"], "ailuminate": c["ailuminate"]}
    raise KeyError(f"unknown safety category '{category}' (known: {', '.join(category_ids())})")
