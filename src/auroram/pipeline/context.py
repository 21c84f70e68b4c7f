"""What every step of a run shares (RunContext), what a step is (Step), and the one place that does a
step's bookkeeping (execute): its key, skip-when-complete, the step record, the manifest, fault points and
which processes run it."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auroram.config import Recipe
from auroram.faults import fault_point
from auroram.io import mark_step_done
from auroram.pipeline.console import Console
from auroram.pipeline.rundir import begin_step, record_outputs
from auroram.train.parallel import DistInfo, barrier, broadcast
from auroram.typedconfig import to_plain


@dataclass
class RunContext:
    spec: Recipe  # as written: its virtual paths identify inputs in step keys, wherever the data lives
    recipe: Recipe  # as it runs: every path concrete (auroram.pipeline.resolve)
    run_dir: Path
    info: DistInfo
    device: Any
    console: Console
    precision: str = "fp32"  # as resolved for this machine, recorded with each stage
    # what the steps made so far, in order
    data_manifest: dict[str, Any] | None = None
    curation: dict[str, Any] | None = None
    safety: dict[str, Any] | None = None
    tokenizer: Any = None
    tokenizer_key: str = ""
    shards: dict[str, Any] = field(default_factory=dict)
    shard_keys: dict[str, str] = field(default_factory=dict)
    shard_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)  # each finished stage's result
    model_key: str = ""  # key of the weights the next stage starts from
    model_final: Path | None = None  # and where they are (None: a fresh or imported model)
    cache: dict[str, Any] = field(default_factory=dict)  # computed once per run: held-out texts, evaluators
    loggers: Any = None  # the recipe's trackers (auroram.train.loggers), opened by the first stage that trains

    def once(self, name: str, make: Any) -> Any:
        if name not in self.cache:
            self.cache[name] = make()
        return self.cache[name]

    def source_identity(self, name: str) -> dict[str, Any]:
        """A source's settings for step keys: the path as the recipe wrote it, or relative to the run when
        the data is made inside it (curated or exported), so a moved run or cache is still complete."""
        ident = to_plain(self.spec.sources[name])
        if ident.get("curate") is None:  # the default: keys of runs made before the field existed still hold
            ident.pop("curate", None)
        with contextlib.suppress(ValueError):
            ident["path"] = str(Path(self.recipe.sources[name].path).resolve().relative_to(self.run_dir.resolve()))
        return ident


class Step:
    """One step of a run. `key` hashes everything its output depends on: an unchanged key means the output
    on disk is complete and current, so the step is skipped (`load` then reads what later steps need)."""

    name = ""  # what `--until` takes
    group: str | None = None  # steps sharing a group (the shards): `--until <group>` stops after the last
    every_rank = False  # True: every process runs it (training); False: rank 0 runs it while the others wait
    record = ""  # the step's kind in its step.json
    current_key: str | None = None  # set by execute(): the key this run computed

    @property
    def fault(self) -> str:  # prefix of the step's fault points ("<fault>:start")
        return self.name

    def out_dir(self, ctx: RunContext) -> Path | None:
        return None

    def key(self, ctx: RunContext) -> str | None:
        """None: the step keeps its own cache (rank 0 runs it every time; it finds its work done)."""
        return None

    def run(self, ctx: RunContext) -> dict[str, Any] | None:
        """Make the output; returns extra fields for the step record."""
        raise NotImplementedError

    def load(self, ctx: RunContext) -> None:
        """Read a complete output into ctx (a skipped step, or ranks that did not run it)."""

    def finish(self, ctx: RunContext) -> None:
        """After the step record is written (rank 0): drop what only resuming needed."""


def execute(step: Step, ctx: RunContext) -> None:
    info = ctx.info
    key = step.current_key = step.key(ctx)  # every rank: later steps' keys chain on it
    out = step.out_dir(ctx)
    t0 = time.perf_counter()
    if key is None:
        if info.is_main:
            ctx.console.begin(step.name)
            step.run(ctx)
            if out is not None:
                record_outputs(ctx.run_dir, out.relative_to(ctx.run_dir).as_posix())
            ctx.console.end(step.name, time.perf_counter() - t0)
        barrier(info)
        step.load(ctx)
        return
    assert out is not None, f"step {step.name} has a key but no output directory"
    if step.every_rank:  # rank 0 decides (and touches the file system); every rank gets its answer
        done = broadcast(info, begin_step(out, key) if info.is_main else None)
    else:
        done = begin_step(out, key) if info.is_main else True
    if done and info.is_main:
        ctx.console.step(step.name, "cached")
    if not done:
        ctx.console.begin(step.name)
        fault_point(f"{step.fault}:start")
        extra = step.run(ctx)
        if info.is_main:
            mark_step_done(out, step.record, key, **(extra or {}))
            step.finish(ctx)
            record_outputs(ctx.run_dir, out.relative_to(ctx.run_dir).as_posix())
        ctx.console.end(step.name, time.perf_counter() - t0)
    barrier(info)
    step.load(ctx)  # every rank reads the output back: what later steps use is what is on disk
