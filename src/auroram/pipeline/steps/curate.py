"""Curation (language ID, heuristics, quality, toxicity, PII, dedup) on datatrove, before tokenizing: the demo
corpus's train splits (its `demo:` sources read what was kept; held-out splits are left as they are) and each
of the user's sources with `curate: true` (its shards read `curate/sources/<name>/kept/`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auroram.config import Recipe
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.resolve import curated_dir, curated_sources, demo_curated, demo_dir
from auroram.pipeline.rundir import RunError


@dataclass
class CurationJob:
    """One `auroram curate` the run does: what it reads, where it writes, with which settings."""

    name: str  # "demo" or the source's name
    inputs: list[tuple[str, str | None]]
    out: Path
    config: Any  # CurateConfig, its executor set from the recipe's data: block


def curation_jobs(spec: Recipe, recipe: Recipe, run_dir: Path, executor: str) -> list[CurationJob]:
    """Every curation of the run, with the same settings wherever it runs (so a job's output is found done)."""
    from auroram.curate.config import CurateConfig, ExecutorConfig

    d = recipe.data
    ex = ExecutorConfig(kind=executor, tasks=d.tasks, workers=d.workers, slurm_partition=d.slurm.partition,
                        slurm_time=d.slurm.time, slurm_cpus_per_task=d.slurm.cpus_per_task,
                        slurm_mem_per_cpu_gb=d.slurm.mem_per_cpu_gb, slurm_sbatch_args=dict(d.slurm.sbatch_args),
                        slurm_dry_run=d.slurm.dry_run, ray_cpus_per_task=d.ray.cpus_per_task)
    jobs = []
    if demo_curated(spec):
        from auroram.curate.demo import DEMO_DOMAINS, demo_config

        corpus = demo_dir(spec) / "corpus"
        cfg = dataclasses.replace(recipe.curate or demo_config(), executor=ex)
        inputs = [(str(corpus / x / "train.jsonl"), x) for x in DEMO_DOMAINS if (corpus / x / "train.jsonl").is_file()]
        jobs.append(CurationJob("demo", inputs, run_dir / "curate", cfg))
    for name in curated_sources(spec):
        src = spec.sources[name]
        base = recipe.curate or CurateConfig()
        cfg = dataclasses.replace(base, executor=ex, reader=dataclasses.replace(base.reader, text_field=src.text_field))
        # code skips language ID (it would be dropped as no language); other text is routed by language ID
        jobs.append(CurationJob(name, [(src.path, "code" if src.domain == "code" else None)],
                                curated_dir(run_dir, name), cfg))
    return jobs


class CurateStep(Step):
    name = "curate"

    def out_dir(self, ctx: RunContext) -> Path | None:
        return ctx.run_dir / "curate" if curation_jobs(ctx.spec, ctx.recipe, ctx.run_dir, "local") else None

    def run(self, ctx: RunContext) -> None:
        from auroram.pipeline.steps.shards import data_executor

        jobs = curation_jobs(ctx.spec, ctx.recipe, ctx.run_dir, data_executor(ctx))
        if not jobs:
            return
        t0 = time.perf_counter()
        ctx.console.step("curate", "language ID, heuristics, quality, toxicity, PII, deduplication (datatrove) ...")
        curation: dict[str, Any] = {}
        for job in jobs:
            curation[job.name] = self._curate(ctx, job)
        tot = {k: sum(s.get("totals", {}).get(k, 0) for s in curation.values()) for k in ("docs_in", "docs_kept")}
        ctx.console.step("curate", f"{tot['docs_in']:,} documents in, {tot['docs_kept']:,} kept, every drop in "
                                   f"{ctx.run_dir / 'curate'}/**/rejected ({time.perf_counter() - t0:.0f}s)")
        # the report's curation section reads one stats.json: the demo's as before, else the first source's;
        # every curated source's stats are kept beside it
        demo = curation.pop("demo", None)
        ctx.curation = demo if demo is not None else next(iter(curation.values()))
        if curation:
            ctx.curation = {**ctx.curation, "sources": curation}

    def _curate(self, ctx: RunContext, job: CurationJob) -> dict[str, Any]:
        from auroram.io import read_json

        quiet = True  # datatrove's own per-task logging stays off: the step line and stats.json say what happened
        tasks, workers = ctx.recipe.data.tasks, ctx.recipe.data.workers
        if job.name == "demo":
            from auroram.curate.demo import curate_demo

            _, stats = curate_demo(demo_dir(ctx.spec), job.out, config=job.config, tasks=tasks, workers=workers,
                                   quiet=quiet)
            for name, src in ctx.recipe.sources.items():
                if not Path(src.path).is_file() and ctx.spec.sources[name].path.startswith("demo:"):
                    raise RunError(f"sources.{name}: curation left no file for {ctx.spec.sources[name].path} "
                                   f"({src.path})")
        else:
            from auroram.curate.run import curate

            stats = curate(job.inputs, job.out, config=job.config, tasks=tasks, workers=workers, quiet=quiet)
        if "submitted" in stats:  # Ray ran the chain before returning; its stats are on disk
            stats = read_json(job.out / "stats.json")
        if job.name != "demo":
            if not stats["totals"]["docs_kept"]:
                raise RunError(f"sources.{job.name}: curation kept no documents of {job.inputs[0][0]} (every drop "
                               f"and its reason: {job.out / 'rejected'})")
            ctx.console.step("curate", f"{job.name}: {stats['totals']['docs_in']:,} documents in, "
                                       f"{stats['totals']['docs_kept']:,} kept")
        return stats
