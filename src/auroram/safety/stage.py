"""The safety steps as `auroram run` and `auroram safety ...` call them.

Layout of a safety directory (runs/<recipe>/safety by default):
    set/items.jsonl, set/manifest.json   the built set (all splits), or the user's imported one
    review.db                            review decisions (SQLite); survives rebuilds and restarts
    approved_train.jsonl                 approved train-split items: the CAT source (prompt_response)
    export.json                          what was exported, by review status
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from auroram.io import DiskFullError, write_json
from auroram.safety.build import ITEMS_FILE, build_safety_set
from auroram.safety.items import REJECTED, read_items
from auroram.safety.review import ReviewDB, export_approved

SET_DIR = "set"
DB_FILE = "review.db"
APPROVED_FILE = "approved_train.jsonl"


def prepare_safety(out_dir: str | os.PathLike, *, seed: int = 1234, demo: bool = False,
                   items: str | os.PathLike | None = None) -> dict[str, Any]:
    """Build (or take `items`), load into the review database, auto-approve when `demo`, export the approved
    train split. Rerunning keeps every review decision; returns paths and counts."""
    out = Path(out_dir)
    if items is None:
        manifest = build_safety_set(out / SET_DIR, seed)
        items_path = out / SET_DIR / ITEMS_FILE
    else:
        manifest = None
        items_path = Path(items)
    db = ReviewDB(out / DB_FILE)
    try:
        imported = db.import_items(read_items(items_path))
        auto = db.auto_approve() if demo else 0
        exported = export_approved(db, out / APPROVED_FILE, split="train")
        progress = db.progress()
    except sqlite3.OperationalError as e:  # "database or disk is full", a locked file: say which database
        if "full" in str(e):
            raise DiskFullError(f"no space left on device while writing {out / DB_FILE} ({e}); "
                                "review decisions made so far are kept") from e
        raise RuntimeError(f"{out / DB_FILE}: {e}") from e
    finally:
        db.close()
    info = {"items": str(items_path), "db": str(out / DB_FILE), "approved_jsonl": str(out / APPROVED_FILE),
            "imported": imported, "auto_approved_demo": auto, "exported": exported, "progress": progress,
            "manifest_counts": manifest["counts"] if manifest else None}
    write_json(out / "export.json", info)
    if exported["items"] == 0:
        raise ValueError(f"{out / DB_FILE}: no approved train items to mix into CAT (review them with "
                         f"`auroram safety review --db {out / DB_FILE}`, or use the demo's auto-approval)")
    return info


def eval_items(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Held-out items to evaluate on: every one in the set except those reviewers rejected."""
    out = Path(out_dir)
    db_path = out / DB_FILE
    if db_path.is_file():
        db = ReviewDB(db_path)
        try:
            return [it for it in db.items() if it["split"] == "heldout" and it["review_status"] != REJECTED]
        finally:
            db.close()
    return [it for it in read_items(out / SET_DIR / ITEMS_FILE) if it["split"] == "heldout"]


def evaluate_stage(model: Any, tokenizer: Any, out_dir: str | os.PathLike, *, max_per_group: int | None = 10,
                   max_new_tokens: int = 32, batch_size: int = 32, judge_dir: str | None = None,
                   seed: int = 0) -> dict[str, Any]:
    """The safety result of one stage's model (goes into report.json under stages[i]["safety"])."""
    from auroram.safety.evaluate import ClassifierJudge, evaluate_safety

    judge = ClassifierJudge(judge_dir) if judge_dir else None
    return evaluate_safety(model, tokenizer, eval_items(out_dir), max_per_group=max_per_group,
                           max_new_tokens=max_new_tokens, batch_size=batch_size, judge=judge, seed=seed)


def eval_model_dir(model_dir: str | os.PathLike, items: str | os.PathLike, **kw: Any) -> dict[str, Any]:
    """`auroram safety eval MODEL_DIR --items FILE`: any local HF causal LM on a set's held-out items."""
    import torch

    from auroram.model.build import load_base
    from auroram.safety.evaluate import ClassifierJudge, evaluate_safety

    model, tok = load_base(str(model_dir))
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    judge_dir = kw.pop("judge_dir", None)
    judge = ClassifierJudge(judge_dir) if judge_dir else None
    with torch.inference_mode():
        return evaluate_safety(model, tok, read_items(items), judge=judge, **kw)


def format_table(result: dict[str, Any]) -> str:
    """Plain-text summary for the terminal."""
    from auroram.safety.evaluate import fmt_rate

    lines = [f"{'':<12}{'harmful':>9}{'safe':>7}{'gap':>7}{'fc gap':>8}"]

    def row(name: str, m: dict) -> str:
        gap = "–" if m["gap"] is None else f"{100 * m['gap']:+.0f}"
        fc = "–" if m["fc_gap"] is None else f"{100 * m['fc_gap']:+.0f}"
        return f"{name:<12}{fmt_rate(m['refusal_harmful']):>9}{fmt_rate(m['refusal_safe']):>7}{gap:>7}{fc:>8}"

    lines.append(row("all", result["overall"]))
    for k, m in result["by_language"].items():
        lines.append(row(k, m))
    for k, m in result["by_category"].items():
        lines.append(row(k, m))
    lines.append("baselines: always refuse and never refuse both have gap +0")
    return "\n".join(lines)


def summarize_manifest(manifest: dict[str, Any]) -> str:
    lines = [f"{manifest['items']} items (seed {manifest['seed']})", f"{'lang':<6}{'category':<10}"
             f"{'harmful train/held-out':>24}{'safe train/held-out':>22}"]
    for lang, cats in manifest["counts"].items():
        for cat, kinds in cats.items():
            h, s = kinds.get("harmful", {}), kinds.get("safe_contrast", {})
            lines.append(f"{lang:<6}{cat:<10}{h.get('train', 0):>17}/{h.get('heldout', 0):<6}"
                         f"{s.get('train', 0):>15}/{s.get('heldout', 0):<6}")
    return "\n".join(lines)
