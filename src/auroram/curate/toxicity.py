"""Toxic-phrase lists, one per language, in the LDNOOBW file format.

File format (UTF-8 text, one phrase per line):
  - a phrase is one or more words, matched case-insensitively;
  - in languages written with spaces, a phrase matches only as whole words ("ass" does not match "class");
    in Japanese, Chinese and Thai it matches anywhere (there are no word boundaries to wait for);
  - blank lines and lines starting with `#` are ignored.
The LDNOOBW lists (github: LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words) are already
in this format: download the language's file and point `toxicity.phrase_file` at it.

The built-in lists below are deliberately mild placeholders so the step works offline out of the box;
use a real list for real data.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import regex

from auroram.curate.text import SPACELESS

DEFAULT_PHRASES: dict[str, list[str]] = {
    "en": ["damn it", "piss off", "screw you", "bloody hell", "shut up, idiot"],
    "fi": ["perkele", "saatana", "painu helvettiin"],
    "hi": ["कमीना", "उल्लू का पट्ठा", "बदतमीज़"],
    "ja": ["くたばれ", "ばかやろう", "クソ野郎"],
    "vi": ["đồ ngu", "chết tiệt", "khốn nạn"],
}


def parse_phrases(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            out.append(s.lower())
    return out


class PhraseMatcher:
    def __init__(self, phrases: list[str], spaceless: bool):
        alts = "|".join(regex.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
        pattern = f"(?:{alts})" if spaceless else rf"(?<![\p{{L}}\p{{M}}\p{{N}}])(?:{alts})(?![\p{{L}}\p{{M}}\p{{N}}])"
        self.re = regex.compile(pattern, regex.IGNORECASE)

    def count(self, text: str) -> int:
        return len(self.re.findall(text))  # the pattern has no capturing groups: one item per match


@lru_cache(maxsize=64)
def load_matcher(lang: str, phrase_file: str | None) -> PhraseMatcher | None:
    if phrase_file:
        p = Path(phrase_file).expanduser()
        try:
            phrases = parse_phrases(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(f"{p}: toxicity phrase list is not valid UTF-8 (byte {e.start})") from None
    else:
        phrases = DEFAULT_PHRASES.get(lang, [])
    if not phrases:
        return None
    return PhraseMatcher(phrases, lang in SPACELESS)
