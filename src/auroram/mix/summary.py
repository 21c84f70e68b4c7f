"""The mixture search's and the merge's results as report sections (auroram.report.sections) and as Markdown,
from their JSON files alone, so a search or merge directory re-renders whatever made it."""

from __future__ import annotations

from typing import Any

from auroram.mix.calibrate import FEATURES
from auroram.report.sections import cell, line_plot, section, table, text


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.2f}%"


def search_sections(s: dict[str, Any]) -> list[dict[str, Any]]:
    groups, domains = s["groups"], s["domains"]
    ref = s["reference_bpb"]
    rows = []
    for p in s["proxies"]:
        rows.append([p["index"], *[round(p["weights"][g], 3) for g in groups],
                     *[round(p["bpb"][d], 3) for d in domains], round(p["seconds"])])
    proxies = table(["proxy", *[f"w {g}" for g in groups], *domains, "seconds"], rows,
                    note="proxy 0 is the recipe's own mixture; the others are Dirichlet draws around it")
    fit_rows = [[d, f["model"], *[f["loo_mae"].get(k) for k in s["fit_models"]]] for d, f in s["fits"].items()]
    fits = table(["domain", "chosen", *[f"LOO MAE {k}" for k in s["fit_models"]]], fit_rows,
                 note="leave-one-out mean absolute error of each fit, bits per byte")
    out = [section("Mixture search", text(
        f"Stage {s['stage']} of recipe {s['recipe']}: {len(s['proxies'])} proxies of {s['proxy_tokens']:,} tokens "
        f"(model {s['proxy_model'] or 'as the recipe'}), budget {s['budget']}, objective: mean bits per byte of "
        f"{', '.join(s['objective'])}. Proxy compute {s['flops']['ratio']:.2f}x the full stage's."), proxies, fits)]
    chosen, hand = s.get("chosen"), s["recipe_mixture"]
    head = ["", *[f"w {g}" for g in groups], *domains, s["objective_name"]]

    def row(name: str, m: dict[str, Any], tone: bool) -> list[Any]:
        cells = [cell(round(m["predicted"][d], 3), tone=("worse" if tone and d in m.get("over", []) else None))
                 for d in domains]
        return [name, *[round(m["weights"][g], 3) for g in groups], *cells, round(m["objective"], 4)]

    rows = [["before the stage", *([""] * len(groups)), *[round(ref[d], 3) for d in domains], ""],
            row("recipe (predicted)", hand, True)]
    if chosen:
        rows.append(row("searched (predicted)", chosen, True))
    else:
        rows.append(row("closest to the budget", s["closest"], True))
    if s.get("margin"):
        mg = s["margin"]
        out.append(section("Margin", text(
            f"Margin {mg['rule']}: the search kept each budgeted domain inside its budget by "
            + ", ".join(f"{d} {100 * v:.2f} points (to {_pct(mg['search_limits'][d])})" for d, v in mg["by"].items())
            + ". 'over' and the budget columns still compare with the budget itself.")))
    out.append(section("Chosen mixture", table(head, rows, note="bits per byte predicted by the fits at proxy scale"),
                       text("Apply it: " + " ".join(f"--set {x}" for x in s["set"])) if chosen else
                       text("No mixture meets the budget; the closest is shown.")))
    if s.get("calibration"):
        out.append(calibration_section(s, chosen or s["closest"], "searched" if chosen else "closest"))
    if s.get("check"):
        c = s["check"]
        cal = c.get("calibrated_change")
        rows = [[d, _pct(c["predicted_change"].get(d)), *([_pct(cal.get(d))] if cal else []),
                 _pct(c["realised_change"][d]), round(c["realised_bpb"][d], 4)] for d in domains]
        note = f"full stage run in {c['run']}: changes are relative to the stage before, proxy and full scale alike"
        if c["mixture"] == "other":
            note += ("; it trained a mixture this search neither chose nor started from, so there is no prediction "
                     "for it here: it joins the anchors, and the next search shows it next to its calibrated change")
        if cal and c.get("in_sample"):
            note += "; this run is one of the anchors, so its calibrated prediction is in-sample"
        out.append(section("Predicted against realised", table(
            ["domain", "predicted change vs before (proxy scale)", *(["calibrated (full scale)"] if cal else []),
             "realised change vs before", "realised bpb"], rows, note=note)))
    return out


def calibration_section(s: dict[str, Any], picked: dict[str, Any], name: str) -> dict[str, Any]:
    """The anchors, each domain's map, and the two mixtures' changes at proxy and full scale side by side."""
    cal, budget = s["calibration"], list(s["budget_limits"])
    anchors = cal["anchors"]
    feats = [f for f in FEATURES if any(f in m.get("candidates", {}) for m in cal["maps"].values())]

    def slope(m: dict[str, Any]) -> Any:
        return " / ".join(f"{v:.3f}" for v in m["slope"]) if isinstance(m["slope"], list) else round(m["slope"], 3)

    maps = table(["domain", "feature", "map", "slope", "intercept", "error on the anchors", "leave-one-anchor-out error",
                  *[f"LOO {f}" for f in feats]],
                 [[d, m.get("feature", "proxy"), m["kind"], slope(m), _pct(m["intercept"]),
                   _pct(m["anchor_error"]).lstrip("+"), _pct(m["loo_error"]).lstrip("+"),
                   *[_pct(m.get("candidates", {}).get(f)).lstrip("+") for f in feats]]
                  for d, m in cal["maps"].items()],
                 note="calibrated change = slope x feature + intercept. Features: proxy (the proxies' predicted change), "
                      "weight (the domain's own weight in the mixture), replay (the stage's total replay weight), "
                      "log-: their logarithm, replayed (a plane in the weights of the replayed domains, one slope each, "
                      f"in the order {', '.join(cal.get('replayed', []))}). With three anchors or more each domain "
                      "takes the feature with the lowest leave-one-anchor-out error (LOO columns), with fewer the "
                      "proxy's prediction. A proxy line needs anchors whose predictions differ by more than twice the fit's leave-one-out error, a weight line "
                      "anchors whose weights differ by a point, else an offset; errors are absolute, in points of "
                      "relative change")
    arows = [[a["run"], *[round(a["weights"][g], 3) for g in s["groups"]],
              *[f"{_pct(a['predicted_change'][d])} / {_pct(a['calibrated_change'][d])} / {_pct(a['realised_change'][d])}"
                for d in budget]] for a in anchors]
    atab = table(["anchor run", *[f"w {g}" for g in s["groups"]], *[f"{d}: proxy / calibrated / realised" for d in budget]],
                 arows, note="changes against each run's own stage before")
    mrows = []
    for label, m in (("recipe", s["recipe_mixture"]), (name, picked)):
        mrows.append([label, *[f"{_pct(m['predicted_change'][d])} -> {_pct(m['calibrated_change'][d])}" for d in budget],
                      round(m["objective"], 4), m.get("calibrated_objective"),
                      ", ".join(d for d in m.get("extrapolated", []) if d in budget) or "no"])
    mtab = table(["mixture", *[f"{d}: proxy -> full scale" for d in budget], f"{s['objective_name']} (proxy)",
                  f"{s['objective_name']} (full scale)", "extrapolated beyond the anchors"], mrows,
                 note=f"full-scale bpb: {cal['full_reference_run']}'s stage before moved by the calibrated changes; "
                      "a domain is extrapolated where the mixture's feature lies outside the anchors' range")
    return section("Proxy scale to full scale", text(
        f"{len(anchors)} full-size anchor run(s) of the stage; calibration per domain: {cal['kind']} (an offset with one "
        "anchor, a least-squares line with two or more, a plane in the replayed domains' weights with two more anchors "
        "than it has slopes), features chosen: "
        f"{cal.get('select', 'auto')}. The budget applies to the calibrated changes; the objective ranks mixtures at "
        "proxy scale."), maps, atab, mtab)


def merge_sections(m: dict[str, Any]) -> list[dict[str, Any]]:
    domains = m["domains"]
    rows = []
    for r in m["alphas"]:
        tone = "better" if r["alpha"] == m.get("best_alpha") else None
        rows.append([cell(r["alpha"], strong=tone is not None, tone=tone),
                     *[round(r["bpb"][d], 4) for d in domains], _pct(r["gain"]),
                     *[_pct(r["change"][d]) for d in m["budget_domains"]], "yes" if r["within"] else "no"])
    head = ["alpha", *domains, "new-language gain", *[f"{d} change" for d in m["budget_domains"]], "within budget"]
    xs = [round(100 * r["gain"], 3) for r in m["alphas"]]
    series = {f"{d} change (%)": [round(100 * r["change"][d], 3) for r in m["alphas"]] for d in m["budget_domains"]}
    series.update({f"{d} budget (%)": [round(100 * m["budget"][d], 3)] * len(xs) for d in m["budget_domains"]})
    styles = {f"{d} budget (%)": "dashed" for d in m["budget_domains"]}
    plot = line_plot("Forgetting (y) against new-language gain (x, % fall of their mean bpb); one point per alpha, "
                     "left to right as alpha grows",
                     xs, series, ylabel="bits-per-byte change vs the other model (%)", styles=styles)
    best = m.get("best_alpha")
    return [section("Merge", text(
        f"theta = (1 - alpha) * {m['with']} + alpha * {m['stage']} in {m['run']}; new languages "
        f"{', '.join(m['objective'])}, budget {m['budget_text']}. "
        + (f"Best alpha within the budget: {best}." if best is not None else "No alpha meets the budget.")),
        table(head, rows, note="gain: relative fall of the new languages' mean bits per byte against alpha 0"), plot)]


def markdown(sections: list[dict[str, Any]]) -> str:
    """The sections as Markdown (tables and text; plots are only in the HTML page)."""
    lines: list[str] = []
    for s in sections:
        lines += [f"## {s['title']}", ""]
        for b in s["blocks"]:
            if b["kind"] == "text":
                lines += [b["text"], ""]
            elif b["kind"] == "table":
                def fmt(c: Any) -> str:
                    return str(c.get("text")) if isinstance(c, dict) else ("–" if c is None else str(c))
                lines.append("| " + " | ".join(b["head"]) + " |")
                lines.append("|" + "---|" * len(b["head"]))
                lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in b["rows"]]
                lines += ([f"\n{b['note']}"] if b.get("note") else []) + [""]
    return "\n".join(lines)
