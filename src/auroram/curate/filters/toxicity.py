"""Toxic phrases from a list per language (LDNOOBW format, see auroram.curate.toxicity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auroram.curate.filters.base import Filter


@dataclass
class ToxicityConfig:
    enabled: bool = True
    phrase_file: str | None = None  # LDNOOBW-style list (see docs/curate.md); None: the built-in placeholder list
    max_matches_per_1k_words: float = 0.0  # a document with more is dropped; 0: any match drops it
    min_matches: int = 1  # and it needs at least this many matches


class ToxicityFilter(Filter):
    name = "toxicity"
    Config = ToxicityConfig
    language_defaults = {"code": {"enabled": False}}

    def __init__(self, work_dir: str = ""):
        super().__init__(work_dir)
        self._matchers: dict[str, Any] = {}

    def filter(self, doc, lang, cfg):
        from auroram.curate.text import split_words
        from auroram.curate.toxicity import load_matcher

        m = self._matchers.get(lang)
        if m is None:
            m = self._matchers[lang] = load_matcher(lang, cfg.phrase_file)
        if m is None:
            return True
        n = m.count(doc.text)
        if n < cfg.min_matches or n == 0:
            return True
        if cfg.max_matches_per_1k_words > 0:
            words = max(len(split_words(doc.text, lang)), 1)
            if n * 1000 / words <= cfg.max_matches_per_1k_words:
                return True
        return False, "toxic_phrases", f"{n} matches"

    @classmethod
    def problems(cls, cfg):
        if cfg.phrase_file and not Path(cfg.phrase_file).expanduser().is_file():
            yield "phrase_file", f"'{cfg.phrase_file}' does not exist"
