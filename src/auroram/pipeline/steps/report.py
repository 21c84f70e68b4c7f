"""report.json (every number of the run, and its sections as data) and the HTML report made from it."""

from __future__ import annotations

import time
from typing import Any

from auroram.config import Recipe
from auroram.faults import fault_point
from auroram.io import hash_obj, read_json, write_json
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.evaluate import heldout
from auroram.pipeline.rundir import record_outputs, record_untracked
from auroram.report import sections as rs


class ReportStep(Step):
    name = "report"

    def run(self, ctx: RunContext) -> None:
        from auroram.report.html import write_html_report

        fault_point("report:start")
        report = build_report(ctx)
        write_json(ctx.run_dir / "report.json", report)
        html = write_html_report(ctx.run_dir, report)
        fault_point("report:written")
        record_outputs(ctx.run_dir, "report.json", "report")
        record_untracked(ctx.run_dir)  # steps finished by runs made before manifests existed
        ctx.console.step("report", f"{ctx.run_dir / 'report.json'} and {html}")
        ctx.cache["report"] = report
        print_summary(report, ctx)  # quiet: into log.txt only


def build_report(ctx: RunContext) -> dict[str, Any]:
    from auroram.eval.forgetting import continual_metrics, forgetting

    recipe, stages, manifest = ctx.recipe, ctx.stages, ctx.data_manifest
    sections = [data_section(recipe, stages, ctx.shard_stats)]
    if ctx.curation is not None:
        from auroram.curate.report import report_section as curation_section

        sections.insert(0, curation_section(ctx.curation))
    if any(s.get("suite") for s in stages):
        from auroram.eval.suite import report_section as suite_section

        sections.append(suite_section(stages))
    if any(s.get("safety") for s in stages):
        from auroram.safety.report import report_section as safety_section

        sections.append(safety_section(stages))
    # a domain the first stage did not train on is learnt in the second (CAP teaches the new languages)
    known = {recipe.sources[s].domain for s in stages[0].get("weights", {}) if s in recipe.sources}
    new_domains = [d for d in recipe.domains if d not in known]
    learned_at = {d: stages[1]["name"] for d in new_domains} if len(stages) > 1 else None
    return {
        "recipe": recipe.name,
        "description": recipe.description,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config_hash": hash_obj(ctx.spec.to_dict()),
        "domains": recipe.domains,
        "use_replay": recipe.use_replay,
        "stages": stages,
        "nonfinite": {s["name"]: s.get("nonfinite") for s in stages if s.get("nonfinite")},
        "forgetting": forgetting(stages, recipe.domains),
        "continual": continual_metrics(stages, recipe.domains, learned_at=learned_at),
        "curation": ctx.curation,
        "start": stages[0]["name"],
        "data": {"sources": (manifest or {}).get("sources", []), "shards": ctx.shard_stats,
                 "instruct": (manifest or {}).get("instruct")},
        "sections": sections,
        "tokenizer": tokenizer_report(ctx),
        "provenance": read_json(ctx.run_dir / "provenance.json"),
    }


def tokenizer_report(ctx: RunContext) -> dict[str, Any]:
    """The run's tokenizer and its fertility on the held-out text; for an extended vocabulary also the
    extension's record and the base tokenizer's fertility on the same text (what the extension bought)."""
    from auroram.eval.bpb import fertility
    from auroram.pipeline.steps.tokenizer import extension_summary

    docs = heldout(ctx)
    out: dict[str, Any] = {"kind": ctx.recipe.tokenizer.kind, "vocab_size": len(ctx.tokenizer),
                           "fertility": {d: fertility(ctx.tokenizer, texts) for d, texts in docs.items()}}
    ext = extension_summary(ctx)
    if ext is not None:
        from auroram.tokenize.extend import base_of

        base = base_of(ctx.run_dir / "tokenizer" / "hf")  # rebuilt from the extended file: the base may have moved
        out["extension"] = ext
        out["base"] = {"vocab_size": base.get_vocab_size(with_added_tokens=True),
                       "fertility": {d: fertility(base, texts) for d, texts in docs.items()}}
    return out


def instruction_share(recipe: Recipe, stage: dict[str, Any]) -> dict[str, Any]:
    """Share of a stage's tokens that came from instruction sources, and the loss on their targets."""
    inst = [s for s in stage.get("mixture", {}) if recipe.sources.get(s) and recipe.sources[s].format != "text"]
    total = sum(u["tokens"] for u in stage.get("mixture", {}).values()) or 1
    loss = targets = 0.0
    for rec in stage.get("loss", []):
        for s in inst:
            n = rec.get("targets_by_source", {}).get(s, 0)
            loss += rec.get("loss_by_source", {}).get(s, 0.0) * n
            targets += n
    return {"sources": inst, "token_share": sum(stage["mixture"][s]["tokens"] for s in inst) / total,
            "loss": loss / targets if targets else None, "target_tokens": int(targets)}


def data_section(recipe: Recipe, stages: list[dict], shard_stats: dict) -> dict[str, Any]:
    rows = []
    for st in stages:
        if not st.get("mixture"):
            continue
        share = instruction_share(recipe, st)
        st["instruction"] = share
        rows.append([st["name"], f"{100 * share['token_share']:.1f}%",
                     None if share["loss"] is None else f"{share['loss']:.3f}", ", ".join(share["sources"]) or None])
    dec = []
    for name, v in shard_stats.items():
        d, q = v.get("decontamination") or {}, v.get("quarantine") or {}
        dec.append([name, v.get("format") or "text", q.get("records", d.get("checked", v.get("documents", 0))),
                    q.get("quarantined", 0), d.get("dropped", 0), v.get("documents", 0), v.get("tokens", 0)])
    return rs.section(
        "Training data",
        rs.heading("Instruction data per stage"),
        rs.table(["stage", "instruction share of tokens", "loss on instruction targets", "sources"], rows),
        rs.heading("Training sources: records, quarantined, dropped as overlapping evaluation sets (13-word grams, "
                   "25-character grams for Japanese), kept"),
        rs.table(["source", "format", "records", "quarantined", "decontaminated", "documents kept", "tokens"], dec),
    )


def print_summary(report: dict[str, Any], ctx: RunContext) -> None:
    stages = report["stages"]
    rows = []
    for d in report["domains"]:
        vals = [s["eval"][d]["bpb"] for s in stages]
        change = 100 * (vals[-1] - vals[0]) / vals[0] if vals[0] else float("nan")
        rows.append([d, *[f"{v:.3f}" for v in vals], f"{change:+.1f}%"])
    ctx.console.table("bits per byte on held-out text (lower is better)",
                      ["domain", *[s["name"] for s in stages], f"{stages[-1]['name']} vs {stages[0]['name']}"], rows)
    safety = [(s["name"], s["safety"]["overall"]) for s in stages if s.get("safety")]
    if safety:
        rows = [[name, *[("-" if o[k] is None else f"{100 * o[k]:.0f}%") for k in
                         ("refusal_harmful", "refusal_safe", "gap", "fc_gap")]] for name, o in safety]
        ctx.console.table("safety: refusal on held-out harmful and on safe look-alike prompts (string-match judge)",
                          ["after", "harmful refused", "safe refused", "gap", "forced-choice gap"], rows,
                          first_left=False)
