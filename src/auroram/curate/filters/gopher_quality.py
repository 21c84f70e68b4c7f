"""Gopher's quality rules (datatrove's GopherQualityFilter) with each language's word lengths and stop words."""

from __future__ import annotations

from dataclasses import dataclass
from auroram.curate.filters.base import DatatroveFilter


@dataclass
class GopherQualityConfig:
    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3  # characters; Japanese words are 1-3 characters (see languages.ja)
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1  # '#' and ellipses per word
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8  # minimum share of words holding a letter (Gopher's name kept)
    min_stop_words: int | None = 2  # distinct stop words a real sentence almost always has
    stop_words: list[str] | None = None  # None: the built-in list for the language


def stop_words(lang: str, g: GopherQualityConfig) -> list[str]:
    from auroram.curate.text import STOP_WORDS

    return g.stop_words if g.stop_words is not None else STOP_WORDS.get(lang, STOP_WORDS["en"])


def datatrove_filter(lang: str, g: GopherQualityConfig):
    """datatrove's GopherQualityFilter with one language's settings (spaceless scripts count stop words
    separately, as substrings: see GopherQualityFilter.filter)."""
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter as Gopher

    from auroram.curate.text import SPACELESS, word_tokenizer

    return Gopher(
        min_doc_words=g.min_doc_words, max_doc_words=g.max_doc_words, min_avg_word_length=g.min_avg_word_length,
        max_avg_word_length=g.max_avg_word_length, max_symbol_word_ratio=g.max_symbol_word_ratio,
        max_bullet_lines_ratio=g.max_bullet_lines_ratio, max_ellipsis_lines_ratio=g.max_ellipsis_lines_ratio,
        max_non_alpha_words_ratio=g.max_non_alpha_words_ratio,
        min_stop_words=None if lang in SPACELESS else g.min_stop_words, stop_words=stop_words(lang, g),
        language=word_tokenizer(lang))


class GopherQualityFilter(DatatroveFilter):
    name = "gopher_quality"
    Config = GopherQualityConfig
    language_defaults = {
        "fi": {"max_avg_word_length": 14},  # Finnish compounds run long
        "vi": {"max_avg_word_length": 8, "min_avg_word_length": 2},  # syllables, space-separated
        # Japanese words here are runs of one script; kanji runs are 1-4 characters
        "ja": {"min_avg_word_length": 1, "max_avg_word_length": 8, "max_non_alpha_words_ratio": 0.5},
        "code": {"enabled": False},
    }

    def build(self, lang, cfg):
        return datatrove_filter(lang, cfg)

    def filter(self, doc, lang, cfg):
        from auroram.curate.text import SPACELESS

        res = super().filter(doc, lang, cfg)
        if res is not True:
            return res
        if lang in SPACELESS and cfg.min_stop_words:  # no spaces to split on: stop words found as substrings
            if sum(1 for w in stop_words(lang, cfg) if w in doc.text) < cfg.min_stop_words:
                return False, "gopher_enough_stop_words"
        return True
