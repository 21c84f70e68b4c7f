"""Curation of the demo corpus's train splits (language ID, heuristics, quality, toxicity, PII, dedup) on
datatrove; the run's `demo:` sources read what it kept. Held-out splits are left as they are."""

from __future__ import annotations

import time
from pathlib import Path

from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.resolve import curates, demo_dir
from auroram.pipeline.rundir import RunError


class CurateStep(Step):
    name = "curate"

    def out_dir(self, ctx: RunContext) -> Path | None:
        return ctx.run_dir / "curate" if curates(ctx.spec) else None

    def run(self, ctx: RunContext) -> None:
        if not curates(ctx.spec):
            return
        from auroram.curate.demo import curate_demo

        t0 = time.perf_counter()
        ctx.console.step("curate", "language ID, heuristics, quality, toxicity, PII, deduplication (datatrove) ...")
        # datatrove's own per-task logging stays off: the step line and stats.json say what happened
        _, stats = curate_demo(demo_dir(ctx.spec), ctx.run_dir / "curate", config=ctx.recipe.curate, quiet=True)
        for name, src in ctx.recipe.sources.items():
            if not Path(src.path).is_file() and ctx.spec.sources[name].path.startswith("demo:"):
                raise RunError(f"sources.{name}: curation left no file for {ctx.spec.sources[name].path} "
                               f"({src.path})")
        tot = stats.get("totals", {})
        ctx.console.step("curate", f"{tot.get('docs_in', 0):,} documents in, {tot.get('docs_kept', 0):,} kept, every "
                                   f"drop in {ctx.run_dir / 'curate' / 'rejected'} ({time.perf_counter() - t0:.0f}s)")
        ctx.curation = stats
