"""Decontamination: drop every training document that shares an n-gram with an evaluation item.

The rule is GPT-3's and the bigcode tools': text is lower-cased, every character that is not a letter,
mark or digit becomes a space, and a training document is contaminated when it contains any 13-word
sequence of an evaluation item. Languages written without spaces (Japanese) have no words to count, so
their evaluation items are indexed by character n-grams instead (spaces and punctuation removed), and
every training document is checked against both indexes: a Japanese item pasted into an English page is
still found. Word n-grams are indexed for every item, Japanese included (its Latin runs are words). A character n-gram is indexed only when at least half of it is in a script written without
spaces: the Latin runs inside Japanese text ("iso88591iso88592windows12") would otherwise match any page
that lists the same encodings. An item shorter than n is indexed whole, down to `min_words` / `min_chars`; shorter items
are too generic to check and are counted as such.

n-grams are compared as 64-bit rolling hashes computed with numpy, so checking the demo corpus against
its held-out split takes seconds, not minutes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from auroram.io import write_text

DEFAULT_N_WORDS = 13
# ~13 Japanese words: the average Japanese word (with its particle) is about two characters
DEFAULT_N_CHARS = 25
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier for the rolling hash (golden-ratio constant)


class _Separators(dict):
    """str.translate table: letters, marks and digits stay (Devanagari vowel signs are marks), the rest go."""

    def __init__(self, replacement: str | None):
        super().__init__()
        self.replacement = replacement

    def __missing__(self, code: int) -> Any:
        keep = unicodedata.category(chr(code))[0] in "LMN"
        value = code if keep else self.replacement
        self[code] = value
        return value


_TO_SPACE = _Separators(" ")
_TO_NOTHING = _Separators(None)


def words(text: str) -> list[str]:
    return text.lower().translate(_TO_SPACE).split()


def chars(text: str) -> str:
    return text.lower().translate(_TO_NOTHING)


def _word_ids(ws: list[str]) -> np.ndarray:
    # hash() is salted per process but stable within it, which is all an in-memory index needs
    return np.fromiter((hash(w) for w in ws), np.int64, len(ws)).view(np.uint64)


def _char_ids(cs: str) -> np.ndarray:
    return np.frombuffer(cs.encode("utf-32-le"), np.uint32).astype(np.uint64) * np.uint64(0x100000001B3)


# scripts written without spaces between words: kana, CJK ideographs, Thai, Lao, Khmer, Myanmar
_SPACELESS = [(0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
              (0x0E00, 0x0EFF), (0x1780, 0x17FF), (0x1000, 0x109F), (0x20000, 0x2FFFF)]


_HAS_SPACELESS = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _SPACELESS) + "]")


def _spaceless_windows(cs: str, n: int) -> np.ndarray:
    """Per window of n characters: True when at least half of them are in a spaceless script."""
    code = np.frombuffer(cs.encode("utf-32-le"), np.uint32)
    flag = np.zeros(code.size, bool)
    for lo, hi in _SPACELESS:
        flag |= (code >= lo) & (code <= hi)
    csum = np.concatenate([[0], np.cumsum(flag)])
    return (csum[n:] - csum[:-n]) * 2 >= n


def _grams(ids: np.ndarray, n: int) -> np.ndarray:
    """Rolling 64-bit hash of every window of n ids (uint64 arithmetic wraps, as intended)."""
    if ids.size < n:
        return np.zeros(0, np.uint64)
    out = np.zeros(ids.size - n + 1, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            out = out * _MULT + ids[j : j + out.size]
        out ^= np.uint64(n)  # a 9-gram and a 13-gram never share a hash by construction of the length
    return out


@dataclass
class Hit:
    eval_set: str
    item: int  # index of the evaluation item within its set
    kind: str  # "words" or "chars"
    n: int
    gram: str  # the shared text, normalised, for the reason line

    def reason(self) -> str:
        unit = "word" if self.kind == "words" else "character"
        return f"shares a {self.n}-{unit} sequence with eval set '{self.eval_set}' item {self.item}: {self.gram!r}"


class _Index:
    def __init__(self) -> None:
        self.keys: list[np.ndarray] = []
        self.refs: list[np.ndarray] = []  # (set number, item) per key
        self.lengths: set[int] = set()

    def add(self, grams: np.ndarray, set_no: int, item: int, n: int) -> None:
        self.keys.append(grams)
        self.refs.append(np.tile(np.array([[set_no, item]], np.int64), (grams.size, 1)))
        self.lengths.add(n)

    def freeze(self) -> None:
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, np.uint64)
        refs = np.concatenate(self.refs) if self.refs else np.zeros((0, 2), np.int64)
        order = np.argsort(keys, kind="stable")
        self.sorted_keys, self.sorted_refs = keys[order], refs[order]
        self.keys, self.refs = [], []

    def first_hit(self, grams: np.ndarray) -> tuple[int, int, int] | None:
        """(position in grams, set number, item) of the first gram found in the index."""
        if not grams.size or not self.sorted_keys.size:
            return None
        order = np.argsort(grams)  # sorted queries walk the index in order: several times faster
        q = grams[order]
        pos = np.searchsorted(self.sorted_keys, q)
        pos[pos >= self.sorted_keys.size] = 0
        found = np.flatnonzero(self.sorted_keys[pos] == q)
        if not found.size:
            return None
        j = found[np.argmin(order[found])]  # the earliest position in the document, for a stable reason
        set_no, item = self.sorted_refs[pos[j]]
        return int(order[j]), int(set_no), int(item)


def doc_text(doc: Any) -> str:
    """The text of any document shape the pipeline carries: str, (prompt, response), segments, Conversation."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, tuple):
        return "\n".join(doc)
    if isinstance(doc, list):
        return "".join(t for t, _ in doc)
    if hasattr(doc, "turns"):
        return "\n".join(c for _, c in doc.turns)
    raise TypeError(f"cannot decontaminate a {type(doc).__name__}")


@dataclass
class SourceTally:
    checked: int = 0
    dropped: int = 0
    by_eval_set: Counter = field(default_factory=Counter)


class Decontaminator:
    """An index over the evaluation sets; `check` one text, or `filter` a stream of documents and keep score."""

    def __init__(
        self,
        eval_sets: Mapping[str, Iterable[str]],
        *,
        n: int = DEFAULT_N_WORDS,
        char_ngrams_for: Iterable[str] = ("ja",),
        char_n: int = DEFAULT_N_CHARS,
        langs: Mapping[str, str] | None = None,
        min_words: int = 8,
        min_chars: int = 12,
    ):
        if n <= 0 or char_n <= 0:
            raise ValueError(f"n-gram sizes must be positive, got n={n}, char_n={char_n}")
        self.n, self.char_n = n, char_n
        self.min_words, self.min_chars = min(min_words, n), min(min_chars, char_n)
        self.char_langs = set(char_ngrams_for)
        self.set_names = list(eval_sets)
        self.eval_items: dict[str, int] = {}
        self.too_short: dict[str, int] = {}
        self._word, self._char = _Index(), _Index()
        grams_none = np.zeros(0, np.uint64)
        for set_no, name in enumerate(self.set_names):
            lang = (langs or {}).get(name, name)
            by_chars = lang in self.char_langs
            count = short = 0
            for item, text in enumerate(eval_sets[name]):
                count += 1
                indexed = False
                if by_chars:
                    cs = chars(text)
                    k = min(len(cs), char_n)
                    grams = _grams(_char_ids(cs), k)[_spaceless_windows(cs, k)] if k else grams_none
                    if k >= self.min_chars and grams.size:
                        self._char.add(np.unique(grams), set_no, item, k)
                        indexed = True
                # words too, for every language: the Latin runs inside Japanese text are words like any other
                ws = words(text)
                k = min(len(ws), n)
                if k >= self.min_words:
                    self._word.add(np.unique(_grams(_word_ids(ws), k)), set_no, item, k)
                    indexed = True
                short += not indexed
            self.eval_items[name] = count
            self.too_short[name] = short
        self._word.freeze()
        self._char.freeze()
        self.tallies: dict[str, SourceTally] = {}
        self.drops: list[dict[str, Any]] = []

    def check(self, text: str) -> Hit | None:
        if self._word.sorted_keys.size:
            ws = words(text)
            ids = _word_ids(ws)
            for k in sorted(self._word.lengths, reverse=True):
                if (h := self._word.first_hit(_grams(ids, k))) is not None:
                    pos, set_no, item = h
                    return Hit(self.set_names[set_no], item, "words", k, " ".join(ws[pos : pos + k]))
        # every indexed character n-gram is half spaceless script, so a text with none cannot match
        if self._char.sorted_keys.size and _HAS_SPACELESS.search(text):
            cs = chars(text)
            ids = _char_ids(cs)
            for k in sorted(self._char.lengths, reverse=True):
                if (h := self._char.first_hit(_grams(ids, k))) is not None:
                    pos, set_no, item = h
                    return Hit(self.set_names[set_no], item, "chars", k, cs[pos : pos + k])
        return None

    def filter(self, docs: Iterable[Any], source: str = "source") -> Iterator[Any]:
        """Yield the clean documents; record each dropped one (source, index, reason) and count per source."""
        tally = self.tallies.setdefault(source, SourceTally())
        for i, doc in enumerate(docs):
            tally.checked += 1
            hit = self.check(doc_text(doc))
            if hit is None:
                yield doc
                continue
            tally.dropped += 1
            tally.by_eval_set[hit.eval_set] += 1
            where = {"file": doc.file, "line": doc.line} if hasattr(doc, "file") else {}
            self.drops.append({"source": source, "doc": i, **where, "eval_set": hit.eval_set,
                               "eval_item": hit.item, "reason": hit.reason()})

    def table(self) -> dict[str, Any]:
        """For the report: per source, documents checked / kept / dropped and dropped per eval set."""
        return {
            "rule": {"word_n": self.n, "char_n": self.char_n, "char_ngrams_for": sorted(self.char_langs),
                     "min_words": self.min_words, "min_chars": self.min_chars},
            "eval_sets": {s: {"items": self.eval_items[s], "too_short": self.too_short[s]} for s in self.set_names},
            "sources": {
                name: {"checked": t.checked, "kept": t.checked - t.dropped, "dropped": t.dropped,
                       "by_eval_set": dict(sorted(t.by_eval_set.items()))}
                for name, t in self.tallies.items()
            },
        }

    def write_drops(self, path: str | Path, source: str | None = None) -> None:
        rows = [d for d in self.drops if source is None or d["source"] == source]
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def decontaminate(
    train_docs: Iterable[Any],
    eval_texts: Mapping[str, Iterable[str]],
    n: int = DEFAULT_N_WORDS,
    char_ngrams_for: Iterable[str] = ("ja",),
    char_n: int = DEFAULT_N_CHARS,
    *,
    source: str = "train",
    langs: Mapping[str, str] | None = None,
) -> tuple[list[Any], list[dict[str, Any]], dict[str, Any]]:
    """(kept documents, dropped documents with reasons, table) for one stream of training documents.

    `eval_texts` maps an evaluation set's name to its items; the name is its language unless `langs`
    says otherwise (a set whose language is in `char_ngrams_for` is indexed by character n-grams)."""
    d = Decontaminator(eval_texts, n=n, char_ngrams_for=char_ngrams_for, char_n=char_n, langs=langs)
    kept = list(d.filter(train_docs, source))
    return kept, d.drops, d.table()


def format_table(table: Mapping[str, Any]) -> str:
    """Plain-text rendering of `Decontaminator.table()` (console and report)."""
    sets = list(table["eval_sets"])
    head = ["source", "checked", "dropped"] + sets
    rows = [[name, str(t["checked"]), str(t["dropped"])] + [str(t["by_eval_set"].get(s, 0)) for s in sets]
            for name, t in table["sources"].items()]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [head] + rows)
