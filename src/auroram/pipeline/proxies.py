"""The proxy runs of `auroram mix search`: one preparatory run of the recipe up to the stage before the searched
one (at the proxy's model size), then one short run of the stage per mixture, every one starting from the same
weights. A proxy is an independent task: a local process (`--workers`), or one task of a Slurm job array
(`python -m auroram.pipeline.proxies SEARCH_DIR INDEX`); it reads the preparatory run and writes only its own
folder, `proxies/<index>/result.json` last, so a finished proxy is skipped when the search is run again.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from auroram.config import Recipe, load_recipe
from auroram.io import hash_obj, read_json, step_done, write_json, write_text
from auroram.pipeline.console import Console
from auroram.pipeline.context import RunContext
from auroram.pipeline.rundir import RunError
from auroram.train.parallel import DistInfo

# what the preparatory run leaves out of a hard-linked copy of an earlier run: its later stages, its report and
# logs (appended in place, so never shared), and its lock
_SKIP_TOPS = {"report", "report.json", "log.txt", "tb", "wandb", "mlruns", ".lock", ".auroram-output.json"}


def step_before(recipe: Recipe, stage: str) -> str:
    """The step whose weights the stage starts from (a stage, or eval-base for an imported base)."""
    from auroram.pipeline.steps import recipe_steps
    from auroram.pipeline.steps.stage import StageStep

    steps = recipe_steps(recipe)
    names = [s.name for s in steps if isinstance(s, StageStep)]
    if stage not in names:
        raise RunError(f"--stage {stage!r}: not a stage of recipe '{recipe.name}' (stages: {', '.join(names)})")
    i = [s.name for s in steps].index(stage)
    before = steps[i - 1].name
    if not isinstance(steps[i - 1], StageStep) and before != "eval-base":
        raise RunError(f"--stage {stage!r} is the recipe's first stage: it has no model before it to forget "
                       f"from (search a later stage)")
    return before


def link_run(src: Path, dst: Path, stage: str, recipe: Recipe) -> int:
    """Hard-link an earlier run's finished steps into the preparatory run (a copy across file systems): the
    run's step keys then decide what is reused. Every write of a run replaces files whole, so the source is
    never changed through a link. Returns the files linked."""
    later = {s.name for s in recipe.stages[[s.name for s in recipe.stages].index(stage):]}
    n = 0
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in _SKIP_TOPS]
            files = [f for f in files if f not in _SKIP_TOPS]
        elif rel == Path("stages"):
            dirs[:] = [d for d in dirs if d not in later]
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            target = dst / rel / f
            if target.exists():
                continue
            try:
                os.link(Path(root) / f, target)
            except OSError:
                import shutil

                shutil.copy2(Path(root) / f, target)
            n += 1
    return n


def load_context(spec: Recipe, run_dir: Path, until: str, console: Console) -> RunContext:
    """The preparatory run's context read back, as `auroram run` leaves it after `until`, writing nothing: each
    step's key is checked against its record and its output loaded (tokenizer, shards, weights, results)."""
    import torch

    from auroram.pipeline.resolve import resolve
    from auroram.pipeline.run import select_steps
    from auroram.pipeline.steps import recipe_steps
    from auroram.train.loop import resolve_device

    recipe = resolve(spec, run_dir)
    steps = select_steps(recipe_steps(recipe), until, recipe)
    ctx = RunContext(spec=spec, recipe=recipe, run_dir=run_dir, info=DistInfo(), device=resolve_device(recipe.train),
                     console=console)
    ctx.precision = "bf16" if (recipe.train.precision == "bf16") else "fp32"
    for step in steps:
        key = step.current_key = step.key(ctx)
        out = step.out_dir(ctx)
        if key is not None and not step_done(out, key):
            raise RunError(f"{run_dir}: step {step.name} is not complete for this recipe (run the search again)")
        step.load(ctx)
    torch.manual_seed(recipe.seed)
    return ctx


# stage fields a proxy sets itself (its mixture, tokens, no intermediate evals or checkpoints)
_PROXY_OWN = ("mixture", "replay", "tokens", "eval_every_steps", "checkpoint_every_steps", "keep_checkpoints")


def setup_key(ctx: RunContext, stage: str) -> str:
    """What every proxy's scores depend on besides its mixture and tokens: the weights it starts from, the
    stage's optimiser and schedule, the training settings, the shards it may draw from and the evaluation."""
    from auroram.pipeline.evaluate import eval_key
    from auroram.pipeline.steps.stage import EXECUTION_ONLY, NEW_DEFAULTS_STAGE, without_defaults
    from auroram.typedconfig import to_plain

    r = ctx.recipe
    idx = [s.name for s in r.stages].index(stage)
    st = {k: v for k, v in without_defaults(to_plain(r.stages[idx]), NEW_DEFAULTS_STAGE).items()
          if k not in _PROXY_OWN}
    train = {k: v for k, v in to_plain(r.train).items() if k not in EXECUTION_ONLY}
    return hash_obj({"start": ctx.model_key, "stage": st, "index": idx, "train": train, "seed": r.seed,
                     "shards": {s: ctx.shard_keys[s] for s in r.stage_weights(r.stages[idx])}, "eval": eval_key(ctx)})


def proxy_key(plan: dict[str, Any], p: dict[str, Any]) -> str:
    return hash_obj({"prep": plan["prep_key"], "setup": plan.get("setup_key"), "stage": plan["stage"],
                     "tokens": plan["proxy_tokens"], "sources": p["sources"]})


def proxy_done(search_dir: Path, plan: dict[str, Any], index: int) -> bool:
    f = search_dir / "proxies" / f"{index:03d}" / "result.json"
    if not f.is_file():
        return False
    try:
        return read_json(f).get("key") == proxy_key(plan, plan["proxies"][index])
    except (OSError, ValueError):
        return False


def run_proxy(search_dir: Path, index: int, threads: int = 0, quiet: bool = True) -> dict[str, Any]:
    """Train proxy `index` of the search's plan and score it; a proxy already done is read back."""
    import math

    import torch

    from auroram.mix.mixture import Mixture
    from auroram.model.build import flops_per_token
    from auroram.pipeline.steps.stage import evaluator, start_model
    from auroram.train.loop import train_stage
    from auroram.train.parallel import unwrap

    search_dir = Path(search_dir)
    plan = read_json(search_dir / "plan.json")
    p = plan["proxies"][index]
    out = search_dir / "proxies" / f"{index:03d}"
    if proxy_done(search_dir, plan, index):
        return read_json(out / "result.json")
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    prep = search_dir / "prep"
    spec = load_recipe(str(prep / "recipe.yaml"))
    console = Console(quiet=quiet)
    ctx = load_context(spec, prep, plan["before"], console)
    r = ctx.recipe
    idx = [s.name for s in r.stages].index(plan["stage"])
    st = replace(r.stages[idx], mixture=dict(p["sources"]), replay={}, tokens=plan["proxy_tokens"],
                 eval_every_steps=0, checkpoint_every_steps=0)
    weights = {s: w / sum(p["sources"].values()) for s, w in p["sources"].items()}
    t = r.train
    steps = math.ceil(st.tokens / t.global_batch_tokens)
    model = start_model(ctx, bf16=False, activation_checkpointing=False, compile=False)
    rows = unwrap(model).get_input_embeddings().num_embeddings
    mixture = Mixture({s: ctx.shards[s] for s in weights}, weights, seq_len=t.seq_len,
                      global_batch_seqs=t.global_batch_tokens // t.seq_len, seed=r.seed, stage_index=idx,
                      vocab_size=rows)
    res = train_stage(model=model, mixture=mixture, stage=st, stage_index=idx, train=t, total_steps=steps,
                      out_dir=out, evaluate=evaluator(ctx), progress=None, loggers=None, info=ctx.info)
    import shutil

    for d in ("ckpt", "final"):  # only resuming needed them; the scores are what a proxy keeps
        shutil.rmtree(out / d, ignore_errors=True)
    fpt = flops_per_token(unwrap(model), t.seq_len)
    result = {"index": index, "key": proxy_key(plan, p), "weights": p["weights"], "sources": p["sources"],
              "bpb": {d: v["bpb"] for d, v in (res.final_eval or {}).items()}, "tokens": res.tokens,
              "steps": res.steps, "seconds": round(time.perf_counter() - t0, 2),
              "train_seconds": round(res.seconds, 2), "flops": fpt * res.tokens, "flops_per_token": fpt}
    write_json(out / "result.json", result)
    return result


def _worker(args: tuple[str, int, int]) -> dict[str, Any]:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from auroram.pipeline.run import _quiet_transformers

    _quiet_transformers()
    return run_proxy(Path(args[0]), args[1], threads=args[2])


def run_local(search_dir: Path, todo: list[int], workers: int, console: Console) -> None:
    """The unfinished proxies on this machine, `workers` processes at once (each with its share of the cores)."""
    total = len(read_json(search_dir / "plan.json")["proxies"])

    def report(res: dict[str, Any]) -> None:
        scores = " ".join(f"{d} {v:.3f}" for d, v in res["bpb"].items())
        console.step("mix search", f"proxy {res['index']}/{total - 1}: {scores} ({res['seconds']:.0f}s)")

    if workers <= 1:
        for i in todo:
            report(run_proxy(search_dir, i))
        return
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_worker, (str(search_dir), i, threads)) for i in todo]
        for f in cf.as_completed(futures):
            report(f.result())


def slurm_script(search_dir: Path, todo: list[int], *, partition: str, time_limit: str, gpus: int,
                 cpus: int) -> Path:
    """A job array of the unfinished proxies, one task each; written to slurm/proxies.sbatch."""
    search_dir = Path(search_dir).resolve()
    logs = search_dir / "slurm"
    activate = Path(sys.prefix) / "bin" / "activate"
    lines = ["#!/bin/bash", "#SBATCH --job-name=auroram-mix-proxies", f"#SBATCH --array={','.join(map(str, todo))}",
             f"#SBATCH --partition={partition}", f"#SBATCH --time={time_limit}", f"#SBATCH --cpus-per-task={cpus}",
             f"#SBATCH --output={logs}/proxy-%a.out"]
    if gpus:
        lines.append(f"#SBATCH --gpus-per-task={gpus}")
    lines += ["set -euo pipefail"]
    if activate.is_file():
        lines.append(f"source {shlex.quote(str(activate))}")
    cache = os.environ.get("AURORAM_CACHE")
    if cache:
        lines.append(f"export AURORAM_CACHE={shlex.quote(cache)}")
    lines.append(f"exec {shlex.quote(sys.executable)} -m auroram.pipeline.proxies {shlex.quote(str(search_dir))} "
                 f"$SLURM_ARRAY_TASK_ID")
    path = logs / "proxies.sbatch"
    write_text(path, "\n".join(lines) + "\n")
    return path


if __name__ == "__main__":  # one task of the Slurm array
    _worker((sys.argv[1], int(sys.argv[2]), 0))
