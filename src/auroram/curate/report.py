"""The run report's curation section: what went in, what was kept, and what was dropped where and why."""

from __future__ import annotations

import html
from typing import Any


def _mb(b: int) -> str:
    return f"{b / 1e6:,.2f}"


def report_section(stats: dict[str, Any]) -> dict[str, str]:
    """{"title", "html"} for the HTML report, from a curate stats.json."""
    t = stats["totals"]
    langs = stats.get("by_language", {})
    per_step = stats.get("per_step", {})
    rows = []
    for lang, v in langs.items():
        docs_in = per_step.get("langid", {}).get(lang, {}).get("docs_in")
        if docs_in is None:
            docs_in = v["docs_kept"] + v["docs_dropped"]
        top = sorted(v["dropped"].items(), key=lambda kv: -kv[1])[:4]
        why = ", ".join(f"{html.escape(k)} {n:,}" for k, n in top) or "-"
        rows.append(f"<tr><td>{html.escape(lang)}</td><td>{v['docs_kept'] + v['docs_dropped']:,}</td>"
                    f"<td>{v['docs_kept']:,}</td><td>{_mb(v['bytes_kept'])}</td><td>{v['docs_dropped']:,}</td>"
                    f"<td>{why}</td></tr>")
    step_rows = []
    for step in stats.get("steps", []):
        c_in = sum(c["docs_in"] for c in per_step[step].values())
        b_in = sum(c["bytes_in"] for c in per_step[step].values())
        kept = sum(c["docs_kept"] for c in per_step[step].values())
        reasons: dict[str, int] = {}
        for c in per_step[step].values():
            for r, d in c["dropped"].items():
                reasons[r] = reasons.get(r, 0) + d["docs"]
        why = ", ".join(f"{html.escape(r)} {n:,}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])) or "-"
        step_rows.append(f"<tr><td>{html.escape(step)}</td><td>{c_in:,}</td><td>{_mb(b_in)}</td><td>{kept:,}</td>"
                         f"<td>{c_in - kept:,}</td><td>{why}</td></tr>")
    extra = []
    for lang, q in (stats.get("quality_models") or {}).items():
        extra.append(f"<li>quality classifier <b>{html.escape(lang)}</b>: held-out AUC {q['auc_heldout']:.3f} "
                     f"({q['good_docs']:,} good vs {q['pool_docs']:,} pool documents, threshold {q['threshold']})</li>")
    if stats.get("dedup"):
        d = stats["dedup"]
        extra.append(f"<li>deduplication: {d['candidate_pairs']:,} candidate pairs, {d['verified_pairs']:,} verified, "
                     f"{d['removed']:,} documents removed</li>")
    pii = stats.get("pii_replacements") or {}
    if pii:
        kinds: dict[str, int] = {}
        for per in pii.values():
            for k, n in per.items():
                kinds[k] = kinds.get(k, 0) + n
        extra.append("<li>PII replaced: " + ", ".join(f"{html.escape(k)} {n:,}" for k, n in sorted(kinds.items()))
                     + "</li>")
    ok = "balanced" if t["balanced"] else "<b>NOT balanced</b>"
    langid = ""
    if stats.get("langid_eval"):
        from auroram.curate.langid_eval import langid_table_html

        langid = langid_table_html(stats["langid_eval"])
    body = (
        f"<p>{t['docs_in']:,} documents ({_mb(t['bytes_in'])} MB) in, {t['docs_kept']:,} kept "
        f"({_mb(t['bytes_kept'])} MB), {t['docs_dropped']:,} dropped: in = kept + dropped is {ok}.</p>"
        "<table><thead><tr><th>language</th><th>docs in</th><th>kept</th><th>MB kept</th><th>dropped</th>"
        "<th>top reasons</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "<table><thead><tr><th>step</th><th>docs in</th><th>MB in</th><th>kept</th><th>dropped</th>"
        "<th>reasons</th></tr></thead><tbody>" + "".join(step_rows) + "</tbody></table>"
        + (f"<ul>{''.join(extra)}</ul>" if extra else "")
        + langid
    )
    return {"title": "Curation", "html": body}
