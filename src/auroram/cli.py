"""The `auroram` command: parse, load the recipe, call one function per stage. Logic lives in the stages."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from auroram import __version__
from auroram.errors import USER_ERRORS, describe_error


def _recipe_args(p: argparse.ArgumentParser, default: str | None = "tiny") -> None:
    p.add_argument("recipe", nargs="?" if default else None, default=default,
                   help=f"shipped recipe name (tiny, micro, aurora-m) or a YAML file (default: {default})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field, e.g. --set train.seq_len=512 --set stages.cap.tokens=1e6 "
                        "--set use_replay=false (repeatable)")


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-format", choices=["auto", "text", "json"], default="auto",
                   help="auto: rich's display in a terminal, one timestamped line per event elsewhere (Slurm, CI, "
                        "a file); text: those lines always; json: one JSON object per line")
    p.add_argument("--progress-seconds", type=float, default=30.0, metavar="S",
                   help="outside a terminal, a progress line every S seconds (default 30)")


def _run_dir(args: argparse.Namespace, recipe) -> Path:
    return Path(args.run_dir) if args.run_dir else Path("runs") / recipe.name


def _load(args: argparse.Namespace):
    from auroram.config import load_recipe

    overrides = list(args.overrides)
    if getattr(args, "base", None):  # the base's own tokenizer, unless the recipe extends it
        from auroram.tokenize.vocab_cli import base_overrides

        overrides += base_overrides(args.recipe, args.base, overrides)
    return load_recipe(args.recipe, overrides)


def cmd_run(args: argparse.Namespace) -> int:
    from auroram.outputs import check_out_dir
    from auroram.pipeline import run_recipe
    from auroram.pipeline.rundir import run_output

    recipe = _load(args)
    check_out_dir(_run_dir(args, recipe), run_output(), force=args.force)
    try:
        run_recipe(recipe, _run_dir(args, recipe), quiet=args.quiet, until=getattr(args, "until", None),
                   log_format=args.log_format, progress_seconds=args.progress_seconds)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from auroram.data.demo import OUTPUT, build_demo_corpus
    from auroram.data.virtual import default_demo_dir
    from auroram.io import read_json
    from auroram.outputs import check_out_dir

    out = Path(args.out) if args.out else default_demo_dir()
    check_out_dir(out, OUTPUT, force=args.force)
    build_demo_corpus(out, force=args.force, progress=not args.quiet)
    m = read_json(out / "manifest.json")
    print(f"demo corpus in {out}")
    for d, v in m["domains"].items():
        print(f"  {d:<5} train {v['train']['documents']:>6} docs {v['train']['bytes'] / 1e6:6.2f} MB   "
              f"val {v['val']['documents']:>5} docs {v['val']['bytes'] / 1e6:5.2f} MB")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from auroram.pipeline import eval_model_dir

    recipe = _load(args)
    result = eval_model_dir(recipe, Path(args.model), quiet=args.quiet)
    print(f"{'domain':<8}{'bits/byte':>10}{'tokens/byte':>13}")
    for d, r in result.items():
        print(f"{d:<8}{r['bpb']:>10.4f}{r['tokens_per_byte']:>13.3f}")
    if args.json:
        from auroram.io import write_json

        write_json(args.json, result)
    return 0


def cmd_eval_code(args: argparse.Namespace) -> int:
    from auroram.eval.suite import cmd_eval_code as run

    run(args.problems, args.samples, k_values=args.k, workers=args.workers, timeout_seconds=args.timeout,
        out=args.json, quiet=args.quiet)
    return 0


def cmd_eval_mc(args: argparse.Namespace) -> int:
    from auroram.eval.suite import cmd_eval_mc as run

    run(args.model, args.tasks, args.format, lang=args.lang, limit=args.limit, out=args.json, quiet=args.quiet)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from auroram.plan import plan_command

    print(plan_command(args.recipe, gpus=args.gpus, gpu=args.gpu, mfu=args.mfu, as_json=args.json,
                       base_arch=args.base_arch, overrides=args.overrides, attention=args.attention,
                       layouts=args.layout, export_file_gb=args.export_file_gb, cpu_nodes=args.cpu_nodes,
                       cores_per_node=args.cores_per_node, bytes_per_token=args.bytes_per_token,
                       curate_keep=args.curate_keep, bytes_per_document=args.bytes_per_document))
    return 0


def cmd_data_instruct(args: argparse.Namespace) -> int:
    from auroram.data.demo_instruct import build_demo_instructions
    from auroram.data.virtual import default_demo_dir

    d = Path(args.demo_dir) if args.demo_dir else default_demo_dir()
    m = build_demo_instructions(d / "corpus", d / "instruct")
    print(f"demo instruction sets in {d / 'instruct'}")
    for stage in ("cap", "cat"):
        counts = m.get("counts", {}).get(stage, {})
        if counts:
            print(f"  {stage}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_safety(args: argparse.Namespace) -> int:
    what = args.safety_command
    if what == "build":
        from auroram.outputs import check_out_dir
        from auroram.safety.build import OUTPUT, build_safety_set
        from auroram.safety.stage import summarize_manifest

        check_out_dir(args.out, OUTPUT, force=args.force)
        print(summarize_manifest(build_safety_set(args.out, args.seed, force=args.force)))
    elif what == "import":
        from auroram.outputs import check_out_file, record_out_file
        from auroram.safety.items import write_items
        from auroram.safety.loaders import load_external

        check_out_file(args.out, "safety import", force=args.force)
        r = load_external(args.kind, args.file)
        n = write_items(args.out, r.items)
        record_out_file(args.out, "safety import")
        skipped = ", ".join(f"{k}: {v}" for k, v in r.skipped.items()) or "none"
        print(f"{n} items written to {args.out}; skipped (categories outside the taxonomy): {skipped}")
    elif what == "review":
        from auroram.safety.review import serve_review

        serve_review(args.db, items=args.items, host=args.host, port=args.port, allow_remote=args.allow_remote,
                     trust_status=args.trust_status)
    elif what == "export":
        from auroram.outputs import check_out_file, record_out_file
        from auroram.safety.review import export_approved

        check_out_file(args.out, "safety export", force=args.force)
        res = export_approved(args.db, args.out, split=None if args.split == "all" else args.split)
        record_out_file(args.out, "safety export")
        print(f"{res['items']} approved items written to {args.out}")
    elif what == "eval":
        from auroram.safety.stage import eval_model_dir, format_table

        res = eval_model_dir(args.model, args.items, max_per_group=args.max_per_group,
                             max_new_tokens=args.max_new_tokens, judge_dir=args.judge)
        print(format_table(res))
        if args.json:
            from auroram.io import write_json

            write_json(args.json, res)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from auroram.io import read_json
    from auroram.outputs import OutputError, check_out_dir
    from auroram.report.html import COMPARE_OUTPUT, compare_runs, compare_table, write_html_report

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not (r / "report.json").is_file():
            raise FileNotFoundError(f"{r}: no report.json (is this a finished run directory?)")
    if len(runs) == 1:
        path = write_html_report(runs[0], read_json(runs[0] / "report.json"))
        print(path)
        return 0
    out = Path(args.out) if args.out else Path("runs") / ("compare-" + "-vs-".join(r.name for r in runs))
    if any(out.resolve() == r.resolve() or out.resolve() in r.resolve().parents for r in runs):
        raise OutputError(f"{out} holds a run it would compare: choose a directory outside the runs")
    check_out_dir(out, COMPARE_OUTPUT, force=args.force)
    path = compare_runs(runs, out)
    print(compare_table([read_json(r / "report.json") for r in runs]))
    print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import shutil

    from auroram.outputs import Layout, OutputError, check_out_dir, replace_dir

    src = Path(args.run) / "stages" / args.stage / "hf"
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}: no exported model (has stage '{args.stage}' finished?)")
    out, layout = Path(args.out), Layout("export")
    a, b = src.resolve(), out.resolve()
    if a == b or a in b.parents or b in a.parents:  # a copy into (or around) itself never ends well
        raise OutputError(f"{out} overlaps the model it would copy ({src}): choose a directory outside it")
    check_out_dir(out, layout, force=args.force)
    with replace_dir(out, layout, like=src) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    print(args.out)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from auroram.pipeline.rundir import verify_run

    checked, problems = verify_run(Path(args.run))
    for p in problems:
        print(f"  {p}")
    if problems:
        print(f"{args.run}: {len(problems)} problem(s) in {checked} files of the manifest", file=sys.stderr)
        return 1
    print(f"{args.run}: ok ({checked} files match the manifest; shards and JSON files check out)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="auroram", description="Continual pretraining of language models on new "
                                 "languages and code, in stages (Aurora-M, reproduced).")
    ap.add_argument("--version", action="version", version=f"auroram {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run every step of a recipe (default: the tiny demo); reruns skip finished steps")
    _recipe_args(p)
    p.add_argument("--run-dir", help="where outputs go (default: runs/<recipe name>)")
    p.add_argument("--base", metavar="HF_DIR", help="continue this local HF causal LM (skips the 'base' stage; "
                                                    "uses its own tokenizer)")
    p.add_argument("--until", metavar="STEP", help="stop after this step: data, curate, safety, tokenizer, shards "
                                                  "(or shards:SOURCE), eval-base, a stage name or report")
    p.add_argument("--force", action="store_true",
                   help="use a --run-dir that holds other files and is not a run directory (they are kept)")
    p.add_argument("--quiet", action="store_true")
    _log_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tokenize", help="run a recipe up to its packed token shards")
    _recipe_args(p)
    p.add_argument("--run-dir")
    p.add_argument("--base", metavar="HF_DIR")
    p.add_argument("--force", action="store_true",
                   help="use a --run-dir that holds other files and is not a run directory (they are kept)")
    p.add_argument("--quiet", action="store_true")
    _log_args(p)
    p.set_defaults(func=cmd_run, until="shards")

    p = sub.add_parser("train", help="run a recipe up to and including one stage")
    _recipe_args(p)
    p.add_argument("--stage", dest="until", required=True, help="stage name, e.g. cap")
    p.add_argument("--run-dir")
    p.add_argument("--base", metavar="HF_DIR")
    p.add_argument("--force", action="store_true",
                   help="use a --run-dir that holds other files and is not a run directory (they are kept)")
    p.add_argument("--quiet", action="store_true")
    _log_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("data", help="data commands")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="WHAT")
    q = dsub.add_parser("demo", help="build the demo corpus offline from Debian doc packages and the Python stdlib")
    q.add_argument("--out", help="corpus directory (default: $AURORAM_CACHE/demo or ~/.cache/auroram/demo); a rerun "
                                 "into it reuses the corpus and its package cache")
    q.add_argument("--force", action="store_true", help="rebuild even if cached, also in a directory that holds "
                                                        "other files (they are kept)")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_data)
    q = dsub.add_parser("instruct", help="build the demo's own instruction sets (CAP and CAT) from the demo corpus")
    q.add_argument("--demo-dir", help="demo corpus directory (default: as `auroram data demo`)")
    q.set_defaults(func=cmd_data_instruct)

    p = sub.add_parser("eval", help="evaluate a model: bits per byte, multiple choice, code pass@k")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    q = esub.add_parser("bpb", help="bits per byte of a local HF model on a recipe's held-out domains")
    q.add_argument("model", help="HF model directory (e.g. runs/tiny/stages/cat/hf)")
    _recipe_args(q)
    q.add_argument("--json", help="also write the results to this JSON file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_eval)
    q = esub.add_parser("code", help="pass@k of completions made elsewhere (human-eval sample format), sandboxed")
    q.add_argument("--samples", required=True, help="JSONL of {task_id, completion}")
    q.add_argument("--problems", help="HumanEval or MBPP JSONL (default: the built-in problems)")
    q.add_argument("--k", default="1,10,100", help="comma-separated k values (default 1,10,100)")
    q.add_argument("--workers", type=int, default=2)
    q.add_argument("--timeout", type=float, default=10.0, help="seconds per sample")
    q.add_argument("--json", help="also write the results to this JSON file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_eval_code)
    q = esub.add_parser("mc", help="multiple-choice accuracy of a local HF model on a task file")
    q.add_argument("model", help="HF model directory")
    q.add_argument("--tasks", required=True, help="task JSONL")
    q.add_argument("--format", default="auroram", choices=["auroram", "belebele", "xcopa", "xstorycloze", "hellaswag", "arc"])
    q.add_argument("--lang", default="en", help="language of the items (XCOPA connectives)")
    q.add_argument("--limit", type=int)
    q.add_argument("--json", help="also write the results to this JSON file")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_eval_mc)

    p = sub.add_parser("safety", help="red-team safety set: build, import, review in a browser, export, evaluate")
    ssub = p.add_subparsers(dest="safety_command", required=True, metavar="WHAT")
    q = ssub.add_parser("build", help="write the built-in multilingual red-team set (harmful + safe look-alikes)")
    q.add_argument("--out", required=True, help="directory: new, empty, or an earlier set (rebuilt when the seed "
                                                "or texts changed)")
    q.add_argument("--seed", type=int, default=1234)
    q.add_argument("--force", action="store_true", help="rebuild even if unchanged, also in a directory that holds "
                                                        "other files (they are kept)")
    q.set_defaults(func=cmd_safety)
    q = ssub.add_parser("import", help="convert a set you obtained to safety items")
    q.add_argument("kind", choices=["biden-harris", "xstest", "harmbench", "do-not-answer"])
    q.add_argument("file")
    q.add_argument("--out", required=True, help="items JSONL to write (a file an earlier import wrote is replaced)")
    q.add_argument("--force", action="store_true", help="replace --out even if auroram did not write it")
    q.set_defaults(func=cmd_safety)
    q = ssub.add_parser("review", help="review items one by one in a local web page (keyboard: a, e, r, j, k)")
    q.add_argument("--db", required=True, help="SQLite file holding the decisions (created if missing)")
    q.add_argument("--items", help="items JSONL to load into the database (new items start pending)")
    q.add_argument("--trust-status", action="store_true",
                   help="new items keep the review_status in --items (a set already reviewed elsewhere)")
    q.add_argument("--host", default="127.0.0.1", help="address to serve on (loopback unless --allow-remote)")
    q.add_argument("--port", type=int, default=8765)
    q.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host; every request then needs the printed URL's access token")
    q.set_defaults(func=cmd_safety)
    q = ssub.add_parser("export", help="write the approved items as prompt/response JSONL (a CAT source)")
    q.add_argument("--db", required=True)
    q.add_argument("--out", required=True, help="JSONL to write (a file an earlier export wrote is replaced)")
    q.add_argument("--force", action="store_true", help="replace --out even if auroram did not write it")
    q.add_argument("--split", default="train", choices=["train", "heldout", "all"])
    q.set_defaults(func=cmd_safety)
    q = ssub.add_parser("eval", help="refusal and over-refusal of a local HF model on a set's held-out items")
    q.add_argument("model")
    q.add_argument("--items", required=True)
    q.add_argument("--max-per-group", type=int, default=10)
    q.add_argument("--max-new-tokens", type=int, default=32)
    q.add_argument("--judge", help="guard-model directory for the classifier judge")
    q.add_argument("--json", help="also write the result to this JSON file")
    q.set_defaults(func=cmd_safety)

    from auroram.curate.cli import add_parser as add_curate

    add_curate(sub)

    from auroram.pipeline.prepare_cli import add_parser as add_prepare

    add_prepare(sub)

    from auroram.tokenize.vocab_cli import add_parser as add_vocab

    add_vocab(sub)

    from auroram.pipeline.mix_cli import add_parser as add_mix

    add_mix(sub)

    import auroram.plan as plan_defaults  # the measured defaults live beside the planner (a light import)

    p = sub.add_parser("plan", help="tokens, steps, memory per GPU and GPU-hours of a recipe on a cluster")
    _recipe_args(p, default=None)
    p.add_argument("--gpus", type=int, required=True, help="number of GPUs (MI250X: cards, two devices each)")
    p.add_argument("--gpu", default="h100", choices=["h100", "h100-pcie", "h200", "a100", "mi250x", "mi300x"])
    p.add_argument("--mfu", type=float, default=0.4, help="assumed model-FLOPs utilisation (default 0.4)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--base-arch", help="a known base architecture when model.base is not downloaded yet "
                                       "(e.g. starcoderplus)")
    p.add_argument("--layout", action="append", help="extra TPxPP layout, e.g. tp4pp4 (repeatable)")
    p.add_argument("--attention", default="flash", choices=["flash", "eager"])
    p.add_argument("--export-file-gb", type=float, default=5.0,
                   help="bound on each exported weight file, GB: what rank 0 buffers while exporting (default 5)")
    p.add_argument("--cpu-nodes", type=int, default=1, help="CPU nodes that prepare the data (default 1)")
    p.add_argument("--cores-per-node", type=int, default=64, help="cores of each CPU node (default 64)")
    p.add_argument("--bytes-per-token", type=float, default=plan_defaults.BYTES_PER_TOKEN,
                   help="text bytes a token where a source's files are not on disk (default %(default)s: "
                        "Aurora-M's ~1.7 TB for 435B StarCoder tokens)")
    p.add_argument("--curate-keep", type=float, default=plan_defaults.CURATE_KEEP,
                   help="fraction of a curated source's bytes that curation keeps (default %(default)s, measured "
                        "on the benchmark's 1.6 GB corpus; raw web text keeps less)")
    p.add_argument("--bytes-per-document", type=float, default=plan_defaults.BYTES_PER_DOCUMENT,
                   help="mean document size, for the shard sets' offsets and the dedup clustering's memory "
                        "(default %(default)s)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("report", help="rebuild a run's HTML report, or compare runs side by side")
    p.add_argument("runs", nargs="+", help="run directories (two or more: a comparison)")
    p.add_argument("--out", help="comparison output directory (default: runs/compare-A-vs-B); an earlier "
                                 "comparison there is replaced")
    p.add_argument("--force", action="store_true", help="write the comparison into a directory that holds other "
                                                        "files (they are kept)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="copy a stage's exported HF model out of a run")
    p.add_argument("run", help="run directory")
    p.add_argument("--stage", required=True)
    p.add_argument("--out", required=True, help="directory: new, empty, or an earlier export (replaced)")
    p.add_argument("--force", action="store_true", help="write into a directory that holds other files; they are "
                                                        "kept, only an earlier export there is replaced")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="check a run directory against its manifest: missing, changed or "
                                      "truncated files, corrupt shards; non-zero exit on a problem")
    p.add_argument("run", help="run directory")
    p.set_defaults(func=cmd_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.func(args)
    try:
        return args.func(args)
    except (KeyboardInterrupt, Exception) as e:  # noqa: BLE001 - a bug too is told in one line; --debug shows where
        # a run that logs as text or JSON has already written the line, with its time
        if not getattr(e, "auroram_reported", False):
            print(f"auroram: {describe_error(e)}", file=sys.stderr)
        if isinstance(e, KeyboardInterrupt):
            return 130
        if os.environ.get("AURORAM_DEBUG"):
            raise
        return 2 if isinstance(e, USER_ERRORS) else 3


if __name__ == "__main__":
    sys.exit(main())
