"""`auroram prepare RECIPE`: the command's parser and its one function."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("prepare", help="run a recipe's data steps only (curate, tokenizer, shard sets) on CPU; "
                                       "with data.executor slurm, submit them as job arrays")
    p.add_argument("recipe", help="shipped recipe name (tiny, micro, aurora-m) or a YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field, e.g. --set data.tasks=64 --set data.executor=slurm (repeatable)")
    p.add_argument("--run-dir", help="where outputs go (default: runs/<recipe name>); `auroram run` on it later "
                                     "skips what is prepared")
    p.add_argument("--force", action="store_true",
                   help="use a --run-dir that holds other files and is not a run directory (they are kept)")
    p.add_argument("--job-id-only", action="store_true",
                   help="slurm: print only the id of the last job (for sbatch --dependency=afterok:ID)")
    p.add_argument("--job", choices=["plan", "finish"], help=argparse.SUPPRESS)  # inside the submitted jobs
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--log-format", choices=["auto", "text", "json"], default="auto",
                   help="auto: rich's display in a terminal, one timestamped line per event elsewhere")
    p.add_argument("--progress-seconds", type=float, default=30.0, metavar="S",
                   help="outside a terminal, a progress line every S seconds (default 30)")
    p.set_defaults(func=cmd_prepare)
    return p


def cmd_prepare(args: argparse.Namespace) -> int:
    from auroram.config import load_recipe
    from auroram.outputs import check_out_dir
    from auroram.pipeline.prepare import prepare_recipe
    from auroram.pipeline.rundir import run_output

    recipe = load_recipe(args.recipe, list(args.overrides))
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / recipe.name
    check_out_dir(run_dir, run_output(), force=args.force)
    # a job on another node loads the same recipe: a file by its absolute path, a shipped one by name
    recipe_arg = str(Path(args.recipe).resolve()) if Path(args.recipe).is_file() else args.recipe
    result = prepare_recipe(recipe, run_dir.resolve() if args.job else run_dir, recipe_arg=recipe_arg,
                            overrides=list(args.overrides), job=args.job,
                            quiet=args.quiet or args.job_id_only, log_format=args.log_format,
                            progress_seconds=args.progress_seconds)
    if "final_job" in result:
        print(result["final_job"] if args.job_id_only else result["summary"])
    return 0


def main(argv: list[str]) -> int:
    """`auroram prepare ARGV` in this process (inside a Slurm job); errors are raised, not printed."""
    ap = argparse.ArgumentParser(prog="auroram")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return args.func(args)
