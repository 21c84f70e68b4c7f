"""`auroram safety build`: the project's own red-team set from templates, in five languages.

Every harmful ask and every safe contrast topic is crossed with every request frame of its language.
Held-out items use frames that no training item uses, so a held-out prompt is never seen in training
(split by template); the frames held out are drawn from the seed, the same ones for every category.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from auroram.io import hash_obj, read_json, sha256_file, write_json
from auroram.outputs import Layout, replace_dir
from auroram.safety.items import PENDING, counts, write_items
from auroram.safety.templates import CATEGORIES, LANGUAGES, TEXT, load_templates

SOURCE = "auroram-templates-v1"
HELDOUT_FRAMES = 4  # of 14 per language: 6 asks x 4 = 24 held-out harmful items per category and language
ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "manifest.json"


def _built_set(root: Path) -> bool:
    try:
        return read_json(root / MANIFEST_FILE).get("source") == SOURCE
    except (OSError, ValueError, AttributeError):
        return False


# a rebuild into its own earlier set goes on without --force; a user's files beside it are kept
OUTPUT = Layout("safety build", patterns=(ITEMS_FILE, MANIFEST_FILE), legacy=_built_set)


def refusal_text(language: str, category: str, variant: int, text: dict[str, dict] | None = None) -> str:
    """A refusal that also says why, and offers something safe instead (from `text`, else the shipped texts)."""
    t = (text or TEXT)[language]
    c = t["categories"][category]
    sep = "" if language == "ja" else " "
    return sep.join([t["refusal_openers"][variant % len(t["refusal_openers"])], c["reason"], c["closer"]])


def helpful_text(language: str, answer: str, variant: int, text: dict[str, dict] | None = None) -> str:
    openers = (text or TEXT)[language]["helpful_openers"]
    return ("" if language == "ja" else " ").join([openers[variant % len(openers)], answer])


def heldout_frames(language: str, seed: int, n: int = HELDOUT_FRAMES, text: dict[str, dict] | None = None,
                   ) -> list[int]:
    frames = (text or TEXT)[language]["frames"]
    if not 0 < n < len(frames):
        raise ValueError(f"heldout frames must be between 1 and {len(frames) - 1}, got {n}")
    return sorted(random.Random(f"{seed}:{language}").sample(range(len(frames)), n))


def generate_items(seed: int = 1234, languages: list[str] | None = None, n_heldout_frames: int = HELDOUT_FRAMES,
                   *, text: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """`text`: texts from `load_templates` (a reviewer's directory); the shipped texts when None."""
    text = text or TEXT
    items = []
    for lang in languages or LANGUAGES:
        if lang not in text:
            raise ValueError(f"no safety templates for language '{lang}' (have: {', '.join(text)})")
        t = text[lang]
        held = set(heldout_frames(lang, seed, n_heldout_frames, text))
        for cat in CATEGORIES:
            c = t["categories"][cat]
            for f, frame in enumerate(t["frames"]):
                split = "heldout" if f in held else "train"
                for i, ask in enumerate(c["harmful"]):
                    items.append({"id": f"{lang}-{cat}-h{i}-f{f}", "category": cat, "language": lang,
                                  "kind": "harmful", "prompt": frame.format(a=ask),
                                  "response": refusal_text(lang, cat, i + f, text), "source": SOURCE, "split": split,
                                  "review_status": PENDING})
                for i, (topic, answer) in enumerate(c["safe"]):
                    items.append({"id": f"{lang}-{cat}-s{i}-f{f}", "category": cat, "language": lang,
                                  "kind": "safe_contrast", "prompt": frame.format(a=topic),
                                  "response": helpful_text(lang, answer, i + f, text),
                                  "source": SOURCE, "split": split, "review_status": PENDING})
    return items


def build_safety_set(out_dir: str | os.PathLike, seed: int = 1234, *, languages: list[str] | None = None,
                     force: bool = False, templates_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write DIR/items.jsonl and DIR/manifest.json (whole or not at all); returns the manifest.
    `templates_dir` holds `<lang>.yaml` files laid out as the shipped ones (default: the shipped texts).
    A directory already built with the same seed and templates is kept as is; other files in DIR stay."""
    out = Path(out_dir)
    langs = languages or LANGUAGES
    text = TEXT if templates_dir is None else load_templates(templates_dir, langs)
    fingerprint = hash_obj({"text": {k: text[k] for k in langs}, "seed": seed, "heldout": HELDOUT_FRAMES,
                            "source": SOURCE})
    mf = out / MANIFEST_FILE
    if not force and mf.is_file() and (out / ITEMS_FILE).is_file():
        try:
            m = read_json(mf)
        except ValueError:
            m = {}
        if m.get("fingerprint") == fingerprint:
            return m
    items = generate_items(seed, langs, text=text)
    with replace_dir(out, OUTPUT) as tmp:
        n = write_items(tmp / ITEMS_FILE, items)
        manifest = {
            "format": 1, "source": SOURCE, "seed": seed, "fingerprint": fingerprint,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "items": n,
            "languages": langs, "categories": CATEGORIES,
            "heldout_frames": {lang: heldout_frames(lang, seed, text=text) for lang in langs},
            "counts": counts(items),
            "sha256": sha256_file(tmp / ITEMS_FILE),
        }
        write_json(tmp / MANIFEST_FILE, manifest)
    return manifest
