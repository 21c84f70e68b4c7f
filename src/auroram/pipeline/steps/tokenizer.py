"""The tokenizer: the base model's own, the base's own extended with tokens learnt from the new languages
(`kind: extend`, docs/vocabulary.md), or a byte-level BPE trained on the recipe's `train_sources` (equal
bytes per source, so code does not crowd out English)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

from auroram.data.sources import input_fingerprint, iter_source
from auroram.faults import fault_point
from auroram.io import hash_obj
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.rundir import RunError
from auroram.typedconfig import to_plain

# settings only `kind: extend` reads; left out of a train-bpe key so runs made before they existed stay complete
EXTEND_ONLY = ("add", "keep", "min_frequency", "init", "shares", "init_scale", "keep_foreign_below")


class TokenizerStep(Step):
    name = "tokenizer"
    record = "tokenizer"

    def out_dir(self, ctx: RunContext) -> Path | None:
        return None if ctx.recipe.tokenizer.kind == "base" else ctx.run_dir / "tokenizer"

    def key(self, ctx: RunContext) -> str | None:
        t = ctx.recipe.tokenizer
        if t.kind == "base":
            return None  # nothing to make: the base's tokenizer is read where it is
        if t.kind == "extend":
            return extend_key(ctx)
        inputs = {s: input_fingerprint(ctx.recipe.sources[s].path) for s in t.train_sources}
        cfg = {k: v for k, v in to_plain(t).items() if k not in EXTEND_ONLY}  # keys of earlier runs still hold
        return hash_obj({"cfg": cfg, "sources": {s: ctx.source_identity(s) for s in t.train_sources},
                         "inputs": inputs})

    def run(self, ctx: RunContext) -> dict[str, Any] | None:
        from auroram.tokenize.bpe import train_bpe

        if ctx.recipe.tokenizer.kind == "base":
            self.load(ctx)
            ctx.console.step("tokenizer", f"the base model's own ({len(ctx.tokenizer):,} tokens)")
            return None
        t = ctx.recipe.tokenizer
        if t.kind == "extend":
            return run_extend(ctx)
        t0 = time.perf_counter()
        tok = train_bpe(training_texts(ctx), t.vocab_size, ctx.run_dir / "tokenizer" / "hf")
        fault_point("tokenizer:trained")
        ctx.console.step("tokenizer", f"byte-level BPE, {len(tok):,} tokens, trained on {', '.join(t.train_sources)} "
                                      f"in {time.perf_counter() - t0:.1f}s")
        return {"vocab_size": len(tok)}

    def load(self, ctx: RunContext) -> None:
        from auroram.tokenize.bpe import load_tokenizer

        if ctx.recipe.tokenizer.kind == "base":
            if ctx.tokenizer is not None:  # rank 0 read it in run()
                return
            base = ctx.recipe.model.base
            if not base:
                raise RunError("tokenizer.kind is 'base' but model.base names no model directory")
            ctx.tokenizer = load_tokenizer(base)
            ctx.tokenizer_key = hash_obj({"base": str(Path(base).resolve()), "vocab": len(ctx.tokenizer)})
            return
        ctx.tokenizer = load_tokenizer(ctx.run_dir / "tokenizer" / "hf")
        ctx.tokenizer_key = self.current_key or ""


def extension_summary(ctx: RunContext) -> dict[str, Any] | None:
    """The summary of the run's extension.json; None unless the run extends its base's vocabulary."""
    from auroram.tokenize.extend import read_extension

    if ctx.recipe.tokenizer.kind != "extend":
        return None
    return summarize_extension(read_extension(ctx.run_dir / "tokenizer" / "hf"))


def training_texts(ctx: RunContext) -> Iterator[str]:
    t = ctx.recipe.tokenizer
    per_source = t.max_train_bytes // len(t.train_sources)
    for s in t.train_sources:
        used = 0
        for text in iter_source(ctx.recipe.sources[s]):
            if isinstance(text, tuple):
                text = "\n".join(text)
            elif hasattr(text, "plain_text"):  # an instruction conversation
                text = text.plain_text()
            if used >= per_source:
                break
            chunk = text[: max(per_source - used, 0)]
            used += len(chunk.encode("utf-8"))
            yield chunk


def extend_key(ctx: RunContext) -> str:
    """What an extended tokenizer depends on: the base's tokenizer files, the settings, the sources it learns
    from and keeps unchanged (settings and input files), and the seed of the new rows' init."""
    from auroram.tokenize.extend import tokenizer_files_hash

    t, r = ctx.recipe.tokenizer, ctx.recipe
    if not r.model.base:
        raise RunError("tokenizer.kind is 'extend' but model.base names no model directory")
    names = list(dict.fromkeys(t.train_sources + t.keep))
    # settings left at what earlier runs did (pooled learning, no scale) leave their keys as they were
    unused = {"vocab_size"} | ({"shares"} if not t.shares else set()) | \
        ({"init_scale"} if t.init != "scaled_mean" else set())
    cfg = {k: v for k, v in to_plain(t).items() if k not in unused}
    return hash_obj({"cfg": cfg,
                     "base": tokenizer_files_hash(r.model.base),
                     "sources": {s: ctx.source_identity(s) for s in names},
                     "inputs": {s: input_fingerprint(r.sources[s].path) for s in names}, "seed": r.seed})


def run_extend(ctx: RunContext) -> dict[str, Any]:
    from auroram.tokenize.extend import TextSource, TrainerSettings, extend_tokenizer, source_texts

    t, r = ctx.recipe.tokenizer, ctx.recipe

    def named(names: list[str]) -> list[TextSource]:
        return [TextSource(s, source_texts(iter_source(r.sources[s])), path=ctx.spec.sources[s].path,
                           fingerprint=input_fingerprint(r.sources[s].path)) for s in names]

    t0 = time.perf_counter()
    settings = TrainerSettings(add=t.add, min_frequency=t.min_frequency, max_train_bytes=t.max_train_bytes,
                               init=t.init, init_scale=t.init_scale, seed=r.seed, shares=dict(t.shares),
                               keep_foreign_below=t.keep_foreign_below)
    rec = extend_tokenizer(r.model.base, named(t.train_sources), settings, ctx.run_dir / "tokenizer" / "hf",
                           keep=named(t.keep))
    fault_point("tokenizer:trained")
    ctx.console.step("tokenizer", f"the base's {rec['base']['vocab_size']:,} tokens + {rec['added']:,} learnt from "
                                  f"{', '.join(t.train_sources)} in {time.perf_counter() - t0:.1f}s")
    return {"vocab_size": rec["vocab_size"], "extension": summarize_extension(rec)}


def summarize_extension(rec: dict[str, Any]) -> dict[str, Any]:
    """extension.json without paths or fingerprints: what the step record, the report and the card carry."""
    summary = {k: rec[k] for k in ("requested", "added", "added_characters", "added_merges", "first_new_id",
                                   "dropped_unreachable", "dropped_for_keep", "learnt_bytes", "init")}
    summary["base"] = {k: rec["base"][k] for k in ("kind", "tokenizer_hash", "vocab_size")}
    summary["learnt_from"] = [{k: u[k] for k in ("name", "documents", "bytes")} for u in rec["learnt_from"]]
    summary["keep"] = [{k: u.get(k) for k in ("name", "documents", "bytes")} for u in rec.get("keep") or []]
    if rec.get("keep_foreign"):  # which scripts the keep check let change (absent in records made before it)
        summary["keep_foreign"] = rec["keep_foreign"]
    summary["examples"] = list(rec.get("examples") or [])[:12]
    return summary
