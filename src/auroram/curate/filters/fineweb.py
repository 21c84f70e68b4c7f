"""FineWeb's line rules (datatrove's FineWebQualityFilter) with each language's short-line length."""

from __future__ import annotations

from dataclasses import dataclass
from auroram.curate.filters.base import DatatroveFilter


@dataclass
class FineWebConfig:
    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30  # characters; Japanese packs more per character (see languages.ja)
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


def datatrove_filter(lang: str, g: FineWebConfig):
    from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter as FineWeb

    from auroram.curate.text import word_tokenizer

    return FineWeb(
        line_punct_thr=g.line_punct_thr, line_punct_exclude_zero=g.line_punct_exclude_zero,
        short_line_thr=g.short_line_thr, short_line_length=g.short_line_length,
        char_duplicates_ratio=g.char_duplicates_ratio, new_line_ratio=g.new_line_ratio,
        language=word_tokenizer(lang))


class FineWebFilter(DatatroveFilter):
    name = "fineweb"
    Config = FineWebConfig
    language_defaults = {"ja": {"short_line_length": 12}, "code": {"enabled": False}}

    def build(self, lang, cfg):
        return datatrove_filter(lang, cfg)
