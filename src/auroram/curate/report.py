"""The run report's curation section: what went in, what was kept, and what was dropped where and why."""

from __future__ import annotations

from typing import Any

from auroram.report.sections import bullets, heading, section, table, text


def _mb(b: int) -> str:
    return f"{b / 1e6:,.2f}"


def _top(counts: dict[str, int], n: int | None = None) -> str:
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v:,}" for k, v in ranked) or "-"


def report_section(stats: dict[str, Any]) -> dict[str, Any]:
    """The curation section (auroram.report.sections data) from a curate stats.json."""
    t = stats["totals"]
    per_step = stats.get("per_step", {})
    lang_rows = [[lang, v["docs_kept"] + v["docs_dropped"], v["docs_kept"], _mb(v["bytes_kept"]), v["docs_dropped"],
                  _top(v["dropped"], 4)] for lang, v in stats.get("by_language", {}).items()]
    step_rows = []
    for step in stats.get("steps", []):
        counts = per_step[step].values()
        docs_in = sum(c["docs_in"] for c in counts)
        kept = sum(c["docs_kept"] for c in counts)
        reasons: dict[str, int] = {}
        for c in counts:
            for r, d in c["dropped"].items():
                reasons[r] = reasons.get(r, 0) + d["docs"]
        step_rows.append([step, docs_in, _mb(sum(c["bytes_in"] for c in counts)), kept, docs_in - kept,
                          _top(reasons)])
    extra = []
    for lang, q in (stats.get("quality_models") or {}).items():
        extra.append(f"quality classifier {lang}: held-out AUC {q['auc_heldout']:.3f} ({q['good_docs']:,} good vs "
                     f"{q['pool_docs']:,} pool documents, threshold {q['threshold']})")
    if stats.get("dedup"):
        d = stats["dedup"]
        extra.append(f"deduplication: {d['candidate_pairs']:,} candidate pairs, {d['verified_pairs']:,} verified, "
                     f"{d['removed']:,} documents removed")
    kinds: dict[str, int] = {}
    for per in (stats.get("pii_replacements") or {}).values():
        for k, n in per.items():
            kinds[k] = kinds.get(k, 0) + n
    if kinds:
        extra.append("PII replaced: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))
    langid: list[dict[str, Any]] = []
    if stats.get("langid_eval"):
        from auroram.curate.langid_eval import langid_table

        langid = [heading("Language ID accuracy"), langid_table(stats["langid_eval"])]
    balanced = "balanced" if t["balanced"] else "NOT balanced"
    return section(
        "Curation",
        text(f"{t['docs_in']:,} documents ({_mb(t['bytes_in'])} MB) in, {t['docs_kept']:,} kept "
             f"({_mb(t['bytes_kept'])} MB), {t['docs_dropped']:,} dropped: in = kept + dropped is {balanced}."),
        table(["language", "docs in", "kept", "MB kept", "dropped", "top reasons"], lang_rows),
        table(["step", "docs in", "MB in", "kept", "dropped", "reasons"], step_rows),
        bullets(extra),
        *langid,
    )
