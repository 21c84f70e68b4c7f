"""`auroram vocab ...`: extend a base's tokenizer with tokens of new languages, give a base model the rows
of those tokens, and measure tokens per byte and per word (docs/vocabulary.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from auroram.outputs import Layout

EXTEND_OUTPUT = Layout("vocab extend", patterns=("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                "chat_template.jinja", "extension.json"))
RESIZE_OUTPUT = Layout("vocab resize", patterns=(
    "config.json", "generation_config.json", "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
    *EXTEND_OUTPUT.patterns))


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("vocab", help="vocabulary extension: new tokens for new languages in a base's tokenizer, "
                                     "their embedding rows, fertility")
    vsub = p.add_subparsers(dest="vocab_command", required=True, metavar="SUBCOMMAND")

    q = vsub.add_parser("extend", help="learn new tokens from the new languages and merge them into a base's "
                                       "tokenizer; old ids and merges keep their place")
    q.add_argument("base", metavar="BASE_DIR", help="local HF model or tokenizer directory (byte-level BPE or BPE "
                                                   "with byte fallback)")
    _sources_args(q, "--from", "sources", required=True,
                  help_text="what the new tokens are learnt from: JSONL/.txt files or directories, or source names "
                            "of --recipe")
    q.add_argument("--add", type=int, required=True, metavar="N", help="new tokens wanted")
    q.add_argument("--keep", nargs="+", default=[], metavar="SOURCE",
                   help="text of the base's languages (e.g. English and code) whose ids must not change: a new "
                        "token that fires on it is dropped")
    q.add_argument("--out", required=True, help="output directory: new, empty, or an earlier `vocab extend` output")
    q.add_argument("--force", action="store_true", help="write into a directory that holds other files (they are kept)")
    q.add_argument("--min-frequency", type=int, default=2, help="a merge seen fewer times is not learnt (default 2)")
    q.add_argument("--max-train-bytes", type=int, default=8_000_000, help="text read, split over the sources")
    q.add_argument("--init", choices=["mean_of_pieces", "random", "mean", "scaled_mean"], default="mean_of_pieces",
                   help="how `vocab resize` and a run initialise the new embedding rows (recorded)")
    q.add_argument("--init-scale", type=float, default=3.0, help="scaled_mean: the new rows are this many times "
                                                               "the mean old row (recorded; default 3)")
    q.add_argument("--seed", type=int, default=0, help="seed of a random init (recorded)")
    q.add_argument("--keep-foreign-below", type=float, default=0.001, metavar="FRACTION",
                   help="a script under this share of the --keep texts' characters is foreign to them: new tokens "
                        "wholly inside its runs there may fire (default 0.001; 0 guards every character)")
    q.add_argument("--share", dest="shares", nargs="+", default=[], metavar="SOURCE=FRACTION",
                   help="learn each --from source's fraction of --add from its text alone, one source after the "
                        "other (fractions sum to 1); default: one BPE on all of them pooled")
    q.set_defaults(func=cmd_extend)

    q = vsub.add_parser("resize", help="a base model with embedding rows for an extended tokenizer, initialised "
                                       "as extension.json says")
    q.add_argument("base", metavar="BASE_DIR", help="the local HF model the tokenizer was extended from")
    q.add_argument("--tokenizer", required=True, help="the `vocab extend` output")
    q.add_argument("--out", required=True, help="output directory for the model and the extended tokenizer")
    q.add_argument("--init", choices=["mean_of_pieces", "random", "mean", "scaled_mean"],
                   help="default: the recorded one")
    q.add_argument("--init-scale", type=float, help="scaled_mean's multiple of the mean row (default: recorded, or 3)")
    q.add_argument("--force", action="store_true", help="write into a directory that holds other files (they are kept)")
    q.set_defaults(func=cmd_resize)

    q = vsub.add_parser("fertility", help="tokens per byte and per word of tokenizers on text of each language")
    q.add_argument("tokenizers", nargs="+", metavar="TOKENIZER_DIR")
    _sources_args(q, "--texts", "texts", required=True,
                  help_text="LANG=PATH (JSONL/.txt file or directory) or source names of --recipe (their domain "
                            "is the language)")
    q.add_argument("--max-bytes", type=int, default=200_000, help="text read per language (default 200,000)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_fertility)
    return p


def _sources_args(p: argparse.ArgumentParser, flag: str, dest: str, *, required: bool, help_text: str) -> None:
    p.add_argument(flag, dest=dest, nargs="+", required=required, metavar="SOURCE", help=help_text)
    if not any(a.dest == "recipe" for a in p._actions):
        p.add_argument("--recipe", help="recipe (shipped name or YAML) whose source names SOURCE may be")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a field of --recipe")
        p.add_argument("--text-field", default="text", help="JSON field holding the text of a file SOURCE")


def _resolve(args: argparse.Namespace, specs: list[str]) -> list[Any]:
    """Each SOURCE as (name, language, SourceConfig with a concrete path)."""
    from auroram.config import SourceConfig, load_recipe
    from auroram.data.sources import SourceError
    from auroram.data.virtual import default_demo_dir, resolve, scheme

    recipe = load_recipe(args.recipe, args.overrides) if args.recipe else None
    out = []
    for spec in specs:
        if recipe is not None and spec in recipe.sources:
            src = recipe.sources[spec]
            if scheme(src.path) in ("safety", "demo-instruct"):
                raise SourceError(f"source '{spec}' of {args.recipe} reads data a run makes ({src.path}): "
                                  f"give its file instead")
            demo = Path(recipe.demo_dir) if recipe.demo_dir else default_demo_dir()
            path = resolve(src.path, split="train", demo_dir=demo, run_dir=Path("runs") / recipe.name)
            cfg = dataclasses.replace(src, path=path)
            out.append((spec, src.domain, cfg))
            continue
        lang, sep, path = spec.partition("=")
        if not sep or "/" in lang or not lang:
            lang, path = Path(spec).stem.split(".")[0], spec
        out.append((lang, lang, SourceConfig(domain=lang, path=path, text_field=args.text_field)))
    return out


def _text_sources(args: argparse.Namespace, specs: list[str]) -> list[Any]:
    from auroram.data.sources import input_fingerprint, iter_source
    from auroram.tokenize.extend import TextSource, source_texts

    return [TextSource(name, source_texts(iter_source(cfg)), path=cfg.path, fingerprint=input_fingerprint(cfg.path))
            for name, _lang, cfg in _resolve(args, specs)]


def cmd_extend(args: argparse.Namespace) -> int:
    from auroram.outputs import check_out_dir, replace_dir
    from auroram.tokenize.extend import TrainerSettings, extend_tokenizer

    check_out_dir(args.out, EXTEND_OUTPUT, force=args.force)
    sources = _text_sources(args, args.sources)
    shares = _shares(args.shares, [s.name for s in sources])
    settings = TrainerSettings(add=args.add, min_frequency=args.min_frequency, max_train_bytes=args.max_train_bytes,
                               init=args.init, init_scale=args.init_scale, seed=args.seed, shares=shares,
                               keep_foreign_below=args.keep_foreign_below)
    rec = extend_tokenizer(args.base, sources, settings, args.out,
                           keep=_text_sources(args, args.keep), write=lambda p: replace_dir(p, EXTEND_OUTPUT))
    learnt = ", ".join(f"{u['name']} ({u['bytes']:,} bytes)" for u in rec["learnt_from"])
    print(f"{args.out}: {rec['base']['vocab_size']:,} + {rec['added']:,} tokens ({rec['base']['kind']}), ids "
          f"{rec['first_new_id']:,}..{rec['vocab_size'] - 1:,} learnt from {learnt}")
    for u in rec["learnt_from"]:
        if "quota" in u:
            print(f"  {u['name']}: {u['added']:,} of its {u['quota']:,} ({u['share']:g} of {rec['requested']:,})")
    for sc, v in rec["keep_foreign"]["scripts"].items():
        print(f"  {sc}: {v['share'] * 100:.2g}% of the keep texts, foreign to them: "
              f"{v['exempted_characters']:,} characters in {v['documents']:,} documents may change ids")
    if rec["added"] < rec["requested"]:
        print(f"  only {rec['added']:,} of {rec['requested']:,}: the text holds no more merges seen "
              f"{settings.min_frequency}+ times that the base lacks")
    return 0


def _shares(specs: list[str], names: list[str]) -> dict[str, float]:
    """--share SOURCE=FRACTION ... as a mapping, checked against the --from source names."""
    from auroram.config import shares_problem
    from auroram.tokenize.extend import ExtendError

    shares: dict[str, float] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        try:
            value = float(raw)
        except ValueError:
            value = None
        if not sep or not name or value is None:
            raise ExtendError(f"--share {spec}: expected SOURCE=FRACTION, e.g. ja=0.4")
        if name in shares:
            raise ExtendError(f"--share {spec}: '{name}' is given twice")
        shares[name] = value
    problem = shares_problem(shares, names) if shares else None
    if problem:
        raise ExtendError(f"--share: {problem}")
    return shares


def cmd_resize(args: argparse.Namespace) -> int:
    from auroram.model.build import load_base
    from auroram.model.embeddings import apply_extension
    from auroram.outputs import check_out_dir, replace_dir
    from auroram.tokenize.bpe import load_tokenizer
    from auroram.tokenize.extend import ExtendError, read_base, read_extension, tokenizer_json_hash

    check_out_dir(args.out, RESIZE_OUTPUT, force=args.force)
    rec = read_extension(args.tokenizer)
    if tokenizer_json_hash(read_base(args.base)[0]) != rec["base"]["tokenizer_json_sha256"]:
        raise ExtendError(f"{args.base}: its tokenizer is not the one {args.tokenizer} was extended from "
                          f"(extension.json names {rec['base']['path']})")
    model, _ = load_base(args.base)
    done = apply_extension(model, args.tokenizer, method=args.init, scale=args.init_scale)
    tok = load_tokenizer(args.tokenizer)
    with replace_dir(args.out, RESIZE_OUTPUT) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "extension.json").write_text(json.dumps({**rec, "embeddings": done}, indent=1), encoding="utf-8")
    print(f"{args.out}: {done['rows_before']:,} -> {done['rows']:,} embedding rows, {done['new_rows']:,} new "
          f"({done['method']}{', tied head' if done['tied'] else ''})")
    return 0


def cmd_fertility(args: argparse.Namespace) -> int:
    from auroram.data.sources import iter_source
    from auroram.tokenize.bpe import load_tokenizer
    from auroram.tokenize.extend import fertility, source_texts

    by_lang: dict[str, list[str]] = {}
    for _name, lang, cfg in _resolve(args, args.texts):
        docs, used = by_lang.setdefault(lang, []), 0
        for text in source_texts(iter_source(cfg)):
            if used >= args.max_bytes:
                break
            docs.append(text)
            used += len(text.encode("utf-8"))
    result = {d: fertility(load_tokenizer(d), by_lang) for d in args.tokenizers}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    names = " ".join(f"{Path(d).name[:22]:>22}" for d in args.tokenizers)
    print(f"{'language':10} {names}   (tokens/byte, tokens/word)")
    for lang in by_lang:
        cells = []
        for d in args.tokenizers:
            f = result[d][lang]
            word = "-" if f["tokens_per_word"] is None else f"{f['tokens_per_word']:.2f}"
            cells.append(f"{f['tokens_per_byte']:.3f} {word:>6}".rjust(22))
        print(f"{lang:10} " + " ".join(cells))
    return 0


def base_overrides(recipe: str, base: str, overrides: list[str]) -> list[str]:
    """The --set lines `--base DIR` stands for: the base model, and its own tokenizer unless the recipe (with
    its --set lines) extends it (`tokenizer.kind: extend`)."""
    from auroram.config import apply_override, recipe_path
    from auroram.typedconfig import load_yaml_file

    import yaml

    from auroram.errors import AuroramError

    kind = None
    try:
        data = load_yaml_file(recipe_path(recipe), recipe)
        for o in overrides:
            apply_override(data, o)
        kind = data.get("tokenizer", {}).get("kind")
    except (AuroramError, ValueError, OSError, AttributeError, yaml.YAMLError):
        pass  # the recipe's own load reports what is wrong with it, in its words
    return [f"model.base={base}"] + ([] if kind == "extend" else ["tokenizer.kind=base"])
