"""The safety section of the run report: refusal, over-refusal and their gap, stage by stage."""

from __future__ import annotations

from typing import Any

from auroram.report.sections import cell, heading, section, table, text
from auroram.safety.evaluate import BASELINES, fmt_rate
from auroram.safety.taxonomy import category_names


def _budgets(settings: dict) -> str:
    per = settings.get("new_tokens_by_language")
    if not per:
        return str(settings["max_new_tokens"])
    return ", ".join(f"{v} ({k})" for k, v in sorted(per.items()))


def _pp(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.0f}"


def _group_cell(m: dict[str, Any] | None) -> str | None:
    if not m:
        return None
    return f"{fmt_rate(m.get('refusal_harmful'))} / {fmt_rate(m.get('refusal_safe'))} / {_pp(m.get('gap'))}"


def report_section(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """stages: [{"name": "cap", "safety": evaluate_safety(...)}, ...] in training order (entries without a
    "safety" result are left out). Returns the section as auroram.report.sections data."""
    stages = [s for s in stages if s.get("safety")]
    if not stages:
        return section("Safety", text("No safety evaluation in this run."))
    names = [str(s["name"]) for s in stages]
    has_judge = any(s["safety"]["settings"].get("judge") for s in stages)
    intro = text("Refusal rate on held-out harmful prompts, refusal rate on safe contrast prompts that only sound "
                 "risky (over-refusal), and the gap between them in percentage points: higher is better. A model "
                 "that always refuses and one that never refuses both have a gap of 0. String match reads greedy "
                 "generations for refusal phrases of their language; forced choice asks whether the model finds a "
                 "refusal more likely than a compliant opening.")
    head = ["model", "refuses harmful", "refuses safe", "gap (pp)", "forced-choice harmful", "forced-choice safe",
            "forced-choice gap (pp)"] + (["judge: unsafe answers to harmful"] if has_judge else [])
    rows: list[list[Any]] = []
    for s, name in zip(stages, names):
        o = s["safety"]["overall"]
        row = [name, fmt_rate(o["refusal_harmful"]), fmt_rate(o["refusal_safe"]), cell(_pp(o["gap"]), strong=True),
               fmt_rate(o["fc_refusal_harmful"]), fmt_rate(o["fc_refusal_safe"]), _pp(o["fc_gap"])]
        if has_judge:
            row.append(fmt_rate(o.get("judge_unsafe_harmful")))
        rows.append(row)
    for b, label in (("always_refuse", "baseline: always refuses"), ("never_refuse", "baseline: never refuses")):
        m = BASELINES[b]
        rows.append([label, fmt_rate(m["refusal_harmful"]), fmt_rate(m["refusal_safe"]), _pp(m["gap"]),
                     fmt_rate(m["refusal_harmful"]), fmt_rate(m["refusal_safe"]), _pp(m["gap"])]
                    + ([""] if has_judge else []))
    st = stages[-1]["safety"]["settings"]
    settings = text(f"{st['items']} held-out items, at most {st['max_per_group']} per category, language and kind; "
                    f"greedy generations of {_budgets(st)} new tokens"
                    + (f"; judge {st['judge']}" if st.get("judge") else "") + ".", note=True)
    blocks = [intro, table(head, rows), settings]

    cats = category_names()
    for key, title, label in (("by_language", "Per language", lambda k: k),
                              ("by_category", "Per category", lambda k: cats.get(k, k))):
        keys = sorted({k for s in stages for k in s["safety"][key]})
        blocks += [heading(title),
                   text("each cell: refuses harmful / refuses safe / gap in pp (string match)", note=True),
                   table([title.split()[-1]] + names,
                         [[label(k)] + [_group_cell(s["safety"][key].get(k)) for s in stages] for k in keys])]

    ex = stages[-1]["safety"].get("examples") or []
    if ex:
        rows = [[e["language"], e["kind"], e["prompt"][:160], e["generation"][:200], "yes" if e["refused"] else "no"]
                for e in ex]
        blocks += [heading(f"Example generations ({names[-1]})"),
                   table(["lang", "kind", "prompt", "generation", "refused"], rows)]
    return section("Safety", *blocks)
