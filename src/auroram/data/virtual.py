"""Virtual source paths, the one place they are parsed. A recipe may name data the pipeline makes itself:

    demo:<domain>             the demo corpus: train split for a source, val split for a held-out set
    demo-instruct:<set>       the demo's instruction sets: `cap` (a directory) or `cap/fi` (one file)
    safety:approved           the red-team items reviewers approved, exported by the safety step

When a run is resolved, each becomes the concrete path where that data is (or will be, once its step has
run); everything below the pipeline reads plain paths only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SCHEMES = ("demo", "demo-instruct", "safety")
SAFETY_APPROVED = "approved_train.jsonl"  # under the run's safety/ directory


def scheme(path: str) -> str | None:
    """'demo', 'demo-instruct' or 'safety' for a virtual path, None for a file system path."""
    head, sep, _ = path.partition(":")
    return head if sep and head in SCHEMES else None


def default_demo_dir() -> Path:
    root = os.environ.get("AURORAM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "auroram")
    return Path(root) / "demo"


def resolve(path: str, *, split: str, demo_dir: Path, run_dir: Path, curated: bool = False) -> str:
    """The concrete path of `path` (returned unchanged when it is not virtual). `curated`: demo text is read
    from the run's curation output instead of the corpus (train split only)."""
    kind = scheme(path)
    if kind is None:
        return path
    rest = path.split(":", 1)[1].strip("/")
    if kind == "demo":
        if curated and split == "train":
            return str(run_dir / "curate" / "by_domain" / f"{rest}.jsonl")
        return str(demo_dir / "corpus" / rest / f"{split}.jsonl")
    if kind == "demo-instruct":
        # the layout is instruct/<stage>/<lang>.jsonl: a bare stage names the directory of all its languages
        base = demo_dir / "instruct"
        return str(base / f"{rest}.jsonl") if "/" in rest else str(base / rest)
    if rest != "approved":
        raise ValueError(f"{path}: unknown safety set (the one there is: safety:approved)")
    return str(run_dir / "safety" / SAFETY_APPROVED)


def source_curated(spec: Any, name: str) -> bool:
    """A recipe source's `curate`, or its default: demo text is curated when the recipe has a `curate:` block.
    (`spec`: the Recipe as loaded, before its virtual paths are resolved.)"""
    src = spec.sources[name]
    if src.curate is not None:
        return bool(src.curate)
    return spec.curate is not None and scheme(src.path) == "demo"
