"""One source's shard set: its documents read in `data.tasks` byte ranges (instruction formats rendered
with the chat template, bad records quarantined), checked against every evaluation set (13-word grams; 25
characters for Japanese) and tokenized, one part per task, into `shards/<source>/parts/`; `index.json` is
written last. The parts read in order are the stream one task would write, whatever the number of tasks.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from auroram.config import Recipe, StageConfig
from auroram.data.sources import input_fingerprint
from auroram.faults import fault_point
from auroram.io import hash_obj, read_json, write_json, write_text
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.evaluate import eval_texts
from auroram.pipeline.rundir import RunError
from auroram.tokenize import tasks as T
from auroram.typedconfig import to_plain


def stage_sources(recipe: Recipe, stages: list[StageConfig]) -> list[str]:
    used: set[str] = set()
    for st in stages:
        used.update(recipe.stage_weights(st))
    return sorted(used)


def _decontamination(ctx: RunContext) -> tuple[dict[str, list[str]], str]:
    def make() -> tuple[dict[str, list[str]], str]:
        sets = eval_texts(ctx)
        return sets, hash_obj({"sets": {k: hash_obj(v) for k, v in sets.items()}, "rule": "13w/25c-ja"})

    return ctx.once("decontamination", make)


def _decontaminator(ctx: RunContext) -> Any:
    from auroram.data.decontam import Decontaminator

    def make() -> Decontaminator:
        sets = _decontamination(ctx)[0]
        langs = {s: (s.split("-", 1)[1] if s.startswith(("mc-", "safety-")) else s) for s in sets}
        return Decontaminator(sets, langs=langs)

    return ctx.once("decontaminator", make)


def _renderer(ctx: RunContext) -> Any:
    from auroram.tokenize.render import Renderer

    return ctx.once("renderer", lambda: Renderer(ctx.tokenizer))


def tokenizer_dir(ctx: RunContext) -> str:
    """Where tasks in other processes load the run's tokenizer from."""
    if ctx.recipe.tokenizer.kind == "base":
        return str(Path(ctx.recipe.model.base or "").resolve())
    return str((ctx.run_dir / "tokenizer" / "hf").resolve())


def data_executor(ctx: RunContext) -> str:
    """The executor this process runs tasks on: Slurm jobs are submitted only by `auroram prepare`; a step
    that runs here (a single-node `auroram run`, or inside a prepare job) runs its tasks locally."""
    kind = ctx.recipe.data.executor
    return "local" if kind == "slurm" else kind


def guard_cluster_run(ctx: RunContext, what: str) -> None:
    """Under torchrun on a Slurm cluster, data preparation belongs to `auroram prepare` on CPU nodes."""
    if ctx.info.world_size > 1 and ctx.recipe.data.executor == "slurm":
        raise RunError(f"{what} is not prepared in {ctx.run_dir} (data.executor is slurm): run `auroram prepare "
                       f"RECIPE --run-dir {ctx.run_dir}` first, then this job")


class ShardStep(Step):
    group = "shards"
    record = "shard"

    def __init__(self, source: str):
        self.source = source
        self.name = f"shards:{source}"

    def out_dir(self, ctx: RunContext) -> Path:
        return ctx.run_dir / "shards" / self.source

    def key(self, ctx: RunContext) -> str:
        src = ctx.recipe.sources[self.source]
        renderer = _renderer(ctx)
        render_h = hash_obj({"kind": renderer.kind, "template": getattr(ctx.tokenizer, "chat_template", None)})
        return hash_obj({"src": ctx.source_identity(self.source), "tok": ctx.tokenizer_key,
                         "input": input_fingerprint(src.path), "decontam": _decontamination(ctx)[1],
                         "render": render_h if src.format != "text" else None})

    def plan(self, ctx: RunContext) -> dict[str, Any]:
        """Write work/spec.json, what every task reads (kept when it is the same: finished tasks stay done)."""
        from auroram.data.ranges import plan_units

        out, src = self.out_dir(ctx), ctx.recipe.sources[self.source]
        tasks = ctx.recipe.data.tasks
        units = [u.to_dict() for u in plan_units(src)]
        sets, decon_h = _decontamination(ctx)
        key = self.current_key or self.key(ctx)
        spec = {"name": self.source, "source": to_plain(src), "tasks": tasks, "units": units,
                "masked": src.format != "text" or src.loss_on == "response", "tokenizer": tokenizer_dir(ctx),
                "eval_sets": str((out / T.WORK / "eval_sets.json").resolve()), "decontam": decon_h,
                # a task's output is valid for this step, this split and these units only
                "key": hash_obj({"step": key, "tasks": tasks, "units": units})}
        path = T.spec_path(out)
        old = read_json(path) if path.is_file() else None
        if old != spec:
            write_json(out / T.WORK / "eval_sets.json", sets)
            write_json(path, spec)
        return spec

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from auroram.tokenize.shards import ShardError
        from auroram.tokenize.shardset import ShardSet, finalize

        guard_cluster_run(ctx, self.name)
        name, src, out = self.source, ctx.recipe.sources[self.source], self.out_dir(ctx)
        spec = self.plan(ctx)
        self._run_tasks(ctx, spec)
        m = T.merge_tasks(out, spec["tasks"], name)
        fault_point(f"shards:{name}:finalize")
        finalize(out, spec["tasks"], meta={"source": name, "format": src.format, "loss_on": src.loss_on})
        try:
            sset = ShardSet(out)
            sset.verify()  # read back once while it is in the page cache; later runs trust the record below
        except ShardError as e:
            raise ShardError(f"{e}; run again to redo the part") from None
        if m["rejects"]:
            write_text(out / "quarantine.jsonl", "".join(_line(r) for r in m["rejects"]))
        if m["dropped"]:
            write_text(out / "decontaminated.jsonl", "".join(_line(r) for r in m["drops"]))
        quarantine = _summary(m["records"], m["rejects"])
        table = {"checked": m["checked"], "kept": m["checked"] - m["dropped"], "dropped": m["dropped"],
                 "by_eval_set": m["by_eval_set"]}
        if m["documents"] == 0:
            raise RunError(f"source '{name}' ({src.path}) has no documents "
                           f"({len(m['rejects'])} quarantined, {m['dropped']} decontaminated)")
        fault_point(f"shards:{name}:written")
        line = f"{m['documents']:,} documents, {m['tokens']:,} tokens"
        if spec["tasks"] > 1:
            line += f" in {spec['tasks']} parts"
        if m["dropped"] or m["rejects"]:
            line += f" ({m['dropped']:,} overlapping evaluation sets, {len(m['rejects']):,} quarantined)"
        ctx.console.step(self.name, line)
        return {"documents": m["documents"], "tokens": m["tokens"], "bytes": m["bytes"], "quarantine": quarantine,
                "decontamination": table, "format": src.format,
                "renderer": _renderer(ctx).kind if src.format != "text" else None, "verified": sset.record(),
                "parts": spec["tasks"]}

    def _run_tasks(self, ctx: RunContext, spec: dict[str, Any]) -> None:
        """The tasks not done yet, on this process (local, one worker), a local pool or Ray."""
        out, tasks, data = self.out_dir(ctx), spec["tasks"], ctx.recipe.data
        todo = [r for r in range(tasks) if not T.task_done(out, r, spec["key"])]
        if not todo:
            return
        # tasks run here share what this run loaded already
        T.remember(("tokenizer", spec["tokenizer"]), ctx.tokenizer)
        T.remember(("renderer", spec["tokenizer"]), _renderer(ctx))
        T.remember(("decontaminator", spec["decontam"]), _decontaminator(ctx))
        if data_executor(ctx) == "local" and data.workers == 1:
            self._run_here(ctx, spec, todo)
            return
        from auroram.curate.tokenize_step import ShardTask
        from auroram.pipeline.executors import run_now, sync_completions

        logs = out / T.WORK / "logs"
        sync_completions(logs, tasks, lambda r: r not in todo)
        ctx.console.step(self.name, f"{len(todo)} of {tasks} tasks on the {data_executor(ctx)} executor ...")
        try:
            run_now(data, [ShardTask(str(out))], tasks, logs)
        except Exception as e:  # noqa: BLE001 - a pool or Ray hands a task's error back wrapped
            T.raise_task_failure(out, todo, e)
        T.raise_task_failure(out, [r for r in todo if not T.task_done(out, r, spec["key"])], None)

    def _run_here(self, ctx: RunContext, spec: dict[str, Any], todo: list[int]) -> None:
        out, tasks = self.out_dir(ctx), spec["tasks"]
        docs = {r: 0 if r in todo else read_json(T.task_record_path(out, r))["documents"] for r in range(tasks)}
        with ctx.console.progress() as prog:
            src = ctx.recipe.sources[self.source]
            bar = prog.add_task(f"tokenize {self.source}", total=src.max_docs, info="") if prog else None

            def tick(rank: int, n: int) -> None:  # the documents of the tasks before count as done
                if prog is not None:
                    prog.update(bar, completed=sum(docs[i] for i in range(rank)) + n)

            T.progress_hook = tick
            try:
                for r in todo:
                    rec = T.run_task(out, r)
                    docs[r] = rec["documents"] if rec else 0
            finally:
                T.progress_hook = None
            if prog is not None:  # a finished bar stops its clock
                prog.update(bar, total=sum(docs.values()), completed=sum(docs.values()))

    def finish(self, ctx: RunContext) -> None:
        # the spec, task records and datatrove logs only served resuming; the set and its records stay
        shutil.rmtree(self.out_dir(ctx) / T.WORK, ignore_errors=True)

    def load(self, ctx: RunContext) -> None:
        from auroram.tokenize.shards import ShardError
        from auroram.tokenize.shardset import open_tokens

        out = self.out_dir(ctx)
        rec = read_json(out / "step.json")
        single = out / "tokens.bin"  # a run made before shard sets: kept as it is
        try:
            tokens = open_tokens(single if single.is_file() and not (out / "index.json").exists() else out)
            # the record is written after the set: a set changed since (bits flipped, copied over) is newer
            untouched = tokens.mtime_ns() <= (out / "step.json").stat().st_mtime_ns
            tokens.verify_once(rec.get("verified") if untouched else None)
        except ShardError as e:
            raise ShardError(f"{e}; delete {out} and run again to rebuild it") from None
        ctx.shards[self.source] = tokens
        ctx.shard_keys[self.source] = self.current_key or ""
        ctx.shard_stats[self.source] = {k: rec.get(k) for k in ("documents", "tokens", "bytes", "quarantine",
                                                                 "decontamination", "format", "renderer")}


def _line(rec: dict[str, Any]) -> str:
    import json

    return json.dumps(rec, ensure_ascii=False) + "\n"


def _summary(records: int, rejects: list[dict[str, Any]]) -> dict[str, Any]:
    from auroram.data.instruct import Quarantine

    q = Quarantine()
    q.records, q.rejects = records, rejects
    return q.summary()
