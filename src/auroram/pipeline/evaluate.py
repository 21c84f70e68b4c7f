"""Evaluation as the run needs it: the held-out texts, bits per byte on them, the task suite and the safety
evaluation at a stage's end, and every evaluation text no training document may overlap."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from auroram.config import Recipe
from auroram.data.sources import read_heldout
from auroram.io import hash_obj
from auroram.pipeline.context import RunContext
from auroram.typedconfig import to_plain


def load_heldout(recipe: Recipe) -> dict[str, list[str]]:
    e = recipe.eval
    return {d: read_heldout(recipe.heldout[d], max_docs=e.max_docs_per_domain, max_bytes=e.max_bytes_per_domain)
            for d in recipe.domains}


def heldout(ctx: RunContext) -> dict[str, list[str]]:
    return ctx.once("heldout", lambda: load_heldout(ctx.recipe))


def eval_key(ctx: RunContext) -> str:
    """What stage-end numbers depend on besides the weights: the eval settings and the held-out texts."""
    return ctx.once("eval_key", lambda: hash_obj({"eval": to_plain(ctx.recipe.eval),
                                                   "heldout": {d: hash_obj(v) for d, v in heldout(ctx).items()},
                                                   "suite": 1}))


def make_evaluator(recipe: Recipe, tok: Any, texts: dict[str, list[str]]) -> Callable[[Any], dict[str, Any]]:
    """Bits per byte of a model on every domain's held-out text."""
    from auroram.eval.bpb import bits_per_byte
    from auroram.tokenize.bpe import eos_id as get_eos

    eos = get_eos(tok)
    stride = recipe.eval.stride or recipe.train.seq_len // 2

    def full(model: Any) -> dict[str, dict[str, Any]]:
        device = next(model.parameters()).device
        return {d: bits_per_byte(model, docs, tok, eos_id=eos, seq_len=recipe.train.seq_len, stride=stride,
                                 batch_seqs=recipe.eval.batch_seqs, device=device)
                for d, docs in texts.items()}

    return full


def eval_texts(ctx: RunContext) -> dict[str, list[str]]:
    """Every evaluation text of the run, by set: what no training document may overlap."""
    recipe = ctx.recipe
    sets = {d: list(docs) for d, docs in heldout(ctx).items()}
    if recipe.safety.enabled:
        from auroram.safety.stage import eval_items

        for it in eval_items(ctx.run_dir / "safety"):
            sets.setdefault(f"safety-{it['language']}", []).append(it["prompt"])
    from auroram.eval.tasks import decontamination_texts

    sets.update(decontamination_texts(recipe.eval))
    return sets


def _on_device(model: Any, device: Any) -> Any:
    if isinstance(model, Path):  # a sharded model is read back from its export, on one device
        from auroram.model.build import load_base

        model, _ = load_base(str(model))
        model.to(device)
    return model


def run_suite(ctx: RunContext, model: Any) -> dict[str, Any] | None:
    """The recipe's evaluation tasks (multiple choice per language, sandboxed code pass@1, ...) on rank 0."""
    from auroram.eval.tasks import run_tasks, summary_line

    res = run_tasks(_on_device(model, ctx.device), ctx.tokenizer, str(ctx.device), ctx.recipe.eval)
    if res is not None:
        ctx.console.step("", f"tasks: {summary_line(res)}")
    return res


def run_safety(ctx: RunContext, stage: str, model: Any) -> dict[str, Any] | None:
    """Refusal on held-out harmful prompts, over-refusal on safe look-alikes, and their gap (rank 0)."""
    sf = ctx.recipe.safety
    if not sf.enabled or stage not in sf.eval_stages:
        return None
    from auroram.safety.stage import evaluate_stage

    t0 = time.perf_counter()
    res = evaluate_stage(_on_device(model, ctx.device), ctx.tokenizer, ctx.run_dir / "safety",
                         max_per_group=sf.eval_max_per_group, max_new_tokens=sf.eval_max_new_tokens,
                         judge_dir=sf.judge, seed=ctx.recipe.seed)
    o = res["overall"]
    ctx.console.step("", f"safety: refuses {100 * (o['refusal_harmful'] or 0):.0f}% of harmful, "
                         f"{100 * (o['refusal_safe'] or 0):.0f}% of safe prompts (gap {100 * (o['gap'] or 0):+.0f}; "
                         f"forced choice {100 * (o['fc_gap'] or 0):+.0f}) ({time.perf_counter() - t0:.0f}s)")
    return res
