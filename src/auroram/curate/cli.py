"""`auroram curate INPUT... --out DIR`: the command's parser and its one function."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from auroram.curate.config import CurateConfig, load_curate_config
from auroram.curate.demo import demo_langid_eval
from auroram.errors import require_extra


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("curate", help="clean, filter and deduplicate text: kept/, rejected/ (with reasons) and "
                                      "stats.json in --out")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="JSONL (.gz/.zst), Parquet, HF save_to_disk or text/code directories; LANG:PATH routes "
                        "a whole input to a language, e.g. code:src/ or fi:finnish.jsonl")
    p.add_argument("--out", required=True, help="output directory: new, empty, or an earlier `auroram curate` output "
                                                "(a rerun continues or redoes it)")
    p.add_argument("--force", action="store_true", help="write into a directory that holds other files too; they "
                                                        "are kept, only curation's own files there are replaced")
    p.add_argument("--config", help="YAML with the curate settings (a recipe's `curate:` block or its top level)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set dedup.threshold=0.6 --set languages.ja.c4.enabled=false")
    p.add_argument("--tasks", type=int, help="input shards (default: config executor.tasks, 1)")
    p.add_argument("--workers", type=int, help="local processes at once (default: config executor.workers, 1)")
    p.add_argument("--executor", choices=["local", "slurm", "ray"], help="default: config executor.kind, local")
    p.add_argument("--slurm-dry-run", action="store_true", help="write the sbatch scripts, submit nothing")
    p.add_argument("--text-field", help="JSON/Parquet field with the text (default: text)")
    p.add_argument("--id-field", help="field with the document id (default: id)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable record with one clear error")
    p.add_argument("--langid-eval", metavar="DEMO_DIR", help="also measure language-ID accuracy on the held-out "
                                                              "paragraphs of DEMO_DIR/corpus/<lang>/val.jsonl "
                                                              "(written to --out/langid_eval.json)")
    p.add_argument("--tokenize", metavar="TOKENIZER_DIR", help="then tokenize kept/ with this local tokenizer into "
                                                              "shard sets --out/shards/<lang>/ (one part per task), "
                                                              "with the same --tasks/--workers (local executor only)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_curate)
    return p


def cmd_curate(args: argparse.Namespace) -> int:
    require_extra("datatrove", "curate", "auroram curate")
    import yaml

    from auroram.config import apply_override
    from auroram.curate.run import OUTPUT, curate
    from auroram.outputs import check_out_dir
    from auroram.typedconfig import ConfigError, load_yaml_file

    check_out_dir(args.out, OUTPUT, force=args.force)

    data: dict[str, Any] = {}
    if args.config:
        try:  # the recipes' safe loader: size and alias caps, errors naming the file
            raw = load_yaml_file(args.config, args.config) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{args.config}: not valid YAML ({getattr(e, 'problem', e)})") from None
        data = raw.get("curate", raw) if isinstance(raw, dict) else raw
    for o in args.overrides:
        apply_override(data, o)
    if args.slurm_dry_run:
        apply_override(data, "executor.slurm_dry_run=true")
        args.executor = args.executor or "slurm"
    for key, val in (("reader.text_field", args.text_field), ("reader.id_field", args.id_field)):
        if val:
            apply_override(data, f"{key}={val}")
    cfg = load_curate_config(data=data) if not args.config else _load_with_name(args.config, data)
    if args.strict:
        strict_precheck(args.inputs, cfg)
    stats = curate(args.inputs, args.out, config=cfg, tasks=args.tasks, workers=args.workers,
                   executor=args.executor, strict=args.strict, quiet=args.quiet)
    if stats.get("submitted") == "ray" and Path(stats["stats"]).is_file():
        stats = json.loads(Path(stats["stats"]).read_text(encoding="utf-8"))  # Ray runs the chain before returning
    if "submitted" in stats:
        print(f"submitted to {stats['submitted']}; scripts and logs in {stats['logs']}; stats will be in {stats['stats']}")
        if args.tokenize:
            print("--tokenize runs on the local executor: rerun with --executor local --tokenize once the jobs finish")
        return 0
    print(summary_table(stats))
    print(Path(args.out) / "stats.json")
    if args.tokenize:
        from auroram.curate.tokenize_step import tokenize_kept

        shards = tokenize_kept(args.out, args.tokenize, Path(args.out) / "shards",
                               tasks=args.tasks or cfg.executor.tasks, workers=args.workers or cfg.executor.workers,
                               quiet=args.quiet)
        for name, st in shards.items():
            print(f"{Path(args.out) / 'shards' / name}: {st['documents']:,} documents, {st['tokens']:,} tokens in "
                  f"{st['parts']} part(s)")
    if args.langid_eval:
        from auroram.curate.langid_eval import summary_lines

        evaluation = demo_langid_eval(args.langid_eval, args.out, cfg)
        if evaluation is None:
            raise FileNotFoundError(f"{args.langid_eval}: no corpus/<lang>/val.jsonl to measure language ID on")
        print("language ID accuracy on held-out paragraphs")
        print(summary_lines(evaluation))
    return 0


def strict_precheck(inputs: list[str], cfg: CurateConfig) -> None:
    """Read every input once and raise at the first unreadable record, before any output is written
    (inside the pipeline the error would come after other tasks wrote their files, under a datatrove traceback)."""
    from auroram.curate.config import resolved_languages
    from auroram.curate.readers import first_unreadable, list_inputs, parse_input

    known = set(resolved_languages(cfg)) | {"code"}
    first_unreadable(list_inputs([parse_input(str(x), known) for x in inputs], cfg.reader), cfg.reader)


def _load_with_name(path: str, data: dict[str, Any]) -> CurateConfig:
    from auroram.config import ConfigError

    try:
        return load_curate_config(data=data)
    except ConfigError as e:
        raise ConfigError(str(e).replace("curate config", path, 1)) from None


def summary_table(stats: dict[str, Any]) -> str:
    t = stats["totals"]
    lines = [f"{'language':<10}{'in':>9}{'kept':>9}{'MB kept':>9}  top reasons dropped"]
    for lang, v in stats["by_language"].items():
        top = sorted(v["dropped"].items(), key=lambda kv: -kv[1])[:3]
        lines.append(f"{lang:<10}{v['docs_kept'] + v['docs_dropped']:>9,}{v['docs_kept']:>9,}"
                     f"{v['bytes_kept'] / 1e6:>9.2f}  " + ", ".join(f"{k} {n:,}" for k, n in top))
    lines.append(f"{'total':<10}{t['docs_in']:>9,}{t['docs_kept']:>9,}{t['bytes_kept'] / 1e6:>9.2f}  "
                 f"{t['docs_dropped']:,} dropped ({'balanced' if t['balanced'] else 'NOT BALANCED'})")
    return "\n".join(lines)
