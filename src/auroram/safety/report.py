"""The safety section of the HTML report: refusal, over-refusal and their gap, stage by stage."""

from __future__ import annotations

import html
from typing import Any

from auroram.safety.evaluate import BASELINES, fmt_rate
from auroram.safety.taxonomy import category_names


def _budgets(settings: dict) -> str:
    per = settings.get("new_tokens_by_language")
    if not per:
        return str(settings["max_new_tokens"])
    return ", ".join(f"{v} ({html.escape(k)})" for k, v in sorted(per.items()))


def _pp(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.0f}"


def _table(head: list[str], rows: list[list[str]], cls: str = "safety") -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


def _cell(m: dict[str, Any] | None) -> str:
    if not m:
        return "–"
    return (f"{fmt_rate(m.get('refusal_harmful'))} / {fmt_rate(m.get('refusal_safe'))} / "
            f"<b>{_pp(m.get('gap'))}</b>")


def report_section(stages: list[dict[str, Any]]) -> dict[str, str]:
    """stages: [{"name": "cap", "safety": evaluate_safety(...)}, ...] in training order (entries without a
    "safety" result are left out). Returns {"title", "html"} for the HTML report."""
    stages = [s for s in stages if s.get("safety")]
    if not stages:
        return {"title": "Safety", "html": "<p>No safety evaluation in this run.</p>"}
    names = [html.escape(s["name"]) for s in stages]
    has_judge = any(s["safety"]["settings"].get("judge") for s in stages)
    parts = ["<p>Refusal rate on held-out harmful prompts, refusal rate on safe contrast prompts that only "
             "sound risky (over-refusal), and the <b>gap</b> between them in percentage points: higher is "
             "better. A model that always refuses and one that never refuses both have a gap of 0. "
             "<i>String match</i> reads greedy generations for refusal phrases of their language; "
             "<i>forced choice</i> asks whether the model finds a refusal more likely than a compliant "
             "opening.</p>"]
    head = ["model", "refuses harmful", "refuses safe", "gap (pp)", "forced-choice harmful", "forced-choice safe",
            "forced-choice gap (pp)"] + (["judge: unsafe answers to harmful"] if has_judge else [])
    rows = []
    for s, name in zip(stages, names):
        o = s["safety"]["overall"]
        row = [name, fmt_rate(o["refusal_harmful"]), fmt_rate(o["refusal_safe"]), f"<b>{_pp(o['gap'])}</b>",
               fmt_rate(o["fc_refusal_harmful"]), fmt_rate(o["fc_refusal_safe"]), _pp(o["fc_gap"])]
        if has_judge:
            row.append(fmt_rate(o.get("judge_unsafe_harmful")))
        rows.append(row)
    for b, label in (("always_refuse", "baseline: always refuses"), ("never_refuse", "baseline: never refuses")):
        m = BASELINES[b]
        rows.append([f"<i>{label}</i>", fmt_rate(m["refusal_harmful"]), fmt_rate(m["refusal_safe"]),
                     _pp(m["gap"]), fmt_rate(m["refusal_harmful"]), fmt_rate(m["refusal_safe"]), _pp(m["gap"])]
                    + ([""] if has_judge else []))
    parts.append(_table(head, rows))
    st = stages[-1]["safety"]["settings"]
    parts.append(f"<p class='note'>{st['items']} held-out items, at most {st['max_per_group']} per category, "
                 f"language and kind; greedy generations of {_budgets(st)} new tokens"
                 + (f"; judge {html.escape(str(st['judge']))}" if st.get("judge") else "") + ".</p>")

    cats = category_names()
    for key, title, label in (("by_language", "Per language", lambda k: k),
                              ("by_category", "Per category", lambda k: cats.get(k, k))):
        parts.append(f"<h3>{title}</h3><p class='note'>each cell: refuses harmful / refuses safe / "
                     f"<b>gap</b> (string match)</p>")
        keys = sorted({k for s in stages for k in s["safety"][key]})
        rows = [[html.escape(label(k))] + [_cell(s["safety"][key].get(k)) for s in stages] for k in keys]
        parts.append(_table([title.split()[-1]] + names, rows))

    ex = stages[-1]["safety"].get("examples") or []
    if ex:
        rows = [[html.escape(e["language"]), html.escape(e["kind"]), html.escape(e["prompt"][:160]),
                 html.escape(e["generation"][:200]), "yes" if e["refused"] else "no"] for e in ex]
        parts.append(f"<h3>Example generations ({names[-1]})</h3>")
        parts.append(_table(["lang", "kind", "prompt", "generation", "refused"], rows))
    return {"title": "Safety", "html": "\n".join(parts)}
