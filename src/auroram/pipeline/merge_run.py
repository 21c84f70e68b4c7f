"""`auroram merge RUN --stage cap --with base`: the interpolations between two stages' exports scored on the
run's held-out text, forgetting plotted against the new languages' gain, and the best alpha within the
forgetting budget exported as a Hugging Face directory with its model card (auroram.mix.merge does the math).

The output directory holds merge.json (every alpha's bits per byte, change against alpha 0 and gain),
report/ (index.html with the plot, summary.md) and hf/ (the chosen model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from auroram.config import load_recipe
from auroram.io import read_json, write_json, write_text
from auroram.mix.merge import interpolate_into, plan_merge
from auroram.mix.search import SearchError, budget_text, parse_budget
from auroram.outputs import Layout, check_out_dir, replace_dir
from auroram.pipeline.console import Console

MERGE_OUTPUT = Layout("merge", patterns=("merge.json", "report/", "report/**", "hf/", "hf/**"))


def _export_dir(run: Path, stage: str) -> Path:
    d = run / "stages" / stage / "hf"
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{d}: no exported model (has stage '{stage}' finished in {run}?)")
    return d


def merge_command(run: Path, *, stage: str, other: str, alphas: list[float], budget: str | None, out: Path,
                  force: bool = False, quiet: bool = False) -> dict[str, Any]:
    from auroram.model.build import load_base
    from auroram.model.export import export_dtype, export_hf
    from auroram.pipeline.context import RunContext
    from auroram.pipeline.evaluate import load_heldout, make_evaluator
    from auroram.pipeline.mixsearch import new_languages
    from auroram.pipeline.resolve import resolve
    from auroram.pipeline.steps.data import DataStep
    from auroram.train.parallel import DistInfo

    run = Path(run)
    spec = load_recipe(str(run / "recipe.yaml"))
    limits = parse_budget(budget, spec.domains) if budget else {}
    objective = new_languages(spec, stage)
    stage_hf, other_hf = _export_dir(run, stage), _export_dir(run, other)
    pairs = plan_merge(stage_hf, other_hf)  # a shape mismatch is said before any weight is read
    check_out_dir(out, MERGE_OUTPUT, force=force)
    console = Console(quiet)
    recipe = resolve(spec, run)
    DataStep().run(RunContext(spec=spec, recipe=recipe, run_dir=run, info=DistInfo(), device=None, console=console))
    model, tok = load_base(stage_hf)  # float32: the interpolation is computed at full precision
    evaluate = make_evaluator(recipe, tok, load_heldout(recipe))
    alphas = sorted(set([0.0, *alphas]))  # alpha 0, the other model, is what every change is measured against
    rows = []
    import torch

    for a in alphas:
        interpolate_into(model, stage_hf, other_hf, a, pairs)
        with torch.inference_mode():
            bpb = {d: r["bpb"] for d, r in evaluate(model).items()}
        rows.append({"alpha": a, "bpb": bpb})
        console.step("merge", f"alpha {a:g}: " + " ".join(f"{d} {v:.3f}" for d, v in bpb.items()))
    ref = rows[0]["bpb"]
    ref_obj = float(np.mean([ref[d] for d in objective]))
    for r in rows:
        r["objective"] = float(np.mean([r["bpb"][d] for d in objective]))
        r["gain"] = 1.0 - r["objective"] / ref_obj
        r["change"] = {d: r["bpb"][d] / ref[d] - 1.0 for d in spec.domains}
        r["excess"] = max((r["change"][d] - lim for d, lim in limits.items()), default=0.0)
        r["within"] = r["excess"] <= 1e-12
    ok = [r for r in rows if r["within"]]
    best = min(ok, key=lambda r: (r["objective"], -r["alpha"])) if ok else None
    result = {"run": str(run), "stage": stage, "with": other, "domains": list(spec.domains), "objective": objective,
              "budget": limits, "budget_text": budget_text(limits) if limits else "none",
              "budget_domains": list(limits) or [d for d in spec.domains if d not in objective],
              "alphas": rows, "best_alpha": best["alpha"] if best else None,
              "tensors": len(pairs), "vocab_extended_tensors": [p.stage for p in pairs if p.extra_rows]}
    if best is not None:
        interpolate_into(model, stage_hf, other_hf, best["alpha"], pairs)
    with replace_dir(out, MERGE_OUTPUT) as tmp:
        write_json(tmp / "merge.json", result)
        _write_report(tmp / "report", result)
        if best is not None:
            dtype = export_dtype("auto", stage_hf)
            export_hf(model, tok, tmp / "hf", dtype=dtype, card=_card(run, spec, stage, other, best))
    if best is None:
        near = min(rows, key=lambda r: r["excess"])
        changes = ", ".join(f"{d} {100 * near['change'][d]:+.2f}%" for d in limits)
        raise SearchError(f"no alpha meets the budget {budget_text(limits)}; the closest is alpha {near['alpha']:g} "
                          f"({changes}); see {out / 'report' / 'index.html'}")
    return result


def _write_report(d: Path, result: dict[str, Any]) -> None:
    from auroram.mix.summary import markdown, merge_sections
    from auroram.report.render import page, render_section

    d.mkdir(parents=True, exist_ok=True)
    sections = merge_sections(result)
    body = [f"<h1>Merge: {result['with']} and {result['stage']}</h1>"]
    body += [render_section(s, d, f"s{i}") for i, s in enumerate(sections)]
    write_text(d / "index.html", page("auroram merge", body))
    write_text(d / "summary.md", markdown(sections))


def _card(run: Path, spec: Any, stage: str, other: str, best: dict[str, Any]) -> dict[str, Any]:
    res = read_json(run / "stages" / stage / "result.json")
    a = best["alpha"]
    return {"name": f"{spec.name}-{stage}-merged-{a:g}", "stage": f"{stage}, interpolated with {other}",
            "base": f"{spec.name}-{other} and {spec.name}-{stage}: theta = {1 - a:g} x {other} + {a:g} x {stage}",
            "recipe": spec.name, "languages": list(spec.domains), "license": "apache-2.0",
            "training": {"tokens": res.get("tokens"), "steps": res.get("steps"), "merge_alpha": a,
                         "merged_with": other},
            "mixture": res.get("mixture") or {}, "eval": {d: {"bpb": v} for d, v in best["bpb"].items()}}
