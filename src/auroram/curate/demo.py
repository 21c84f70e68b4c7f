"""Curation of the demo corpus: its train splits routed to their domains, settings scaled to its short
documents, one kept JSONL per domain (what `demo:` sources read when a recipe curates), and language-ID
accuracy on its held-out paragraphs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from auroram.curate.config import CurateConfig, load_curate_config
from auroram.errors import require_extra

DEMO_DOMAINS = ["en", "fi", "hi", "ja", "vi", "code"]


def demo_config() -> CurateConfig:
    """The demo corpus is help-page paragraphs and man-page sections, far shorter than web pages: the
    length and sentence-count rules are scaled down; everything else is the default."""
    short = {
        "gopher_quality": {"min_doc_words": 5, "min_stop_words": 1, "max_non_alpha_words_ratio": 0.5},
        "c4": {"min_num_sentences": 1, "filter_no_terminal_punct": False, "filter_curly_bracket": False},
        "fineweb": {"line_punct_thr": 0.0, "short_line_thr": 1.0, "new_line_ratio": 1.0},
        "gopher_repetition": {"dup_line_frac": 0.5, "dup_line_char_frac": 0.4},
    }
    ja = {**short, "c4": {**short["c4"], "min_words_per_line": -1}, "gopher_quality": {"min_doc_words": 5}}
    return load_curate_config(data={"languages": {"en": short, "fi": short, "hi": short, "vi": short, "ja": ja,
                                                  "code": {}},
                                    "langid": {"min_score": 0.3}})


def curate_demo(corpus_dir: str | Path, out_dir: str | Path, *, config: CurateConfig | None = None,
                tasks: int = 1, workers: int = 1, quiet: bool = True) -> tuple[dict[str, Path], dict[str, Any]]:
    """Curate the demo corpus's train files (each routed to its domain) into out_dir; return one kept
    JSONL per domain (the new `sources` paths) and the stats."""
    require_extra("datatrove", "curate", "the curate step")
    from auroram.curate.run import KEPT_GLOB, curate
    from auroram.io import atomic_file, write_json

    corpus = Path(corpus_dir) / "corpus"
    inputs = [(str(corpus / d / "train.jsonl"), d) for d in DEMO_DOMAINS if (corpus / d / "train.jsonl").is_file()]
    out = Path(out_dir)
    stats = curate(inputs, out, config=config or demo_config(), tasks=tasks, workers=workers, quiet=quiet)
    by_domain = {Path(p).parent.name: out / "by_domain" / f"{Path(p).parent.name}.jsonl" for p, _ in inputs}
    done = out / "by_domain" / "done.json"
    if not (done.is_file() and json.loads(done.read_text()).get("hash") == stats.get("run_hash")):
        with contextlib.ExitStack() as st:
            handles = {d: st.enter_context(atomic_file(p, "w")) for d, p in by_domain.items()}
            for f in sorted((out / "kept").glob(KEPT_GLOB)):
                with open(f, encoding="utf-8") as fh:
                    for line in fh:
                        rec = json.loads(line)
                        h = handles.get(rec.get("lang"))
                        if h is not None:
                            h.write(json.dumps({"id": rec["id"], "text": rec["text"], "source": rec.get("file")},
                                               ensure_ascii=False) + "\n")
        write_json(done, {"hash": stats.get("run_hash")})
    evaluation = demo_langid_eval(corpus_dir, out, config or demo_config())
    if evaluation is not None:
        stats = {**stats, "langid_eval": evaluation}
    return by_domain, stats


def demo_langid_eval(corpus_dir: str | Path, out_dir: str | Path, config: CurateConfig) -> dict[str, Any] | None:
    """Language-ID accuracy on the demo's held-out paragraphs, kept in out_dir/langid_eval.json (redone only
    when the language-ID settings or the val files change); None when the corpus has no val splits."""
    from auroram.curate.config import DEMO_LANGUAGES
    from auroram.curate.langid_eval import langid_eval_demo
    from auroram.io import hash_obj, read_json, write_json

    corpus = Path(corpus_dir) / "corpus"
    vals = [corpus / lang / "val.jsonl" for lang in DEMO_LANGUAGES if (corpus / lang / "val.jsonl").is_file()]
    if not vals:
        return None
    h = hash_obj({"langid": config.to_dict()["langid"],
                  "files": [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in vals]})
    path = Path(out_dir) / "langid_eval.json"
    if path.is_file():
        cached = read_json(path)
        if cached.get("hash") == h:
            return cached["result"]
    result = langid_eval_demo(corpus_dir, config)
    write_json(path, {"hash": h, "result": result})
    return result
