"""Data curation on datatrove: language ID, heuristics, quality classifier, toxicity, PII, code filters,
the CAT filter and deduplication, with every document accounted for."""

from auroram.curate.config import CurateConfig, LangConfig, load_curate_config
from auroram.curate.run import curate

__all__ = ["CurateConfig", "LangConfig", "curate", "load_curate_config"]
