"""`auroram run`: every step of a recipe, in order, each skipped when its output is complete and was made
from the same resolved configuration and inputs.

    data -> tokenizer -> shards -> stage 1 (base) -> stage 2 (cap) -> stage 3 (cat) -> report

Each step's directory holds `step.json` with the hash of what it was made from; a step whose hash
changed (an edited recipe, new data) is redone, and so is everything after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from auroram import __version__
from auroram.config import Recipe, StageConfig, check_paths
from auroram.data.sources import (
    demo_dir,
    input_fingerprint,
    iter_source,
    read_heldout,
    uses_demo,
    uses_demo_instruct,
)
from auroram.errors import AuroramError
from auroram.faults import fault_point
from auroram.io import (
    hash_obj,
    mark_step_done,
    read_json,
    record_outputs,
    record_untracked,
    step_done,
    sweep_partial,
    write_json,
    write_text,
)
from auroram.train.parallel import DistInfo, barrier, broadcast, init_distributed, unwrap

INPROGRESS = "inputs.json"


class RunError(AuroramError, RuntimeError):
    """A run cannot go on; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------
# small plumbing


class Console:
    """Prints step lines; quiet in tests."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        from rich.console import Console as RichConsole

        self.rich = RichConsole(stderr=True, highlight=False)

    def step(self, name: str, status: str) -> None:
        if not self.quiet:
            self.rich.print(f"[bold]{name:<22}[/bold] {status}")

    def warn(self, msg: str) -> None:
        if not self.quiet:
            self.rich.print(f"[yellow]warning:[/yellow] {msg}")

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        if self.quiet:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.rich,
                      transient=False) as p:
            yield p


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One run per run directory: a second `auroram run` on it refuses instead of corrupting it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / ".lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise RunError(f"{run_dir}: another auroram run is using this run directory (pid {holder})") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def begin_step(out_dir: Path, step_hash: str) -> bool:
    """True when the step is already complete for this hash. Otherwise prepare out_dir: partial work made
    from other inputs is wiped (it would be resumed wrongly); partial work from the same inputs is kept
    so training resumes from its checkpoints."""
    if step_done(out_dir, step_hash):
        return True
    marker = out_dir / INPROGRESS
    if out_dir.exists():
        same = False
        if marker.is_file():
            with contextlib.suppress(ValueError, OSError):
                same = read_json(marker).get("hash") == step_hash
        if not same:
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"hash": step_hash})
    return False


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(recipe: Recipe) -> dict[str, Any]:
    import numpy
    import tokenizers
    import torch
    import transformers

    return {
        "auroram": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(terse=True),
        "seed": recipe.seed,
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "config_hash": hash_obj(recipe.to_dict()),
    }


# ---------------------------------------------------------------------------------------------------
# the steps


def step_data(recipe: Recipe, console: Console) -> dict[str, Any] | None:
    """Make sure the demo corpus exists when the recipe uses it; return its manifest."""
    if not uses_demo(recipe):
        return None
    from auroram.data.demo import build_demo_corpus

    d = demo_dir(recipe)
    manifest = d / "manifest.json"
    if manifest.is_file():
        console.step("data", f"demo corpus (cached in {d})")
    else:
        console.step("data", f"building the demo corpus in {d} (once; a few minutes)")
        build_demo_corpus(d, progress=not console.quiet)
    result = read_json(manifest)
    if uses_demo_instruct(recipe):
        result["instruct"] = _demo_instructions(d, console)
    return result


def _demo_instructions(d: Path, console: Console) -> dict[str, Any]:
    """The demo's own instruction sets, rebuilt when the corpus they were made from changed."""
    from auroram.data.demo_instruct import build_demo_instructions
    from auroram.io import sha256_file

    m = d / "instruct" / "manifest.json"
    if m.is_file():
        manifest = read_json(m)
        fresh = all(sha256_file(d / v["file"]) == v["sha256"] for v in manifest.get("from", {}).values())
        if fresh:
            console.step("instructions", "demo instruction sets (cached)")
            return manifest
    try:
        manifest = build_demo_instructions(d / "corpus", d / "instruct")
    except UnicodeDecodeError:
        raise RunError(_first_bad_utf8(sorted((d / "corpus").rglob("*.jsonl")))) from None
    n = {q: sum(c.values()) for q, c in manifest["counts"].items()}
    console.step("instructions", f"demo instruction sets built: {n.get('cap', 0):,} CAP, {n.get('cat', 0):,} CAT pairs")
    return manifest


def _first_bad_utf8(files: list[Path]) -> str:
    """'FILE: line N: not valid UTF-8' for the first such line (only on the error path: it rereads)."""
    for f in files:
        with open(f, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    return f"{f}: line {lineno}: not valid UTF-8 (byte {e.start})"
    return f"{files[0].parent if files else '?'}: a file is not valid UTF-8"


def step_curate(recipe: Recipe, run_dir: Path, console: Console) -> tuple[Recipe, dict[str, Any] | None]:
    """Curate the demo corpus's train splits (language ID, heuristics, quality, toxicity, PII, dedup) and
    point the recipe's `demo:` sources at what was kept. Held-out splits are left as they are."""
    if recipe.curate is None or not any(s.path.startswith("demo:") for s in recipe.sources.values()):
        return recipe, None
    import dataclasses

    from auroram.curate.cli import curate_demo
    from auroram.curate.config import load_curate_config

    t0 = time.perf_counter()
    if not console.quiet:
        console.step("curate", "language ID, heuristics, quality, toxicity, PII, deduplication (datatrove) ...")
    # datatrove's own per-task logging stays off: the step line and stats.json say what happened
    paths, stats = curate_demo(demo_dir(recipe), run_dir / "curate", config=load_curate_config(data=recipe.curate),
                               quiet=True)
    record_outputs(run_dir, "curate")
    tot = stats.get("totals", {})
    console.step("curate", f"{tot.get('docs_in', 0):,} documents in, {tot.get('docs_kept', 0):,} kept, every drop in "
                           f"{run_dir / 'curate' / 'rejected'} ({time.perf_counter() - t0:.0f}s)")
    sources = {}
    for name, src in recipe.sources.items():
        if src.path.startswith("demo:"):
            src = dataclasses.replace(src, path=str(paths[src.path.split(":", 1)[1]]))
        sources[name] = src
    return dataclasses.replace(recipe, sources=sources), stats


def step_safety(recipe: Recipe, run_dir: Path, console: Console) -> tuple[Recipe, dict[str, Any] | None]:
    """Build (or import) the red-team set, load it for review, export the approved train items, and point
    `safety:approved` sources at them. Review decisions in the database survive reruns."""
    if not recipe.safety.enabled:
        return recipe, None
    import dataclasses

    from auroram.safety.stage import prepare_safety

    sf = recipe.safety
    info = prepare_safety(run_dir / "safety", seed=recipe.seed, demo=sf.demo_auto_approve, items=sf.items)
    fault_point("safety:prepared")
    record_outputs(run_dir, "safety")
    by_status = info["exported"].get("by_status", {})
    console.step("safety", f"{info['exported']['items']:,} approved red-team train items "
                           f"({', '.join(f'{k}: {v:,}' for k, v in by_status.items())})")
    sources = {n: (dataclasses.replace(src, path=info["approved_jsonl"]) if src.path == "safety:approved" else src)
               for n, src in recipe.sources.items()}
    return dataclasses.replace(recipe, sources=sources), info


def _source_identity(src: Any, run_dir: Path) -> dict[str, Any]:
    """A source's settings for step hashes; a path inside the run (curated or exported data) is taken
    relative to it, so a copied or moved run directory is still recognised as complete."""
    ident = _plain(src)
    with contextlib.suppress(ValueError):
        ident["path"] = str(Path(src.path).resolve().relative_to(run_dir.resolve()))
    return ident


def step_tokenizer(recipe: Recipe, run_dir: Path, console: Console) -> tuple[Any, str]:
    from auroram.tokenize.bpe import load_tokenizer, train_bpe

    out = run_dir / "tokenizer"
    if recipe.tokenizer.kind == "base":
        if not recipe.model.base:
            raise RunError("tokenizer.kind is 'base' but model.base names no model directory")
        tok = load_tokenizer(recipe.model.base)
        h = hash_obj({"base": str(Path(recipe.model.base).resolve()), "vocab": len(tok)})
        console.step("tokenizer", f"the base model's own ({len(tok):,} tokens)")
        return tok, h
    t = recipe.tokenizer
    inputs = {s: input_fingerprint(recipe.sources[s].path, recipe, "train") for s in t.train_sources}
    h = hash_obj({"cfg": _plain(t), "sources": {s: _source_identity(recipe.sources[s], run_dir) for s in t.train_sources},
                  "inputs": inputs})
    if begin_step(out, h):
        console.step("tokenizer", "cached")
        return load_tokenizer(out / "hf"), h

    def texts() -> Iterator[str]:
        budget = t.max_train_bytes
        per_source = budget // len(t.train_sources)
        for s in t.train_sources:  # equal bytes per source, so code does not crowd out English
            used = 0
            for text in iter_source(recipe.sources[s], recipe):
                if isinstance(text, tuple):
                    text = "\n".join(text)
                elif hasattr(text, "plain_text"):  # an instruction conversation
                    text = text.plain_text()
                if used >= per_source:
                    break
                chunk = text[: max(per_source - used, 0)]
                used += len(chunk.encode("utf-8"))
                yield chunk

    t0 = time.perf_counter()
    fault_point("tokenizer:start")
    tok = train_bpe(texts(), t.vocab_size, out / "hf")
    fault_point("tokenizer:trained")
    mark_step_done(out, "tokenizer", h, vocab_size=len(tok))
    record_outputs(run_dir, "tokenizer")
    console.step("tokenizer", f"byte-level BPE, {len(tok):,} tokens, trained on {', '.join(t.train_sources)} "
                              f"in {time.perf_counter() - t0:.1f}s")
    return tok, h


def stage_sources(recipe: Recipe, stages: list[StageConfig]) -> list[str]:
    used: set[str] = set()
    for st in stages:
        used.update(recipe.stage_weights(st))
    return sorted(used)


def eval_texts(recipe: Recipe, heldout: dict[str, list[str]], run_dir: Path) -> dict[str, list[str]]:
    """Every evaluation text of the run, by set: what no training document may overlap."""
    sets = {d: list(docs) for d, docs in heldout.items()}
    if recipe.safety.enabled:
        from auroram.safety.stage import eval_items

        for it in eval_items(run_dir / "safety"):
            sets.setdefault(f"safety-{it['language']}", []).append(it["prompt"])
    if recipe.eval.suite:
        from auroram.eval import code as code_eval
        from auroram.eval import mc

        for lang, path in {**mc.builtin_tasks(), **recipe.eval.mc_tasks}.items():
            sets[f"mc-{lang}"] = [f"{it.context} {it.choices[it.gold]}" for it in mc.load_items(path, "auroram")]
        sets["code-problems"] = [p.prompt for p in code_eval.load_problems(recipe.eval.code_problems)]
    return sets


def step_shards(recipe: Recipe, run_dir: Path, tok: Any, tok_hash: str, names: list[str], console: Console,
                eval_sets: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, str], dict[str, dict]]:
    from auroram.data.decontam import Decontaminator
    from auroram.data.instruct import Quarantine
    from auroram.tokenize.bpe import eos_id as get_eos
    from auroram.tokenize.render import Renderer, render_docs
    from auroram.tokenize.shards import Shard, tokenize_to_shard

    eos = get_eos(tok)
    renderer = Renderer(tok)
    # every training source is checked against every evaluation set (13-word grams; characters for ja)
    langs = {name: (name.split("-", 1)[1] if name.startswith(("mc-", "safety-")) else name) for name in eval_sets}
    decon: Decontaminator | None = None
    decon_h = hash_obj({"sets": {k: hash_obj(v) for k, v in eval_sets.items()}, "rule": "13w/25c-ja"})
    render_h = hash_obj({"kind": renderer.kind, "template": getattr(tok, "chat_template", None)})
    shards, hashes, stats = {}, {}, {}
    with console.progress() as prog:
        for name in names:
            src = recipe.sources[name]
            out = run_dir / "shards" / name
            h = hash_obj({"src": _source_identity(src, run_dir), "tok": tok_hash, "input": input_fingerprint(src.path, recipe, "train"),
                          "decontam": decon_h, "render": render_h if src.format != "text" else None})
            hashes[name] = h
            if not begin_step(out, h):
                fault_point(f"shards:{name}:start")
                if decon is None:
                    decon = Decontaminator(eval_sets, langs=langs)
                task = prog.add_task(f"tokenize {name}", total=src.max_docs, info="") if prog else None

                def tick(n: int, task=task) -> None:
                    if prog is not None:
                        prog.update(task, completed=n)

                q = Quarantine()
                docs = decon.filter(render_docs(iter_source(src, recipe, quarantine=q), renderer, src.loss_on, q),
                                    name)
                st = tokenize_to_shard(tok, docs, out / "tokens.bin", eos_id=eos, progress=tick)
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
                fault_point(f"shards:{name}:written")
                mark_step_done(out, "shard", h, **st, quarantine=q.summary(), decontamination=table,
                               format=src.format, renderer=renderer.kind if src.format != "text" else None)
                record_outputs(run_dir, f"shards/{name}")
            shards[name] = Shard(out / "tokens.bin")
            rec = read_json(out / "step.json")
            stats[name] = {k: rec.get(k) for k in ("documents", "tokens", "bytes", "quarantine", "decontamination",
                                                   "format", "renderer")}
    console.step("shards", ", ".join(f"{n} {stats[n].get('tokens', 0):,}" for n in names) + " tokens")
    dropped = sum((v.get("decontamination") or {}).get("dropped", 0) for v in stats.values())
    quarantined = sum((v.get("quarantine") or {}).get("quarantined", 0) for v in stats.values())
    if dropped or quarantined:
        console.step("", f"{dropped:,} documents dropped as overlapping evaluation sets, {quarantined:,} quarantined")
    return shards, hashes, stats


def load_heldout(recipe: Recipe) -> dict[str, list[str]]:
    e = recipe.eval
    return {d: read_heldout(recipe.heldout[d], recipe, max_docs=e.max_docs_per_domain, max_bytes=e.max_bytes_per_domain)
            for d in recipe.domains}


def make_evaluator(recipe: Recipe, tok: Any, heldout: dict[str, list[str]]):
    from auroram.eval.bpb import bits_per_byte
    from auroram.tokenize.bpe import eos_id as get_eos

    eos = get_eos(tok)
    stride = recipe.eval.stride or recipe.train.seq_len // 2

    def full(model) -> dict[str, dict[str, Any]]:
        device = next(model.parameters()).device
        return {d: bits_per_byte(model, docs, tok, eos_id=eos, seq_len=recipe.train.seq_len, stride=stride,
                                 batch_seqs=recipe.eval.batch_seqs, device=device)
                for d, docs in heldout.items()}

    return full


def _plain(obj: Any) -> Any:
    from auroram.typedconfig import to_plain

    return to_plain(obj)


def new_model(recipe: Recipe, tok: Any):
    from auroram.model.build import build_model, load_base
    from auroram.tokenize.bpe import eos_id as get_eos

    if recipe.model.base:
        model, _ = load_base(recipe.model.base)
        return model
    return build_model(recipe.model, vocab_size=len(tok), eos_id=get_eos(tok), seed=recipe.seed)


def run_suite(recipe: Recipe, model: Any, tok: Any, device: Any, console: Console) -> dict[str, Any] | None:
    """Multiple choice per language and sandboxed code pass@1 (rank 0; a sharded model is read from its export)."""
    if not recipe.eval.suite:
        return None
    from auroram.eval import mc
    from auroram.eval.suite import evaluate_suite

    if isinstance(model, Path):
        from auroram.model.build import load_base

        model, _ = load_base(str(model))
        model.to(device)
    res = evaluate_suite(model, tok, mc_tasks={**mc.builtin_tasks(), **recipe.eval.mc_tasks},
                         code_problems=recipe.eval.code_problems, device=str(device))
    mcs = ", ".join(f"{k} {100 * v['acc']:.0f}%" for k, v in res["mc"].items())
    code = res.get("code") or {}
    console.step("", f"tasks: {mcs}; code pass@1 {100 * (code.get('pass@1') or 0):.1f}% ({res['seconds']:.0f}s)")
    return res


def run_safety(recipe: Recipe, stage: str, model: Any, tok: Any, device: Any, run_dir: Path,
               console: Console) -> dict[str, Any] | None:
    """Refusal on held-out harmful prompts, over-refusal on safe look-alikes, and their gap (rank 0)."""
    sf = recipe.safety
    if not sf.enabled or stage not in sf.eval_stages:
        return None
    from auroram.safety.stage import evaluate_stage

    if isinstance(model, Path):
        from auroram.model.build import load_base

        model, _ = load_base(str(model))
        model.to(device)
    t0 = time.perf_counter()
    res = evaluate_stage(model, tok, run_dir / "safety", max_per_group=sf.eval_max_per_group,
                         max_new_tokens=sf.eval_max_new_tokens, judge_dir=sf.judge, seed=recipe.seed)
    o = res["overall"]
    console.step("", f"safety: refuses {100 * (o['refusal_harmful'] or 0):.0f}% of harmful, "
                     f"{100 * (o['refusal_safe'] or 0):.0f}% of safe prompts (gap {100 * (o['gap'] or 0):+.0f}; "
                     f"forced choice {100 * (o['fc_gap'] or 0):+.0f}) ({time.perf_counter() - t0:.0f}s)")
    return res


# fields that change how a stage runs, not what it computes: editing them resumes instead of redoing
# (the non-finite policy too: it changes nothing while losses are finite, and what it did is reported)
_EXECUTION_ONLY = ("threads", "device", "parallel", "compile", "activation_checkpointing", "log_every_steps",
                   "max_epochs_warning", "on_nonfinite", "rollback_lr_factor", "max_rollbacks")


def _decide(info: DistInfo, fn) -> Any:
    """Rank 0 decides (and touches the file system); every rank gets its answer."""
    return broadcast(info, fn() if info.is_main else None)


def run_stages(recipe: Recipe, run_dir: Path, tok: Any, tok_hash: str, shards: dict, shard_hashes: dict,
               heldout: dict, console: Console, data_manifest: dict | None, stages: list[StageConfig],
               info: DistInfo, device: Any) -> list[dict[str, Any]]:
    from auroram.mix.mixture import Mixture
    from auroram.model.export import export_hf
    from auroram.train.checkpoint import full_state_dict, load_weights
    from auroram.train.loop import autocast_dtype, cpu_has_fast_bf16, train_stage
    from auroram.train.parallel import is_wrapped, parallelize, resolve_mode

    t = recipe.train
    wrapped = is_wrapped(t.parallel, info)  # FSDP2/DDP: evaluate the gathered export, not the wrapped module
    full_eval = make_evaluator(recipe, tok, heldout)
    global_seqs = t.global_batch_tokens // t.seq_len
    eval_h = hash_obj({"eval": _plain(recipe.eval), "heldout": {d: hash_obj(v) for d, v in heldout.items()},
                       "suite": 1})
    train_h = {k: v for k, v in _plain(t).items() if k not in _EXECUTION_ONLY}
    precision = "bf16" if autocast_dtype(t, device) is not None else "fp32"  # as resolved here, for the report
    if precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        console.warn("train.precision is bf16 but this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 "
                     "matmuls are emulated there and gain little over fp32 (set train.precision=fp32)")
    reports: list[dict[str, Any]] = []
    prev_hash = hash_obj({"base": recipe.model.base and str(Path(recipe.model.base).resolve()),
                          "model": _plain(recipe.model), "tok": tok_hash, "seed": recipe.seed})
    prev_final: Path | None = None

    if recipe.model.base:  # the imported model is the start every forgetting number is measured against
        out = run_dir / "stages" / "base"
        h = hash_obj({"prev": prev_hash, "eval": eval_h})
        if not _decide(info, lambda: begin_step(out, h)):
            console.step("eval base", f"scoring {recipe.model.base}")
            model = new_model(recipe, tok).to(device)
            model = parallelize(model, mode=t.parallel, info=info, device=device, bf16=False,
                                activation_checkpointing=False, compile=False)
            model.eval()
            scores = full_eval(model)
            if info.is_main:
                suite = run_suite(recipe, unwrap(model) if not wrapped else Path(recipe.model.base), tok,
                                  device, console)
                write_json(out / "result.json", {"name": "base", "tokens": 0, "steps": 0, "seconds": 0.0,
                                                 "imported": str(recipe.model.base), "eval": scores, "suite": suite,
                                                 "loss": [], "curve": [], "mixture": {}, "warnings": []})
                mark_step_done(out, "eval-base", h)
                record_outputs(run_dir, "stages/base")
            barrier(info)
            del model
        reports.append(read_json(out / "result.json"))
        prev_hash = h

    token_offset = sum(r["tokens"] for r in reports)
    for idx, st in enumerate(recipe.stages):
        if st not in stages:
            continue
        out = run_dir / "stages" / st.name
        weights = recipe.stage_weights(st)
        steps = math.ceil(st.tokens / t.global_batch_tokens)
        h = hash_obj({"prev": prev_hash, "stage": _plain(st), "weights": weights, "train": train_h,
                      "safety": _plain(recipe.safety),
                      "shards": {s: shard_hashes[s] for s in weights}, "eval": eval_h, "index": idx})
        if _decide(info, lambda: begin_step(out, h)):
            console.step(f"stage {st.name}", "cached")
        else:
            fault_point(f"stage:{st.name}:start")
            model = new_model(recipe, tok)
            if prev_final is not None:
                load_weights(prev_final, model)
            model.to(device)
            model = parallelize(model, mode=t.parallel, info=info, device=device,
                                bf16=precision == "bf16",
                                activation_checkpointing=t.activation_checkpointing, compile=t.compile)
            mixture = Mixture({s: shards[s] for s in weights}, weights, seq_len=t.seq_len,
                              global_batch_seqs=global_seqs, seed=recipe.seed, stage_index=idx)
            usage = mixture.usage(steps)
            warnings = []
            for s, u in usage.items():
                u["domain"] = recipe.sources[s].domain
                if u["epochs"] > t.max_epochs_warning:
                    warnings.append(f"source '{s}' repeats {u['epochs']:.1f} times in stage {st.name}: "
                                    f"add data or lower its weight")
            for w in warnings:
                console.warn(w)
            console.step(f"stage {st.name}", f"{steps} steps x {t.global_batch_tokens:,} tokens, "
                                             f"peak LR {st.optim.lr:g} ({st.schedule.kind}, warmup "
                                             f"{st.schedule.warmup_steps}), {precision}"
                                             + (f", {info.world_size} processes" if info.distributed else ""))
            tb = _tb_writer(run_dir) if info.is_main else None
            with console.progress() as prog:
                res = train_stage(model=model, mixture=mixture, stage=st, stage_index=idx, train=t, total_steps=steps,
                                  out_dir=out, evaluate=full_eval, progress=prog, tb_writer=tb,
                                  token_offset=token_offset, info=info)
            if tb is not None:
                tb.close()
            model.eval()
            fault_point(f"stage:{st.name}:trained")
            train_seconds = max(res.seconds - res.eval_seconds, 1e-9)
            result = {
                "name": st.name, "tokens": res.tokens, "steps": res.steps, "seconds": round(res.seconds, 2),
                "train_seconds": round(train_seconds, 2), "tokens_per_s": round(res.tokens / train_seconds, 1),
                "processes": info.world_size, "parallel": resolve_mode(t.parallel, info), "precision": precision,
                "resumed_from": res.resumed_from, "eval": res.final_eval,
                "curve": res.curve, "loss": res.loss, "mixture": usage, "weights": weights, "warnings": warnings,
                "lr": st.optim.lr, "schedule": _plain(st.schedule), "nonfinite": res.nonfinite,
            }
            if res.nonfinite and (res.nonfinite["skipped"] or res.nonfinite["rollbacks"]):
                nf = res.nonfinite
                console.warn(f"stage {st.name}: non-finite loss: {nf['skipped']} batches skipped, "
                             f"{nf['rollbacks']} rollbacks (LR scaled by {nf['lr_scale']:g})")
            weights_cpu = full_state_dict(model)  # collective under FSDP: every rank takes part
            if info.is_main:
                card = _model_card(recipe, st, result, reports, data_manifest)
                export_hf(unwrap(model), tok, out / "hf", card=card, state_dict=weights_cpu)
                fault_point(f"stage:{st.name}:exported")
                result["suite"] = run_suite(recipe, unwrap(model) if not wrapped else out / "hf", tok,
                                            device, console)
                result["safety"] = run_safety(recipe, st.name, unwrap(model) if not wrapped else out / "hf",
                                              tok, device, run_dir, console)
                fault_point(f"stage:{st.name}:evaluated")
                write_json(out / "result.json", result)
                mark_step_done(out, f"stage:{st.name}", h)
                # step checkpoints are only for resuming this stage; the final weights and export remain
                shutil.rmtree(out / "ckpt", ignore_errors=True)
                record_outputs(run_dir, f"stages/{st.name}")
            barrier(info)
            del model, weights_cpu
        r = read_json(out / "result.json")
        reports.append(r)
        token_offset += r["tokens"]
        prev_hash = h
        prev_final = out / "final"
    return reports


def _quiet_transformers() -> None:
    # our own progress bars say what is happening; transformers' per-file bars only add noise
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _tb_writer(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        return None
    return SummaryWriter(log_dir=str(run_dir / "tb"))


def _model_card(recipe: Recipe, st: StageConfig, result: dict, before: list[dict], manifest: dict | None) -> dict:
    base = before[-1]["name"] if before else None
    if before and before[-1].get("imported"):
        base = before[-1]["imported"]
    return {
        "name": f"{recipe.name}-{st.name}",
        "base": base or "trained from scratch",
        "stage": st.name,
        "recipe": recipe.name,
        "languages": [d for d in recipe.domains if d != "code"],
        "training": {"tokens": result["tokens"], "steps": result["steps"], "seq_len": recipe.train.seq_len,
                     "global_batch_tokens": recipe.train.global_batch_tokens, "peak_lr": st.optim.lr,
                     "schedule": st.schedule.kind, "warmup_steps": st.schedule.warmup_steps,
                     "weight_decay": st.optim.weight_decay},
        "mixture": result["mixture"],
        "eval": {d: {"bpb": v["bpb"]} for d, v in result["eval"].items()},
        "license": "apache-2.0",
        "data_sources": (manifest or {}).get("sources", []),
    }


def build_report(recipe: Recipe, run_dir: Path, stages: list[dict], *, data_manifest: dict | None,
                 tok: Any, heldout: dict, shard_stats: dict, curation: dict | None = None) -> dict[str, Any]:
    from auroram.eval.bpb import fertility
    from auroram.eval.forgetting import continual_metrics, forgetting

    sections = [data_section(recipe, stages, shard_stats)]
    if curation is not None:
        from auroram.curate.report import report_section as curation_section

        sections.insert(0, curation_section(curation))
    if any(s.get("suite") for s in stages):
        from auroram.eval.suite import report_section

        sections.append(report_section(stages))
    if any(s.get("safety") for s in stages):
        from auroram.safety.report import report_section as safety_section

        sections.append(safety_section(stages))
    first = stages[0]["name"]
    # a domain the first stage did not train on is learnt in the second (CAP teaches the new languages)
    known = {recipe.sources[s].domain for s in stages[0].get("weights", {}) if s in recipe.sources}
    new_domains = [d for d in recipe.domains if d not in known]
    learned_at = {d: stages[1]["name"] for d in new_domains} if len(stages) > 1 else None
    return {
        "recipe": recipe.name,
        "description": recipe.description,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config_hash": hash_obj(recipe.to_dict()),
        "domains": recipe.domains,
        "use_replay": recipe.use_replay,
        "stages": stages,
        "nonfinite": {s["name"]: s.get("nonfinite") for s in stages if s.get("nonfinite")},
        "forgetting": forgetting(stages, recipe.domains),
        "continual": continual_metrics(stages, recipe.domains, learned_at=learned_at),
        "curation": curation,
        "start": first,
        "data": {"sources": (data_manifest or {}).get("sources", []), "shards": shard_stats,
                 "instruct": (data_manifest or {}).get("instruct")},
        "sections": sections,
        "tokenizer": {"kind": recipe.tokenizer.kind, "vocab_size": len(tok),
                      "fertility": {d: fertility(tok, docs) for d, docs in heldout.items()}},
        "provenance": read_json(run_dir / "provenance.json"),
    }


def instruction_share(recipe: Recipe, stage: dict[str, Any]) -> dict[str, Any]:
    """Share of a stage's tokens that came from instruction sources, and the loss on their targets."""
    inst = [s for s in stage.get("mixture", {}) if recipe.sources.get(s) and recipe.sources[s].format != "text"]
    total = sum(u["tokens"] for u in stage.get("mixture", {}).values()) or 1
    loss = targets = 0.0
    for rec in stage.get("loss", []):
        for s in inst:
            n = rec.get("targets_by_source", {}).get(s, 0)
            loss += rec.get("loss_by_source", {}).get(s, 0.0) * n
            targets += n
    return {"sources": inst, "token_share": sum(stage["mixture"][s]["tokens"] for s in inst) / total,
            "loss": loss / targets if targets else None, "target_tokens": int(targets)}


def data_section(recipe: Recipe, stages: list[dict], shard_stats: dict) -> dict[str, str]:
    import html as _html

    rows = []
    for st in stages:
        if not st.get("mixture"):
            continue
        share = instruction_share(recipe, st)
        st["instruction"] = share
        loss = "-" if share["loss"] is None else f"{share['loss']:.3f}"
        rows.append(f"<tr><td>{_html.escape(st['name'])}</td><td>{100 * share['token_share']:.1f}%</td>"
                    f"<td>{loss}</td><td>{_html.escape(', '.join(share['sources']) or '-')}</td></tr>")
    dec = []
    for name, v in shard_stats.items():
        d, q = v.get("decontamination") or {}, v.get("quarantine") or {}
        dec.append(f"<tr><td>{_html.escape(name)}</td><td>{_html.escape(str(v.get('format') or 'text'))}</td>"
                   f"<td>{q.get('records', d.get('checked', v.get('documents', 0)))}</td>"
                   f"<td>{q.get('quarantined', 0)}</td><td>{d.get('dropped', 0)}</td><td>{v.get('documents', 0)}</td>"
                   f"<td>{v.get('tokens', 0):,}</td></tr>")
    body = ("<h3>Instruction data per stage</h3><table><tr><th>stage</th><th>instruction share of tokens</th>"
            "<th>loss on instruction targets</th><th>sources</th></tr>" + "".join(rows) + "</table>"
            "<h3>Training sources: records, quarantined, dropped as overlapping evaluation sets (13-word grams, "
            "25-character grams for Japanese), kept</h3><table><tr><th>source</th><th>format</th><th>records</th>"
            "<th>quarantined</th><th>decontaminated</th><th>documents kept</th><th>tokens</th></tr>"
            + "".join(dec) + "</table>")
    return {"title": "Training data", "html": body}


def _main_first(info: DistInfo, fn) -> Any:
    """Rank 0 runs a data step while the others wait; then the others run it too, finding it complete."""
    if info.is_main:
        result = fn()
        barrier(info)
        return result
    barrier(info)
    return fn()


def run_recipe(recipe: Recipe, run_dir: Path, *, quiet: bool = False, until: str | None = None,
               ) -> dict[str, Any] | None:
    """Execute the recipe in run_dir (up to step `until`, if given); returns the report (on rank 0)."""
    import torch

    from auroram.report.html import write_html_report
    from auroram.train.loop import resolve_device

    check_paths(recipe)
    _quiet_transformers()
    stages = [s for s in recipe.stages if not (recipe.model.base and s.name == "base")]
    known = ["data", "tokenizer", "shards"] + [s.name for s in stages]
    if until is not None and until not in known:
        raise RunError(f"--until/--stage {until!r}: not a step of recipe '{recipe.name}' (steps: {', '.join(known)})")
    if until in [s.name for s in stages]:
        stages = stages[: [s.name for s in stages].index(until) + 1]
    if recipe.train.threads:
        torch.set_num_threads(recipe.train.threads)
    device = resolve_device(recipe.train)
    info = init_distributed(device.type)
    device = resolve_device(recipe.train, info.local_rank)
    console = Console(quiet or not info.is_main)
    run_dir = Path(run_dir)
    lock = run_lock(run_dir) if info.is_main else contextlib.nullcontext()
    with lock:
        t0 = time.perf_counter()
        if info.is_main:
            sweep_partial(run_dir)  # what a killed run left half-written (we hold the lock: nobody writes)
            write_text(run_dir / "recipe.yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True))
            write_json(run_dir / "provenance.json", provenance(recipe))
            record_outputs(run_dir, "recipe.yaml", "provenance.json")
        manifest = _main_first(info, lambda: step_data(recipe, console))
        if until == "data":
            return None
        recipe, curation = _main_first(info, lambda: step_curate(recipe, run_dir, console))
        recipe, safety = _main_first(info, lambda: step_safety(recipe, run_dir, console))
        tok, tok_hash = _main_first(info, lambda: step_tokenizer(recipe, run_dir, console))
        if until == "tokenizer":
            return None
        names = stage_sources(recipe, stages)
        heldout = load_heldout(recipe)
        shards, shard_hashes, shard_stats = _main_first(
            info, lambda: step_shards(recipe, run_dir, tok, tok_hash, names, console, eval_texts(recipe, heldout, run_dir)))
        if until == "shards":
            return None
        results = run_stages(recipe, run_dir, tok, tok_hash, shards, shard_hashes, heldout, console, manifest,
                             stages, info, device)
        if until is not None:
            console.step("done", f"stopped after stage {until}")
            return None
        if not info.is_main:
            return None
        fault_point("report:start")
        report = build_report(recipe, run_dir, results, data_manifest=manifest, tok=tok, heldout=heldout,
                              shard_stats=shard_stats, curation=curation)
        write_json(run_dir / "report.json", report)
        html = write_html_report(run_dir, report)
        fault_point("report:written")
        record_outputs(run_dir, "report.json", "report")
        record_untracked(run_dir)  # steps finished by runs made before manifests existed
        console.step("report", f"{run_dir / 'report.json'} and {html} ({time.perf_counter() - t0:.0f}s)")
        if not console.quiet:
            print_summary(report, console)
        return report


def eval_model_dir(recipe: Recipe, model_dir: Path, *, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Bits per byte (and fertility) of any local HF causal LM on the recipe's held-out domains."""
    import torch

    from auroram.eval.bpb import fertility
    from auroram.model.build import load_base
    from auroram.train.loop import resolve_device

    console = Console(quiet)
    step_data(recipe, console)
    model, tok = load_base(str(model_dir))
    model.to(resolve_device(recipe.train)).eval()
    heldout = load_heldout(recipe)
    full = make_evaluator(recipe, tok, heldout)
    with torch.inference_mode():
        res = full(model)
    for d, docs in heldout.items():
        res[d]["tokens_per_byte"] = fertility(tok, docs)["tokens_per_byte"]
    return res


def print_summary(report: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    stages = report["stages"]
    table = Table(title="bits per byte on held-out text (lower is better)")
    table.add_column("domain")
    for s in stages:
        table.add_column(s["name"], justify="right")
    table.add_column(f"{stages[-1]['name']} vs {stages[0]['name']}", justify="right")
    for d in report["domains"]:
        vals = [s["eval"][d]["bpb"] for s in stages]
        change = 100 * (vals[-1] - vals[0]) / vals[0] if vals[0] else float("nan")
        table.add_row(d, *[f"{v:.3f}" for v in vals], f"{change:+.1f}%")
    console.rich.print(table)
    safety = [(s["name"], s["safety"]["overall"]) for s in stages if s.get("safety")]
    if safety:
        t2 = Table(title="safety: refusal on held-out harmful and on safe look-alike prompts (string-match judge)")
        for col in ("after", "harmful refused", "safe refused", "gap", "forced-choice gap"):
            t2.add_column(col, justify="right")
        for name, o in safety:
            t2.add_row(name, *[("-" if o[k] is None else f"{100 * o[k]:.0f}%") for k in
                               ("refusal_harmful", "refusal_safe", "gap", "fc_gap")])
        console.rich.print(t2)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
