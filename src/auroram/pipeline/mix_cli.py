"""`auroram mix search` and `auroram merge`: the commands' parsers and their one function each."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mix", help="data mixtures: search a stage's mixture under a forgetting budget")
    msub = p.add_subparsers(dest="mix_command", required=True, metavar="WHAT")
    q = msub.add_parser("search", help="proxy runs on mixtures drawn around the recipe's, a fit per domain, and the "
                                       "best mixture whose predicted forgetting is within --budget")
    q.add_argument("recipe", help="shipped recipe name (tiny, micro, aurora-m) or a YAML file")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field (repeatable), as for auroram run")
    q.add_argument("--stage", required=True, help="the stage whose mixture is searched, e.g. cap")
    q.add_argument("--budget", required=True, help="largest change of each named domain's bits per byte against "
                                                   "the stage before, e.g. 'en<=+1%%,code<=+1%%'")
    q.add_argument("--proxies", type=int, default=10, help="proxy runs (proxy 0: the recipe's own mixture; default 10)")
    q.add_argument("--proxy-tokens", type=float, help="training tokens of each proxy (default: a tenth of the stage)")
    q.add_argument("--proxy-model", action="append", default=[], metavar="KEY=VALUE",
                   help="the proxy's model, as model.KEY overrides, e.g. n_embd=64 (repeatable; default: the recipe's)")
    q.add_argument("--from-run", metavar="RUN", help="an earlier run of the recipe: its finished steps (data, "
                                                     "tokenizer, shards, stages) are reused where they match")
    q.add_argument("--by", choices=["domain", "source"], default="domain",
                   help="search one weight per domain (its sources keep their proportions; default) or per source")
    q.add_argument("--concentration", type=float, default=10.0,
                   help="Dirichlet concentration around the recipe's mixture (lower: wider draws; default 10)")
    q.add_argument("--fit", action="append", choices=["linear", "log-linear", "gbt"],
                   help="only these fits (repeatable; default: all available, chosen per domain by leave-one-out)")
    q.add_argument("--workers", type=int, default=1, help="proxies trained at once on this machine (processes)")
    q.add_argument("--executor", choices=["local", "slurm"], default="local",
                   help="slurm: write a job array of the unfinished proxies and submit it with sbatch")
    q.add_argument("--slurm-partition", default="gpu")
    q.add_argument("--slurm-time", default="4:00:00")
    q.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per proxy task (0: CPU only)")
    q.add_argument("--dry-run", action="store_true", help="slurm: write the job script, submit nothing")
    q.add_argument("--run-dir", help="the search directory (default: runs/<recipe>-mix-<stage>); a rerun resumes it")
    q.add_argument("--out", help="also copy the recipe fragment (fragment.yaml) to this file")
    q.add_argument("--force", action="store_true", help="replace --out even if auroram did not write it")
    q.add_argument("--check", metavar="RUN", help="a run of the stage with the chosen mixture: put its realised "
                                                  "numbers next to the predicted ones (no proxies are run)")
    q.add_argument("--anchor", action="append", default=[], metavar="RUN",
                   help="a full-size run that finished the stage (repeatable): its realised changes calibrate the "
                        "proxies' predictions to full scale before the budget applies (the --from-run's own stage and "
                        "every --check run count already)")
    q.add_argument("--no-anchor", action="store_true", help="no calibration: the budget on proxy-scale predictions")
    q.add_argument("--calibrate", default="auto",
                   choices=["auto", "proxy", "weight", "log-weight", "replay", "log-replay", "replayed"],
                   help="what each domain's full-scale map is a line in: the proxies' predicted change, the domain's "
                        "own weight, the stage's total replay weight, a log of either, or the replayed domains' "
                        "weights (a plane); auto (default): the one with the lowest leave-one-anchor-out error once "
                        "there are three anchors, else proxy")
    q.add_argument("--margin", default="0",
                   help="keep each budgeted domain's prediction this far inside its budget: percentage points "
                        "(e.g. 0.5%%) or loo, the prediction's own leave-one-out error (default 0)")
    q.add_argument("--quiet", action="store_true")
    q.add_argument("--log-format", choices=["auto", "text", "json"], default="auto")
    q.set_defaults(func=cmd_mix_search)

    p = sub.add_parser("merge", help="interpolate two stages' weights, score each alpha, export the best within a "
                                     "forgetting budget")
    p.add_argument("run", help="run directory")
    p.add_argument("--stage", required=True, help="the continued stage, e.g. cap")
    p.add_argument("--with", dest="other", required=True, help="the stage it is interpolated with, e.g. base")
    p.add_argument("--alphas", default="0:1:11", help="weights of --stage: '0,0.5,1' or START:END:COUNT "
                                                      "(default 0:1:11)")
    p.add_argument("--budget", help="largest change of each named domain against --with, e.g. 'en<=+1%%,code<=+1%%'")
    p.add_argument("--out", required=True, help="output directory: merge.json, report/, hf/ (the chosen alpha)")
    p.add_argument("--force", action="store_true", help="write into a directory that holds other files (kept)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_merge)


def cmd_mix_search(args: argparse.Namespace) -> int:
    import shutil

    from auroram.config import load_recipe
    from auroram.pipeline.mixsearch import check_run, mix_search

    search_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (
        f"{load_recipe(args.recipe, list(args.overrides)).name}-mix-{args.stage}")
    if args.check:
        c = check_run(search_dir, Path(args.check))
        cal = c.get("calibrated_change", {})
        print(f"{'domain':<8}{'predicted':>11}{'calibrated':>12}{'realised':>11}")
        for d in c["realised_change"]:
            cd = f"{100 * cal[d]:>+11.2f}%" if d in cal else f"{'-':>12}"
            pd = f"{100 * c['predicted_change'][d]:>+10.2f}%" if d in c["predicted_change"] else f"{'-':>11}"
            print(f"{d:<8}{pd}{cd}{100 * c['realised_change'][d]:>+10.2f}%")
        print(f"within budget: {'yes' if c['within_budget'] else 'no'}; new-language mean bpb {c['objective']:.4f}"
              + (f" (calibrated prediction {c['calibrated_objective']:.4f})" if c.get("calibrated_objective") else "")
              + ("; this run was one of the search's anchors (in-sample)" if c.get("in_sample") else "")
              + ("; its mixture is neither the search's chosen one nor the recipe's, so nothing was predicted for "
                 "it here (it joins the anchors of the next search)" if c["mixture"] == "other" else ""))
        return 0
    if args.out:  # a file the user keeps is never overwritten, and that is known before any work
        from auroram.outputs import check_out_file

        check_out_file(args.out, "mix search", force=args.force)
    res = mix_search(args.recipe, list(args.overrides), stage=args.stage, budget=args.budget, proxies=args.proxies,
                     search_dir=search_dir, proxy_tokens=int(args.proxy_tokens) if args.proxy_tokens else None,
                     proxy_model=args.proxy_model, workers=args.workers,
                     from_run=Path(args.from_run) if args.from_run else None, by=args.by,
                     concentration=args.concentration, fits=args.fit, executor=args.executor,
                     slurm={"partition": args.slurm_partition, "time": args.slurm_time, "gpus": args.slurm_gpus},
                     dry_run=args.dry_run, quiet=args.quiet, log_format=args.log_format,
                     anchors=[Path(a) for a in args.anchor], no_anchor=args.no_anchor, calibrate=args.calibrate,
                     margin=args.margin)
    if "slurm" in res:
        print(res["slurm"])
        return 0
    print((search_dir / "report" / "summary.md").read_text(encoding="utf-8"))
    if not res.get("chosen"):
        from auroram.mix.search import SearchError

        c = res["closest"]
        change = c.get("calibrated_change", c["predicted_change"])  # what the budget was applied to
        over = ", ".join(f"{d} {100 * change[d]:+.2f}%" for d in res["budget_limits"])
        inside = f" with margin {res['margin']['rule']}" if res.get("margin") else ""
        raise SearchError(f"no mixture meets the budget {res['budget']}{inside} as predicted; the closest: {over} "
                          f"(see {search_dir / 'report' / 'index.html'})")
    if args.out:
        from auroram.outputs import record_out_file

        shutil.copyfile(search_dir / "fragment.yaml", args.out)
        record_out_file(args.out, "mix search")
    print(" ".join(f"--set {x}" for x in res["set"]))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from auroram.mix.merge import parse_alphas
    from auroram.pipeline.merge_run import merge_command

    res = merge_command(Path(args.run), stage=args.stage, other=args.other, alphas=parse_alphas(args.alphas),
                        budget=args.budget, out=Path(args.out), force=args.force, quiet=args.quiet)
    print(f"best alpha {res['best_alpha']:g}: {Path(args.out) / 'hf'}")
    print(Path(args.out) / "report" / "index.html")
    return 0
