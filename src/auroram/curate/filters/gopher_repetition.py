"""Gopher's repetition rules (datatrove's GopherRepetitionFilter) with each language's word splitting."""

from __future__ import annotations

from dataclasses import dataclass, field
from auroram.curate.filters.base import DatatroveFilter


@dataclass
class GopherRepetitionConfig:
    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = field(default_factory=lambda: [(2, 0.2), (3, 0.18), (4, 0.16)])
    dup_n_grams: list[tuple[int, float]] = field(
        default_factory=lambda: [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)])


def datatrove_filter(lang: str, g: GopherRepetitionConfig):
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter as Repetition

    from auroram.curate.text import word_tokenizer

    return Repetition(
        dup_line_frac=g.dup_line_frac, dup_para_frac=g.dup_para_frac, dup_line_char_frac=g.dup_line_char_frac,
        dup_para_char_frac=g.dup_para_char_frac, top_n_grams=tuple(map(tuple, g.top_n_grams)),
        dup_n_grams=tuple(map(tuple, g.dup_n_grams)), language=word_tokenizer(lang))


class GopherRepetitionFilter(DatatroveFilter):
    name = "gopher_repetition"
    Config = GopherRepetitionConfig
    language_defaults = {"code": {"enabled": False}}

    def build(self, lang, cfg):
        return datatrove_filter(lang, cfg)
