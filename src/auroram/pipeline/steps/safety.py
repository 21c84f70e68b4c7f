"""The red-team set: built (or imported), loaded for review, the approved train items exported for
`safety:approved` sources. Review decisions in the database survive reruns."""

from __future__ import annotations

from pathlib import Path

from auroram.faults import fault_point
from auroram.pipeline.context import RunContext, Step


class SafetyStep(Step):
    name = "safety"

    def out_dir(self, ctx: RunContext) -> Path | None:
        return ctx.run_dir / "safety" if ctx.recipe.safety.enabled else None

    def run(self, ctx: RunContext) -> None:
        sf = ctx.recipe.safety
        if not sf.enabled:
            return
        from auroram.safety.stage import prepare_safety

        info = prepare_safety(ctx.run_dir / "safety", seed=ctx.recipe.seed, demo=sf.demo_auto_approve, items=sf.items)
        fault_point("safety:prepared")
        by_status = info["exported"].get("by_status", {})
        ctx.console.step("safety", f"{info['exported']['items']:,} approved red-team train items "
                                   f"({', '.join(f'{k}: {v:,}' for k, v in by_status.items())})")
        ctx.safety = info
