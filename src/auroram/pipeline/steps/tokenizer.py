"""The tokenizer: the base model's own, or a byte-level BPE trained on the recipe's `train_sources`
(equal bytes per source, so code does not crowd out English)."""

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


class TokenizerStep(Step):
    name = "tokenizer"
    record = "tokenizer"

    def out_dir(self, ctx: RunContext) -> Path | None:
        return None if ctx.recipe.tokenizer.kind == "base" else ctx.run_dir / "tokenizer"

    def key(self, ctx: RunContext) -> str | None:
        t = ctx.recipe.tokenizer
        if t.kind == "base":
            return None  # nothing to make: the base's tokenizer is read where it is
        inputs = {s: input_fingerprint(ctx.recipe.sources[s].path) for s in t.train_sources}
        return hash_obj({"cfg": to_plain(t), "sources": {s: ctx.source_identity(s) for s in t.train_sources},
                         "inputs": inputs})

    def run(self, ctx: RunContext) -> dict[str, Any] | None:
        from auroram.tokenize.bpe import train_bpe

        if ctx.recipe.tokenizer.kind == "base":
            self.load(ctx)
            ctx.console.step("tokenizer", f"the base model's own ({len(ctx.tokenizer):,} tokens)")
            return None
        t = ctx.recipe.tokenizer
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
