"""`auroram run`: the recipe's steps, in order, each skipped when its output is complete and was made
from the same resolved configuration and inputs (a changed step is redone, and so is everything after it).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import yaml

from auroram.config import Recipe
from auroram.errors import describe_error
from auroram.io import write_json, write_text
from auroram.pipeline.console import Console
from auroram.pipeline.context import RunContext, Step, execute
from auroram.pipeline.prepare import check_prepared, require_datatrove
from auroram.pipeline.resolve import resolve
from auroram.pipeline.rundir import RunError, provenance, record_outputs, run_lock, sweep_partial
from auroram.pipeline.steps import recipe_steps


def select_steps(steps: list[Step], until: str | None, recipe: Recipe) -> list[Step]:
    """The steps up to and including `until` (a step's name, or a group's: the last step of it)."""
    if until is None:
        return steps
    names = [s.name for s in steps]
    groups = [s.group for s in steps]
    if until in names:
        return steps[: names.index(until) + 1]
    if until in groups:
        return steps[: len(groups) - groups[::-1].index(until)]
    known = list(dict.fromkeys(n for s in steps for n in (s.group, s.name) if n))
    raise RunError(f"--until/--stage {until!r}: not a step of recipe '{recipe.name}' (steps: {', '.join(known)})")


def _quiet_transformers() -> None:
    # our own progress bars say what is happening; transformers' per-file bars only add noise
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _precision(recipe: Recipe, device: Any, console: Console) -> str:
    from auroram.train.loop import autocast_dtype, cpu_has_fast_bf16

    precision = "bf16" if autocast_dtype(recipe.train, device) is not None else "fp32"
    if precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        console.warn("train.precision is bf16 but this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 "
                     "matmuls are emulated there and gain little over fp32 (set train.precision=fp32)")
    return precision


def run_recipe(spec: Recipe, run_dir: Path, *, quiet: bool = False, until: str | None = None,
               log_format: str = "auto", progress_seconds: float = 30.0) -> dict[str, Any] | None:
    """Execute the recipe in run_dir (up to step `until`, if given); returns the report (on rank 0).
    `log_format`: auto (rich in a terminal, text lines elsewhere), text or json (see Console)."""
    import torch

    from auroram.train.loop import resolve_device
    from auroram.train.parallel import init_distributed

    run_dir = Path(run_dir)
    recipe = resolve(spec, run_dir)
    require_datatrove(spec)  # before anything is written: a missing extra is a one-line error, not a half-made run
    from auroram.train.loggers import require_loggers

    require_loggers(recipe.train.loggers, f"recipe '{spec.name}': train.loggers")
    steps = select_steps(recipe_steps(recipe), until, recipe)
    _quiet_transformers()
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    info = init_distributed(resolve_device(recipe.train).type)
    if info.distributed and recipe.data.executor == "slurm":  # every rank stops at once, before any step
        check_prepared(recipe, run_dir, steps)
    device = resolve_device(recipe.train, info.local_rank)
    console = Console(quiet or not info.is_main, log_format=log_format, progress_seconds=progress_seconds)
    ctx = RunContext(spec=spec, recipe=recipe, run_dir=run_dir, info=info, device=device, console=console,
                     precision=_precision(recipe, device, console))
    try:
        with run_lock(run_dir) if info.is_main else contextlib.nullcontext(), console.capture():
            return _run_steps(ctx, steps)
    except BaseException as e:
        if console.error(describe_error(e).removeprefix("error: ")):
            e.auroram_reported = True  # type: ignore[attr-defined]  # the CLI need not print it again
        raise
    finally:
        if ctx.loggers is not None:
            ctx.loggers.close()
        console.close()


def _run_steps(ctx: RunContext, steps: list[Step]) -> dict[str, Any] | None:
    info, run_dir, spec, console = ctx.info, ctx.run_dir, ctx.spec, ctx.console
    t0 = time.perf_counter()
    if info.is_main:
        console.attach_log(run_dir / "log.txt")  # appended: a resumed run's lines follow the killed one's
        console.emit("info", "begin", "run", f"recipe {spec.name} in {run_dir}")
        sweep_partial(run_dir)  # what a killed run left half-written (we hold the lock: nobody writes)
        write_text(run_dir / "recipe.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
        write_json(run_dir / "provenance.json", provenance(spec))
        record_outputs(run_dir, "recipe.yaml", "provenance.json")
    for step in steps:
        execute(step, ctx)
    if steps[-1].name != "report":
        console.step("done", f"stopped after {steps[-1].name} ({time.perf_counter() - t0:.0f}s)")
        return None
    console.step("done", f"{time.perf_counter() - t0:.0f}s")
    return ctx.cache.get("report")


def eval_model_dir(spec: Recipe, model_dir: Path, *, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Bits per byte (and fertility) of any local HF causal LM on the recipe's held-out domains."""
    import torch

    from auroram.eval.bpb import fertility
    from auroram.model.build import load_base
    from auroram.pipeline.evaluate import load_heldout, make_evaluator
    from auroram.pipeline.steps.data import DataStep
    from auroram.train.loop import resolve_device
    from auroram.train.parallel import DistInfo

    recipe = resolve(spec, Path("."))
    console = Console(quiet)
    DataStep().run(RunContext(spec=spec, recipe=recipe, run_dir=Path("."), info=DistInfo(), device=None, console=console))
    model, tok = load_base(str(model_dir))
    model.to(resolve_device(recipe.train)).eval()
    texts = load_heldout(recipe)
    with torch.inference_mode():
        res = make_evaluator(recipe, tok, texts)(model)
    for d, docs in texts.items():
        res[d]["tokens_per_byte"] = fertility(tok, docs)["tokens_per_byte"]
    return res
