"""Word splitting that works without spaces (Japanese) and with combining marks (Hindi), offline.

datatrove's own word tokenizers need nltk/spaCy models downloaded at run time; this one is a regex over
Unicode classes, plugged into datatrove's filters through its `WordTokenizer` interface.
"""

from __future__ import annotations

from functools import lru_cache

import regex
from datatrove.utils.word_tokenizers import WordTokenizer

# Japanese: a word is a run of one script (kanji, hiragana, katakana) - crude, but stable and fast.
# Everything else: letters with their combining marks (Devanagari vowel signs are marks, which
# Python's `re` \w does not match), digits, and inner apostrophes/hyphens.
_WORD_JA = regex.compile(
    r"\p{Han}+|\p{Hiragana}+|[\p{Katakana}ー]+|[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*")
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*")
# symbol-only tokens also count as words for Gopher's ratios, as nltk's tokens would
_TOKEN_JA = regex.compile(_WORD_JA.pattern + r"|[^\s\p{L}\p{M}\p{N}]+")
_TOKEN = regex.compile(_WORD.pattern + r"|[^\s\p{L}\p{M}\p{N}]+")
_SENT_END = regex.compile(r"(?<=[.!?。！？।॥])\s*")

SPACELESS = {"ja", "zh", "th"}

STOP_WORDS: dict[str, list[str]] = {
    "en": ["the", "be", "to", "of", "and", "that", "have", "with"],
    "fi": ["ja", "on", "ei", "se", "että", "tai", "kun", "voi", "ovat", "jos", "tämä"],
    "hi": ["के", "का", "की", "है", "में", "और", "को", "से", "पर", "यह", "हैं"],
    "vi": ["và", "của", "là", "có", "các", "không", "được", "trong", "cho", "này", "một"],
    # hiragana runs glue particles together, so Japanese stop words are matched as substrings
    "ja": ["の", "に", "は", "を", "た", "が", "で", "て", "と", "し"],
}


def split_words(text: str, lang: str) -> list[str]:
    return (_WORD_JA if lang in SPACELESS else _WORD).findall(text)


def split_tokens(text: str, lang: str) -> list[str]:
    return (_TOKEN_JA if lang in SPACELESS else _TOKEN).findall(text)


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENT_END.split(text) if s.strip()]


class ScriptWordTokenizer(WordTokenizer):
    """datatrove's WordTokenizer over `split_tokens`; one instance per language so its lru caches hit."""

    def word_tokenize(self, text: str) -> list[str]:
        return split_tokens(text, self.language)

    def sent_tokenize(self, text: str) -> list[str]:
        return split_sentences(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for s in split_sentences(text):
            i = text.index(s, start)
            spans.append((i, i + len(s)))
            start = i + len(s)
        return spans

    def __reduce__(self):  # pickled into worker processes: rebuild the shared instance there
        return (word_tokenizer, (self.language,))


@lru_cache(maxsize=None)
def word_tokenizer(lang: str) -> ScriptWordTokenizer:
    return ScriptWordTokenizer(lang)
