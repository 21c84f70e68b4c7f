"""Aurora-M's CAT-stage cleaning: drop text dominated by symbols or digits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from auroram.curate.filters.base import Filter


@dataclass
class CatConfig:
    enabled: bool = True  # Aurora-M's CAT stage removed text heavy in symbols or numbers
    max_symbol_fraction: float = 0.3  # of non-space characters that are neither letters nor digits
    max_digit_fraction: float = 0.3


class CatFilter(Filter):
    name = "cat"
    Config = CatConfig
    language_defaults = {"code": {"enabled": False}}

    def filter(self, doc, lang, cfg):
        spaces, digits, symbols = char_classes(doc.text)
        chars = len(doc.text) - spaces
        if not chars:
            return True
        if symbols / chars > cfg.max_symbol_fraction:
            return False, "cat_symbols", f"{symbols / chars:.2f}"
        if digits / chars > cfg.max_digit_fraction:
            return False, "cat_digits", f"{digits / chars:.2f}"
        return True


@lru_cache(maxsize=1)
def _patterns():
    import regex  # the `curate` extra; the config loads without it

    # vowel signs are marks, not symbols (Hindi)
    return regex.compile(r"\s"), regex.compile(r"\p{Nd}"), regex.compile(r"[^\p{L}\p{M}\p{N}\s]")


@lru_cache(maxsize=1)
def _ascii_classes() -> tuple[bytes, bytes, bytes]:
    return tuple(bytes(i for i in range(128) if p.match(chr(i))) for p in _patterns())  # type: ignore[return-value]


_CHAR_CLASS: dict[str, tuple[int, int, int]] = {}


def char_classes(text: str) -> tuple[int, int, int]:
    """Whitespace, digit and symbol characters in text.

    Counted per distinct character, each classified once by the regexes: three regex scans of every
    character cost twice as much.
    """
    if text.isascii():  # C-speed deletions of each class, classified by the same regexes
        b, ascii_sets = text.encode("ascii"), _ascii_classes()
        return tuple(len(b) - len(b.translate(None, chars)) for chars in ascii_sets)  # type: ignore[return-value]
    space, digit, symbol = _patterns()
    spaces = digits = symbols = 0
    for c, n in Counter(text).items():
        k = _CHAR_CLASS.get(c)
        if k is None:
            if len(_CHAR_CLASS) > 1 << 16:
                _CHAR_CLASS.clear()
            k = _CHAR_CLASS[c] = (int(bool(space.match(c))), int(bool(digit.match(c))), int(bool(symbol.match(c))))
        spaces += k[0] * n
        digits += k[1] * n
        symbols += k[2] * n
    return spaces, digits, symbols
