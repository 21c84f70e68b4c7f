"""An imported base model scored as it is: the start every forgetting number is measured against."""

from __future__ import annotations

from pathlib import Path

from auroram.io import hash_obj, read_json, write_json
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.evaluate import eval_key, run_suite
from auroram.pipeline.steps.stage import evaluator, first_model_key, new_model, start_model
from auroram.train.parallel import is_wrapped, unwrap


class BaseEvalStep(Step):
    name = "eval-base"
    record = "eval-base"
    every_rank = True  # bits per byte runs on every rank over the (possibly sharded) model

    def out_dir(self, ctx: RunContext) -> Path:
        return ctx.run_dir / "stages" / "base"

    def key(self, ctx: RunContext) -> str:
        return hash_obj({"prev": first_model_key(ctx), "eval": eval_key(ctx)})

    def run(self, ctx: RunContext) -> None:
        r, info = ctx.recipe, ctx.info
        ctx.console.step("eval base", f"scoring {r.model.base}")
        # sharded (FSDP2): no rank holds a full copy, each reads its own rows of the base's files
        model = start_model(ctx, bf16=False, activation_checkpointing=False, compile=False)
        model.eval()
        scores = evaluator(ctx)(model)
        if info.is_main:
            on_one = unwrap(model)
            if is_wrapped(r.train.parallel, info):
                # the suite runs on one device: the base's own files, or with an extended vocabulary the base
                # with its new rows (rank 0 only)
                on_one = new_model(ctx) if r.tokenizer.kind == "extend" else Path(r.model.base)
            write_json(self.out_dir(ctx) / "result.json",
                       {"name": "base", "tokens": 0, "steps": 0, "seconds": 0.0, "imported": str(r.model.base),
                        "eval": scores, "suite": run_suite(ctx, on_one), "loss": [], "curve": [], "mixture": {},
                        "warnings": []})

    def load(self, ctx: RunContext) -> None:
        ctx.stages.append(read_json(self.out_dir(ctx) / "result.json"))
        ctx.model_key = self.current_key or ""
