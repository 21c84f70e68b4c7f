"""`auroram mix search`: how much replay, found by search instead of set by hand.

    prep       the recipe up to the stage before the searched one, once, at the proxy's model size
               (`--from-run`: an earlier run's finished steps hard-linked in and reused where their keys match)
    proxies    N short runs of the stage from those same weights, one per mixture (proxy 0: the recipe's own),
               scored by bits per byte per domain (auroram.pipeline.proxies)
    fit        one regression per domain, weights -> bits per byte, chosen by leave-one-out error
    search     the mixture with the lowest mean bits per byte on the new languages whose predicted change on
               each budgeted domain, against the stage before, is within the budget (auroram.mix.search)

The search directory keeps plan.json, every proxy's result, search.json, fragment.yaml (the stage's mixture
and replay as a recipe fragment) and report/ (index.html, summary.md). `--check RUN` adds a full run's
realised numbers next to the predicted ones, and the run joins anchors.json: full-size runs of the stage (that
one, the `--from-run`'s own stage, each `--anchor`) calibrate the proxies' predicted changes to full scale
(auroram.mix.calibrate) before the budget is applied.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from auroram.config import Recipe, load_recipe
from auroram.io import atomic_dir, read_json, write_json, write_text
from auroram.mix.anchors import collect_anchors, read_stage
from auroram.mix.calibrate import FEATURES, Anchor, Coordinates, calibrate_on, calibrated, describe
from auroram.mix.search import (SearchError, budget_margins, budget_text, draw, excess, fit_domains, make_groups,
                                parse_budget, parse_margin, search)
from auroram.outputs import Layout, claim_dir
from auroram.pipeline.console import Console
from auroram.pipeline.proxies import (link_run, load_context, proxy_done, run_local, setup_key, slurm_script,
                                      step_before)

SEARCH_OUTPUT = Layout("mix search", patterns=("plan.json", "search.json", "fragment.yaml", "check.json", "anchors.json",
                                               "prep/", "prep/**", "proxies/", "proxies/**", "slurm/", "slurm/**",
                                               "report/", "report/**"), shared=True)


def new_languages(recipe: Recipe, stage: str) -> list[str]:
    """The stage's `mixture` domains that are not replayed: what the stage is there to teach."""
    names = [s.name for s in recipe.stages]
    if stage not in names:
        raise SearchError(f"--stage {stage!r}: not a stage of recipe '{recipe.name}' (stages: {', '.join(names)})")
    st = recipe.stage(stage)
    replayed = {recipe.sources[s].domain for s in st.replay}
    new = sorted({recipe.sources[s].domain for s in st.mixture} - replayed)
    if not new:
        raise SearchError(f"stage '{stage}': every mixture domain is also replayed, so nothing is new to optimise")
    return new


def _model_overrides(proxy_model: list[str]) -> list[str]:
    out = []
    for kv in proxy_model:
        if "=" not in kv:
            raise SearchError(f"--proxy-model {kv!r}: expected KEY=VALUE, e.g. n_embd=64")
        out.append(f"model.{kv.strip()}")
    return out


def _full_stage_flops(spec: Recipe, stage: str, ctx: Any) -> float:
    from auroram.model.build import build_model, flops_per_token
    from auroram.tokenize.bpe import eos_id

    if spec.model.base:
        from auroram.model.build import base_on_meta

        model, _ = base_on_meta(spec.model.base)
    else:
        model = build_model(spec.model, vocab_size=len(ctx.tokenizer), eos_id=eos_id(ctx.tokenizer), seed=spec.seed,
                            meta=True)
    return flops_per_token(model, spec.train.seq_len) * spec.stage(stage).tokens


def mix_search(recipe_arg: str, overrides: list[str], *, stage: str, budget: str, proxies: int,
               search_dir: Path, proxy_tokens: int | None = None, proxy_model: list[str] | None = None,
               workers: int = 1, from_run: Path | None = None, by: str = "domain", concentration: float = 10.0,
               fits: list[str] | None = None, executor: str = "local", slurm: dict[str, Any] | None = None,
               dry_run: bool = False, quiet: bool = False, log_format: str = "auto",
               anchors: list[Path] | None = None, no_anchor: bool = False, calibrate: str = "auto",
               margin: str | float = 0.0) -> dict[str, Any]:
    """Run (or resume) the search; returns search.json's content, or {"slurm": script} when the proxies were
    handed to Slurm. `anchors`: full-size runs of the stage beyond the automatic ones; `no_anchor`: none at all
    (the budget on proxy-scale predictions); `calibrate`: the feature every domain's map uses, or "auto" (chosen
    per domain by leave-one-anchor-out error once there are three anchors; the proxies' prediction before)."""
    from auroram.pipeline.run import run_recipe

    spec = load_recipe(recipe_arg, overrides)
    limits = parse_budget(budget, spec.domains)  # before any work: a bad budget is the first thing said
    if proxies < 4:
        raise SearchError(f"--proxies {proxies}: the fit needs at least 4")
    before = step_before(spec, stage)
    objective = new_languages(spec, stage)
    prep_spec = load_recipe(recipe_arg, overrides + _model_overrides(proxy_model or []))
    search_dir = claim_dir(search_dir, SEARCH_OUTPUT)
    prep = search_dir / "prep"
    console = Console(quiet, log_format=log_format)
    if no_anchor and anchors:
        raise SearchError("--anchor and --no-anchor together: pick one")
    parse_margin(margin)  # a bad margin is said before any work
    if calibrate != "auto" and calibrate not in FEATURES:
        raise SearchError(f"--calibrate {calibrate!r}: expected auto or one of {', '.join(FEATURES)}")
    # anchors are read before any work: a bad one is said before proxies are trained
    full = [] if no_anchor else collect_anchors(search_dir, stage, before, from_run, anchors or [],
                                                 lambda msg: console.step("mix search", msg))
    if from_run is not None and not (prep / "recipe.yaml").exists():
        n = link_run(Path(from_run), prep, stage, prep_spec)
        console.step("mix search", f"{n} files of {from_run} linked into {prep}; its finished steps are reused "
                                   f"where they match")
    run_recipe(prep_spec, prep, quiet=quiet, until=before, log_format=log_format)
    ctx = load_context(load_recipe(str(prep / "recipe.yaml")), prep, before, console)
    reference = {d: v["bpb"] for d, v in ctx.stages[-1]["eval"].items()}
    pr = ctx.recipe
    weights = pr.stage_weights(pr.stage(stage))
    groups = make_groups(weights, {s: pr.sources[s].domain for s in weights}, by)
    tokens = int(proxy_tokens or max(pr.train.global_batch_tokens, spec.stage(stage).tokens // 10))
    seed = spec.seed
    plan = {"recipe": spec.name, "stage": stage, "before": before, "prep_key": ctx.model_key,
            "setup_key": setup_key(ctx, stage),
            "proxy_tokens": tokens, "by": by, "concentration": concentration, "groups": groups.names,
            "proxies": [{"index": i, "weights": groups.weights(w), "sources": groups.to_sources(w)}
                        for i, w in ((i, draw(groups.center, concentration, seed, i)) for i in range(proxies))]}
    write_json(search_dir / "plan.json", plan)
    todo = [i for i in range(proxies) if not proxy_done(search_dir, plan, i)]
    if proxies - len(todo):
        console.step("mix search", f"{proxies - len(todo)} of {proxies} proxies done already (skipped)")
    if todo and executor == "slurm":
        s = slurm or {}
        script = slurm_script(search_dir, todo, partition=s.get("partition", "gpu"), time_limit=s.get("time", "4:00:00"),
                              gpus=int(s.get("gpus", 1)), cpus=int(s.get("cpus", 8)))
        if not dry_run:
            import subprocess

            try:
                subprocess.run(["sbatch", str(script)], check=True)
            except FileNotFoundError:
                raise SearchError(f"sbatch is not on PATH: the job array is written to {script}; submit it where "
                                  f"Slurm is, or use --dry-run") from None
        console.step("mix search", f"{len(todo)} proxies {'written to' if dry_run else 'submitted as'} {script}; "
                                   f"run the same command again once they are done to fit and search")
        return {"slurm": str(script), "todo": todo}
    if todo:
        console.step("mix search", f"{len(todo)} proxies of {tokens:,} tokens, {max(1, workers)} at a time")
        run_local(search_dir, todo, workers, console)
    results = [read_json(search_dir / "proxies" / f"{i:03d}" / "result.json") for i in range(proxies)]
    result = fit_and_search(spec, stage, plan, results, groups, reference, limits, objective, fits, seed, full,
                            calibrate, margin)
    # the weights before the stage cost compute only when the search trained them (not reused, not imported)
    bf, theirs = prep / "stages" / before / "result.json", Path(from_run or prep) / "stages" / before / "result.json"
    reused = from_run is not None and theirs.is_file() and os.path.samefile(bf, theirs)
    prep_flops = 0.0 if reused or pr.model.base else results[0]["flops_per_token"] * ctx.stages[-1]["tokens"]
    stage_flops = _full_stage_flops(spec, stage, ctx)
    proxy_flops = sum(r["flops"] for r in results)
    result["flops"] = {"proxies": proxy_flops, "prep": prep_flops, "full_stage": stage_flops,
                       "ratio": (proxy_flops + prep_flops) / stage_flops, "ratio_proxies_only": proxy_flops / stage_flops}
    result["proxy_model"] = " ".join(proxy_model or [])
    write_outputs(search_dir, result)
    return result


def fit_and_search(spec: Recipe, stage: str, plan: dict, results: list[dict], groups: Any, reference: dict,
                   limits: dict[str, float], objective: list[str], fits: list[str] | None, seed: int,
                   anchors: list[Anchor] | None = None, calibrate: str = "auto",
                   margin: str | float = 0.0) -> dict[str, Any]:
    domains = list(spec.domains)
    X = np.array([[r["weights"][g] for g in groups.names] for r in results])
    Y = {d: np.array([r["bpb"][d] for r in results]) for d in domains}
    fitted = fit_domains(X, Y, seed=seed, only=fits)
    coords = Coordinates.of(groups.shares, groups.names, {s: spec.sources[s].domain for g in groups.shares.values()
                                                          for s in g}, set(spec.stage(stage).replay))
    maps, rows = calibrate_on(anchors, {d: f.predict for d, f in fitted.items()}, reference, groups.shares,
                              groups.names, domains, {d: f.loo_mae[f.model] for d, f in fitted.items()}, coords,
                              None if calibrate == "auto" else (calibrate,)) if anchors else (None, [])
    margins = budget_margins(margin, limits, maps, fitted, reference)
    inner = {d: lim - margins[d] for d, lim in limits.items()}  # what the search keeps each budgeted domain within
    best, closest = search(fitted, groups.center, objective=objective, reference=reference, budget=inner,
                           concentration=plan["concentration"], seed=seed, bounds=(X.min(axis=0), X.max(axis=0)),
                           calibrate=maps)

    def described(c: Any) -> dict[str, Any]:
        change = {d: c.predicted[d] / reference[d] - 1 for d in domains}
        out = {"weights": groups.weights(c.weights), "sources": groups.to_sources(c.weights),
               "predicted": {d: round(v, 5) for d, v in c.predicted.items()}, "objective": round(c.objective, 5),
               "excess": round(c.excess, 6), "over": [d for d, lim in limits.items() if change[d] > lim + 1e-12],
               "predicted_change": {d: round(change[d], 6) for d in domains}}
        if maps:  # the budget was applied to full-scale changes: 'over' is theirs
            out.update(calibrated(change, c.weights, maps, anchors[0].before_bpb, objective))
            out["over"] = [d for d, lim in limits.items() if out["calibrated_change"][d] > lim + 1e-12]
        return out

    from auroram.mix.search import Choice

    hand_pred = {d: float(f.predict(groups.center[None, :])[0]) for d, f in fitted.items()}
    hand = described(Choice(groups.center, hand_pred, float(np.mean([hand_pred[d] for d in objective])),
                            excess(hand_pred, reference, inner, maps, groups.center)))
    hand["measured"] = results[0]["bpb"]
    out: dict[str, Any] = {
        "recipe": spec.name, "stage": stage, "budget": budget_text(limits), "budget_limits": limits,
        **({"margin": {"rule": str(margin), "by": margins, "search_limits": inner}}
           if any(margins.values()) else {}),
        "objective": objective, "objective_name": f"mean {'/'.join(objective)}", "domains": domains,
        "groups": groups.names, "by": plan["by"], "proxy_tokens": plan["proxy_tokens"],
        "reference_bpb": reference, "fit_models": sorted({k for f in fitted.values() for k in f.loo_mae}),
        "fits": {d: f.summary() for d, f in fitted.items()}, "proxies": results, "recipe_mixture": hand,
        "chosen": described(best) if best else None, "closest": described(closest),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if maps:
        out["calibration"] = {"kind": describe(maps.maps), "select": calibrate, "replayed": coords.replayed,
                              "maps": {d: m.summary() for d, m in maps.maps.items()},
                              "anchors": rows, "full_reference_run": anchors[0].run,
                              "full_reference_bpb": anchors[0].before_bpb}
    if best:  # written back the way the recipe splits them: its replay sources stay replay
        src, replayed = out["chosen"]["sources"], set(spec.stage(stage).replay)
        parts = {"mixture": {s: w for s, w in src.items() if s not in replayed},
                 "replay": {s: w for s, w in src.items() if s in replayed}}
        out["fragment"] = {"stages": [{"name": stage, **parts}]}
        out["set"] = [shlex.quote(f"stages.{stage}.{k}=" + yaml.safe_dump(v, default_flow_style=True, width=10**9).strip())
                      for k, v in parts.items()]
    return out


def write_outputs(search_dir: Path, result: dict[str, Any]) -> None:
    from auroram.mix.summary import markdown, search_sections
    from auroram.report.render import page, render_section

    write_json(search_dir / "search.json", result)
    if result.get("chosen"):
        write_text(search_dir / "fragment.yaml",
                   f"# auroram mix search: stage {result['stage']} of recipe {result['recipe']}, budget "
                   f"{result['budget']}\n" + yaml.safe_dump(result["fragment"], sort_keys=False))
    sections = search_sections(result)
    with atomic_dir(search_dir / "report") as tmp:
        body = [f"<h1>Mixture search: {result['recipe']} / {result['stage']}</h1>"]
        body += [render_section(s, tmp, f"s{i}") for i, s in enumerate(sections)]
        write_text(tmp / "index.html", page(f"mix search {result['recipe']}", body))
        write_text(tmp / "summary.md", markdown(sections))


def check_run(search_dir: Path, run_dir: Path) -> dict[str, Any]:
    """Predicted against realised: the full run's stage, relative to its stage before, next to the search's
    prediction for the mixture it ran (the chosen one, or the recipe's when the run kept it), at proxy scale and,
    when the search had anchors, calibrated. The run joins the anchors of later searches in this directory."""
    s = read_json(Path(search_dir) / "search.json")
    res, prev = read_stage(run_dir, s["stage"])
    ran = {k: round(v, 4) for k, v in res["weights"].items()}
    chosen = s.get("chosen")
    which = ("chosen" if chosen and _same(ran, chosen["sources"])
             else "recipe_mixture" if _same(ran, s["recipe_mixture"]["sources"]) else "other")
    # a mixture this search neither chose nor started from (an earlier round's, say) has no prediction here
    m = s[which] if which != "other" else {"predicted_change": {}}
    realised = {d: v["bpb"] for d, v in res["eval"].items()}
    before = {d: v["bpb"] for d, v in prev["eval"].items()}
    change = {d: realised[d] / before[d] - 1 for d in s["domains"]}
    check = {"run": str(run_dir), "mixture": which, "predicted_change": m["predicted_change"],
             "realised_change": change, "realised_bpb": realised, "before_bpb": before,
             "within_budget": all(change[d] <= lim + 1e-12 for d, lim in s["budget_limits"].items()),
             "objective": float(np.mean([realised[d] for d in s["objective"]]))}
    if "calibrated_change" in m:
        cal = m["calibrated_change"]
        used = [a["run"] for a in s["calibration"]["anchors"]]
        check.update({"calibrated_change": cal, "calibrated_objective": m.get("calibrated_objective"),
                      "calibration_error": {d: abs(cal[d] - change[d]) for d in s["domains"] if d in cal},
                      "in_sample": any(Path(u).resolve() == Path(run_dir).resolve() for u in used)})
    s["check"] = check
    write_json(Path(search_dir) / "check.json", check)
    recorded = Path(search_dir) / "anchors.json"
    runs = read_json(recorded)["runs"] if recorded.is_file() else []
    if not any(Path(r).resolve() == Path(run_dir).resolve() for r in runs):
        write_json(recorded, {"runs": runs + [str(run_dir)]})
    write_outputs(Path(search_dir), s)
    return check


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    tb = sum(b.values())
    return set(a) == set(b) and all(abs(a[k] - b[k] / tb) < 2e-3 for k in a)
