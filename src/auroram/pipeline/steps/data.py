"""The demo corpus and the demo's instruction sets, built once into the user's cache when the recipe
uses them (`demo:` and `demo-instruct:` sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auroram.io import read_json, sha256_file
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.resolve import demo_dir, uses_demo, uses_demo_instruct
from auroram.pipeline.rundir import RunError


class DataStep(Step):
    name = "data"

    def run(self, ctx: RunContext) -> None:
        if not uses_demo(ctx.spec):
            return
        from auroram.data.demo import build_demo_corpus

        d = demo_dir(ctx.spec)
        manifest = d / "manifest.json"
        if manifest.is_file():
            ctx.console.step("data", f"demo corpus (cached in {d})")
        else:
            ctx.console.step("data", f"building the demo corpus in {d} (once; a few minutes)")
            build_demo_corpus(d, progress=ctx.console.interactive)  # bars only where they redraw
        result = read_json(manifest)
        if uses_demo_instruct(ctx.spec):
            result["instruct"] = demo_instructions(d, ctx)
        ctx.data_manifest = result


def demo_instructions(d: Path, ctx: RunContext) -> dict[str, Any]:
    """The demo's own instruction sets, rebuilt when the corpus they were made from changed."""
    from auroram.data.demo_instruct import build_demo_instructions

    m = d / "instruct" / "manifest.json"
    if m.is_file():
        manifest = read_json(m)
        if all(sha256_file(d / v["file"]) == v["sha256"] for v in manifest.get("from", {}).values()):
            ctx.console.step("instructions", "demo instruction sets (cached)")
            return manifest
    try:
        manifest = build_demo_instructions(d / "corpus", d / "instruct")
    except UnicodeDecodeError:
        raise RunError(first_bad_utf8(sorted((d / "corpus").rglob("*.jsonl")))) from None
    n = {q: sum(c.values()) for q, c in manifest["counts"].items()}
    ctx.console.step("instructions", f"demo instruction sets built: {n.get('cap', 0):,} CAP, "
                                     f"{n.get('cat', 0):,} CAT pairs")
    return manifest


def first_bad_utf8(files: list[Path]) -> str:
    """'FILE: line N: not valid UTF-8' for the first such line (only on the error path: it rereads)."""
    for f in files:
        with open(f, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    return f"{f}: line {lineno}: not valid UTF-8 (byte {e.start})"
    return f"{files[0].parent if files else '?'}: a file is not valid UTF-8"
