"""Data curation on datatrove: language ID, heuristics, quality classifier, toxicity, PII, code filters,
the CAT filter and deduplication, with every document accounted for.

datatrove is the optional `curate` extra, so nothing here imports it until curation actually runs: the
configuration and the command's parser load without it."""

from __future__ import annotations

from typing import Any

__all__ = ["CurateConfig", "LangConfig", "curate", "load_curate_config"]


def __getattr__(name: str) -> Any:
    if name in ("CurateConfig", "LangConfig", "load_curate_config"):
        from auroram.curate import config

        return getattr(config, name)
    if name == "curate":
        from auroram.curate.run import curate

        return curate
    raise AttributeError(f"module 'auroram.curate' has no attribute {name!r}")
