"""`auroram prepare`: the data steps of a run (data, curate, safety, tokenizer, shards) and nothing else, on
CPU, without torch.distributed, so a cluster prepares the data on CPU nodes before the GPU job starts.
`auroram run` on the same run directory then finds every data step done and skips it.

With `data.executor: slurm` it submits the work as jobs and returns (auroram.pipeline.slurm); the jobs run
this same code inside them (`job`): "plan" runs the steps up to the tokenizer and writes each shard set's
task spec, "finish" runs everything left here and writes the step records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import yaml

from auroram.config import Recipe
from auroram.errors import describe_error, require_extra
from auroram.io import write_json, write_text
from auroram.pipeline.console import Console
from auroram.pipeline.context import RunContext, Step, execute
from auroram.pipeline.resolve import curates, resolve
from auroram.pipeline.rundir import RunError, begin_step, provenance, record_outputs, run_lock, sweep_partial
from auroram.pipeline.steps import recipe_steps
from auroram.pipeline.steps.shards import ShardStep

Job = Literal["plan", "finish"]


def data_steps(recipe: Recipe) -> list[Step]:
    """The steps `auroram prepare` runs: every step before the first that needs a model."""
    steps = recipe_steps(recipe)
    last = max(i for i, s in enumerate(steps) if s.name in ("tokenizer",) or isinstance(s, ShardStep))
    return steps[: last + 1]


def needs_datatrove(recipe: Recipe, *, submits: bool = False) -> bool:
    """The recipe's data steps run on datatrove (tasks in this process, one at a time, need nothing optional);
    `submits`: Slurm jobs are submitted (elsewhere a slurm recipe's steps run here)."""
    d = recipe.data
    return curates(recipe) or d.workers > 1 or d.executor == "ray" or (submits and d.executor == "slurm")


def require_datatrove(spec: Recipe, *, submits: bool = False) -> None:
    if needs_datatrove(spec, submits=submits):
        what = "its curation" if curates(spec) else f"data.executor '{spec.data.executor}', data.workers " \
                                                    f"{spec.data.workers}"
        require_extra("datatrove", "curate", f"recipe '{spec.name}': {what}")


def prepare_recipe(spec: Recipe, run_dir: Path, *, recipe_arg: str | None = None, overrides: list[str] | None = None,
                   job: Job | None = None, quiet: bool = False, log_format: str = "auto",
                   progress_seconds: float = 30.0) -> dict[str, Any]:
    """Prepare the run's data in run_dir; returns what was done (or, for Slurm, what was submitted)."""
    from auroram.train.parallel import DistInfo

    run_dir = Path(run_dir)
    recipe = resolve(spec, run_dir)
    # before anything is written: a missing extra is a one-line error
    require_datatrove(spec, submits=job is None)
    if spec.data.executor == "slurm" and job is None:
        from auroram.pipeline.slurm import submit

        if recipe_arg is None:
            raise RunError("data.executor slurm: the jobs need the recipe's name or file (recipe_arg)")
        return submit(spec, recipe, run_dir, recipe_arg, overrides or [], quiet=quiet)
    console = Console(quiet, log_format=log_format, progress_seconds=progress_seconds)
    ctx = RunContext(spec=spec, recipe=recipe, run_dir=run_dir, info=DistInfo(), device=None, console=console)
    try:
        with run_lock(run_dir), console.capture():
            return _prepare(ctx, data_steps(recipe), job)
    except BaseException as e:
        if console.error(describe_error(e).removeprefix("error: ")):
            e.auroram_reported = True  # type: ignore[attr-defined]  # the CLI need not print it again
        raise
    finally:
        console.close()


def _prepare(ctx: RunContext, steps: list[Step], job: Job | None) -> dict[str, Any]:
    run_dir, spec, console = ctx.run_dir, ctx.spec, ctx.console
    t0 = time.perf_counter()
    console.attach_log(run_dir / "log.txt")
    console.emit("info", "begin", "prepare", f"recipe {spec.name} in {run_dir}" + (f" ({job} job)" if job else ""))
    sweep_partial(run_dir)
    write_text(run_dir / "recipe.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
    write_json(run_dir / "provenance.json", provenance(spec))
    record_outputs(run_dir, "recipe.yaml", "provenance.json")
    planned = []
    for step in steps:
        if job == "plan" and isinstance(step, ShardStep):
            planned.append(_plan(step, ctx))
            continue
        execute(step, ctx)
    done = [s.name for s in steps if not isinstance(s, ShardStep) or job != "plan"]
    console.step("done", f"data prepared: {len(done)} steps ({time.perf_counter() - t0:.0f}s)" if job != "plan" else
                 f"planned {len(planned)} shard sets ({time.perf_counter() - t0:.0f}s)")
    return {"steps": done, "planned": planned}


def _plan(step: ShardStep, ctx: RunContext) -> str:
    """The shard step's task spec, written for the task array (the step itself is finished by a later job)."""
    key = step.current_key = step.key(ctx)
    out = step.out_dir(ctx)
    if begin_step(out, key):  # done already: its tasks find nothing to do
        ctx.console.step(step.name, "cached")
        step.load(ctx)
        return step.name
    spec = step.plan(ctx)
    ctx.console.step(step.name, f"planned: {spec['tasks']} tasks over {len(spec['units'])} file(s)")
    return step.name


def check_prepared(recipe: Recipe, run_dir: Path, steps: list[Step]) -> None:
    """A multi-process run with data.executor slurm starts only on prepared data: one line saying what to run."""
    run_dir = Path(run_dir)
    missing = [s.name for s in steps if isinstance(s, ShardStep) and not (run_dir / "shards" / s.source /
                                                                            "step.json").is_file()]
    if recipe.tokenizer.kind == "train-bpe" and not (run_dir / "tokenizer" / "step.json").is_file():
        missing.insert(0, "tokenizer")
    if missing:
        raise RunError(f"{run_dir}: data not prepared ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}) "
                       f"and data.executor is slurm: run `auroram prepare RECIPE --run-dir {run_dir}` first "
                       f"(scripts/slurm/prepare-and-train.sh does both)")
