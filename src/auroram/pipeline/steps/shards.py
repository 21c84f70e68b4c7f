"""One source's packed token shard: its documents read (instruction formats rendered with the chat
template, bad records quarantined), checked against every evaluation set (13-word grams; 25 characters for
Japanese) and tokenized into `shards/<source>/tokens.bin`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auroram.config import Recipe, StageConfig
from auroram.data.sources import input_fingerprint, iter_source
from auroram.faults import fault_point
from auroram.io import hash_obj, read_json
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.evaluate import eval_texts
from auroram.pipeline.rundir import RunError


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


def _renderer(ctx: RunContext) -> Any:
    from auroram.tokenize.render import Renderer

    return ctx.once("renderer", lambda: Renderer(ctx.tokenizer))


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

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from auroram.data.decontam import Decontaminator
        from auroram.data.instruct import Quarantine
        from auroram.tokenize.bpe import eos_id
        from auroram.tokenize.render import render_docs
        from auroram.tokenize.shards import Shard, tokenize_to_shard

        name, src, out = self.source, ctx.recipe.sources[self.source], self.out_dir(ctx)
        renderer = _renderer(ctx)

        def make_decontaminator() -> Decontaminator:
            sets = _decontamination(ctx)[0]
            langs = {s: (s.split("-", 1)[1] if s.startswith(("mc-", "safety-")) else s) for s in sets}
            return Decontaminator(sets, langs=langs)

        decon = ctx.once("decontaminator", make_decontaminator)
        with ctx.console.progress() as prog:
            task = prog.add_task(f"tokenize {name}", total=src.max_docs, info="") if prog else None

            def tick(n: int) -> None:
                if prog is not None:
                    prog.update(task, completed=n)

            q = Quarantine()
            docs = decon.filter(render_docs(iter_source(src, quarantine=q), renderer, src.loss_on, q), name)
            st = tokenize_to_shard(ctx.tokenizer, docs, out / "tokens.bin", eos_id=eos_id(ctx.tokenizer),
                                   progress=tick)
            if prog is not None:  # a finished bar stops its clock
                prog.update(task, total=st.get("documents", 0), completed=st.get("documents", 0))
        table = decon.table()["sources"].get(name, {})
        if q.quarantined:
            q.write(out / "quarantine.jsonl")
        if table.get("dropped"):
            decon.write_drops(out / "decontaminated.jsonl", name)
        if st.get("documents", 0) == 0:
            raise RunError(f"source '{name}' ({src.path}) has no documents "
                           f"({q.quarantined} quarantined, {table.get('dropped', 0)} decontaminated)")
        shard = Shard(out / "tokens.bin")
        shard.verify()  # read back once while it is in the page cache; later runs trust the record below
        fault_point(f"shards:{name}:written")
        line = f"{st.get('documents', 0):,} documents, {st.get('tokens', 0):,} tokens"
        if table.get("dropped") or q.quarantined:
            line += f" ({table.get('dropped', 0):,} overlapping evaluation sets, {q.quarantined:,} quarantined)"
        ctx.console.step(self.name, line)
        return {**st, "quarantine": q.summary(), "decontamination": table, "format": src.format,
                "renderer": renderer.kind if src.format != "text" else None, "verified": shard.record()}

    def load(self, ctx: RunContext) -> None:
        from auroram.tokenize.shards import Shard, ShardError

        out = self.out_dir(ctx)
        shard = Shard(out / "tokens.bin")
        rec = read_json(out / "step.json")
        # the record is written after the shard: a shard changed since (bits flipped, copied over) is newer
        untouched = shard.path.stat().st_mtime_ns <= (out / "step.json").stat().st_mtime_ns
        try:
            shard.verify_once(rec.get("verified") if untouched else None)
        except ShardError as e:
            raise ShardError(f"{e}; delete {out} and run again to rebuild it") from None
        ctx.shards[self.source] = shard
        ctx.shard_keys[self.source] = self.current_key or ""
        ctx.shard_stats[self.source] = {k: rec.get(k) for k in ("documents", "tokens", "bytes", "quarantine",
                                                                 "decontamination", "format", "renderer")}
