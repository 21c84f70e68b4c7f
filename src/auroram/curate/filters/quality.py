"""The quality classifier: trained before the run on a good reference set against the run's own input, so
every task scores with the same model; documents scoring below the threshold are dropped."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auroram.curate.filters.base import Filter


@dataclass
class QualityConfig:
    enabled: bool = False  # needs a "good" reference set; the tool trains the classifier before curating
    good_path: str | None = None  # JSONL/text/parquet of good documents (Aurora-M: Wikipedia-referenced pages)
    threshold: float = 0.5  # documents scoring below are dropped as `low_quality`
    planted_bad_path: str | None = None  # known-bad documents: AUC of held-out good vs these is reported too
    max_train_docs: int = 20_000  # per class; more adds little to a linear model
    heldout_fraction: float = 0.2  # of each class, kept out of training to measure AUC
    hash_bits: int = 18  # feature space 2^18; collisions cost less than a vocabulary pass over terabytes
    epochs: int = 60
    l2: float = 1e-4


class QualityFilter(Filter):
    name = "quality"
    Config = QualityConfig

    def __init__(self, work_dir: str = ""):
        super().__init__(work_dir)
        self._models: dict[str, Any] = {}

    def filter(self, doc, lang, cfg):
        from auroram.curate.quality import QualityModel

        if lang not in self._models:
            p = Path(self.work_dir) / "quality" / f"{lang}.npz"
            self._models[lang] = QualityModel.load(p) if p.is_file() else None
        m = self._models[lang]
        if m is None:
            return True
        score = float(m.score([doc.text])[0])
        doc.metadata["quality_score"] = round(score, 4)
        if score < cfg.threshold:
            return False, "low_quality", f"{score:.3f} < {cfg.threshold}"
        return True

    @classmethod
    def problems(cls, cfg):
        if cfg.enabled and not cfg.good_path:
            yield "good_path", "the quality classifier needs a good reference set"
        if not 0 < cfg.heldout_fraction < 1:
            yield "heldout_fraction", "must be within (0, 1)"

    def prepare(self, cfg, files, quiet):
        """Train each language's classifier not trained yet: the good set against that language's first
        `max_train_docs` input documents (language from the input's route, else language ID)."""
        from auroram.curate.config import resolved_languages
        from auroram.curate.quality import train_with_heldout
        from auroram.curate.readers import CurateInputError, list_inputs, read_file
        from auroram.curate.steps import LangIdStep
        from auroram.io import write_json

        work = Path(self.work_dir)
        langs = {lang: lc.quality for lang, lc in resolved_languages(cfg).items() if lc.quality.enabled}
        todo = {lang: q for lang, q in langs.items() if not (work / "quality" / f"{lang}.npz").is_file()}
        if not todo:
            return
        lid = LangIdStep(cfg, "train")
        pool: dict[str, list[str]] = {lang: [] for lang in todo}
        for i, f in enumerate(files):
            if all(len(pool[lang]) >= todo[lang].max_train_docs for lang in todo):
                break
            for doc in read_file(f, i, cfg.reader):
                if doc.metadata.get("rejected") or not doc.text.strip():
                    continue
                hint = doc.metadata.get("lang_hint")
                lang = hint if hint else lid.detect(doc.text)[0]
                if lang in pool and len(pool[lang]) < todo[lang].max_train_docs:
                    pool[lang].append(doc.text)
        for lang, q in todo.items():
            good_files = list_inputs([(q.good_path, lang)], cfg.reader)
            good = []
            for i, f in enumerate(good_files):
                for doc in read_file(f, i, cfg.reader):
                    if not doc.metadata.get("rejected") and doc.text.strip() and len(good) < q.max_train_docs:
                        good.append(doc.text)
            if len(good) < 2 or len(pool[lang]) < 2:
                raise CurateInputError(f"languages.{lang}.quality: needs at least 2 good and 2 pool documents "
                                       f"(have {len(good)} good from {q.good_path}, {len(pool[lang])} in the inputs)")
            bad = None
            if q.planted_bad_path:
                bad = [d.text for i, f in enumerate(list_inputs([(q.planted_bad_path, lang)], cfg.reader))
                       for d in read_file(f, i, cfg.reader) if not d.metadata.get("rejected") and d.text.strip()]
            model, report = train_with_heldout(good, pool[lang], lang, heldout_fraction=q.heldout_fraction,
                                               bits=q.hash_bits, epochs=q.epochs, l2=q.l2, planted_bad=bad)
            report["threshold"] = q.threshold
            model.save(work / "quality" / f"{lang}.npz")
            write_json(work / "quality" / f"{lang}.json", report)
            if not quiet:
                print(f"quality classifier {lang}: held-out AUC {report['auc_heldout']:.3f} "
                      f"({len(good)} good vs {len(pool[lang])} pool documents)", file=sys.stderr)
