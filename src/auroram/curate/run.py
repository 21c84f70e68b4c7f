"""`curate()`: the step list as datatrove pipelines on datatrove executors, then one stats.json.

    stage 1 (tasks)  read -> langid -> the filters of auroram.curate.filters.FILTERS, in order (cat -> code
                     -> toxicity -> gopher quality/repetition -> c4 -> fineweb -> quality) -> pii
                     -> write rejects, pending docs and dedup signatures
    stage 2          dedup from the signatures on disk, bucketed by hash: exact copies (a task a bucket),
                     near-duplicate candidates (a task a bucket), then verification and clusters (1 task)
    stage 3 (tasks)  drop exact and near duplicates -> kept/, rejected/
    stage 4 (1 task) merge the counters into stats.json

Every task writes whole files named by its rank and is marked complete by datatrove; a rerun skips
completed tasks and redoes the rest, so a killed run continues to the same output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from auroram.curate import steps as S
from auroram.curate.config import CurateConfig, config_hash_dict, dedup_buckets, resolved_languages, validate
from auroram.curate.dedup import (REASON_EXACT, REASON_NEAR, DedupClusterStep, DedupExactStep, DedupFilterStep,
                                  DedupNearStep, SigWriter, pending_doc)
from auroram.curate.executors import QuietLocalExecutor, quiet_loguru
from auroram.curate.filters import FILTERS
from auroram.curate.readers import CurateInputError, InputFile, list_inputs, parse_input
from auroram.faults import fault_point
from auroram.io import atomic_file, hash_obj, mark_step_done, read_json, step_done, write_json
from auroram.outputs import Layout, claim_dir, remove_owned

STAGE3_STEPS = ["exact_dedup", "near_dedup"]
RANK = "[0-9]" * 5  # every task names its files by its rank, 00000.jsonl ...
KEPT_GLOB = f"{RANK}.jsonl"
# what curation (with --tokenize, --langid-eval and the demo's by_domain/) writes into --out; a user's other
# files there, kept/ and rejected/ included, are never touched
OUTPUT = Layout("curate", patterns=(
    "kept/", f"kept/{KEPT_GLOB}", "rejected/", f"rejected/{RANK}.jsonl", f"rejected/{RANK}.dedup.jsonl",
    "work/", "work/**", "stats.json", "step.json", "langid_eval.json", "shards/", "shards/**",
    "by_domain/", "by_domain/**"), legacy=lambda root: (root / "work" / "run.json").is_file())


def stage1_steps() -> list[str]:
    return ["read", "langid", *(f.name for f in FILTERS), "pii"]


def all_steps() -> list[str]:
    return stage1_steps() + STAGE3_STEPS


def __getattr__(name: str) -> Any:
    # STAGE1_STEPS and ALL_STEPS follow the filter registry, also when a filter is registered after import
    if name == "STAGE1_STEPS":
        return stage1_steps()
    if name == "ALL_STEPS":
        return all_steps()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _dumps(rec: dict[str, Any]) -> bytes:
    try:
        import orjson

        return orjson.dumps(rec) + b"\n"
    except (ImportError, TypeError):  # orjson refuses lone surrogates; json escapes them
        return (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


class Stage1Writer(PipelineStep):
    type = "auroram curate"
    name = "write rejects, pending and signatures"

    def __init__(self, cfg: CurateConfig, run_id: str, out_dir: str, buckets: int = 1):
        super().__init__()
        self.cfg, self.run_id, self.out, self.buckets = cfg, run_id, Path(out_dir), buckets

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        work = self.out / "work"
        S.clean_tmp([self.out / "rejected", work / "pending", work / "stats"], rank)
        shutil.rmtree(work / "sigs" / f".{rank:05d}.tmp", ignore_errors=True)
        sigs = SigWriter(work / "sigs", rank, self.cfg.dedup, self.buckets)
        with contextlib.ExitStack() as st:
            rej = st.enter_context(atomic_file(self.out / "rejected" / f"{rank:05d}.jsonl", "wb"))
            pend = st.enter_context(atomic_file(work / "pending" / f"{rank:05d}.jsonl", "wb"))
            for doc in data:
                meta = doc.metadata
                if meta.get("rejected"):
                    rej.write(_dumps(S.doc_record(doc, True)))
                    continue
                rec = S.doc_record(doc, False)
                rec["key"] = meta["key"]
                pend.write(_dumps(rec))
                fi, li = meta["key"]
                sigs.add((fi << 32) | li, doc.text, meta.get("lang") or S.UNKNOWN_LANG)
            sigs.close()
            write_json(work / "stats" / f"stage1-{rank:05d}.json", S.take_counters(self.run_id, rank))
        return
        yield


class PendingReader(PipelineStep):
    type = "auroram curate"
    name = "read pending"

    def __init__(self, out_dir: str):
        super().__init__()
        self.out = Path(out_dir)

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for rec in S.iter_jsonl(self.out / "work" / "pending" / f"{rank:05d}.jsonl"):
            yield pending_doc(rec)


class Stage3Writer(PipelineStep):
    type = "auroram curate"
    name = "write kept and duplicates"

    def __init__(self, run_id: str, out_dir: str):
        super().__init__()
        self.run_id, self.out = run_id, Path(out_dir)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        S.clean_tmp([self.out / "kept", self.out / "rejected", self.out / "work" / "stats"], rank)
        fault_point(f"curate-stage3-rank{rank}")
        with contextlib.ExitStack() as st:
            kept = st.enter_context(atomic_file(self.out / "kept" / f"{rank:05d}.jsonl", "wb"))
            rej = st.enter_context(atomic_file(self.out / "rejected" / f"{rank:05d}.dedup.jsonl", "wb"))
            for doc in data:
                if doc.metadata.get("rejected"):
                    rej.write(_dumps(S.doc_record(doc, True)))
                else:
                    kept.write(_dumps(S.doc_record(doc, False)))
            write_json(self.out / "work" / "stats" / f"stage3-{rank:05d}.json", S.take_counters(self.run_id, rank))
        return
        yield


class Finalize(PipelineStep):
    type = "auroram curate"
    name = "merge stats"

    def __init__(self, out_dir: str, run_hash: str, tasks: int, steps: list[str]):
        super().__init__()
        self.out, self.run_hash, self.tasks = Path(out_dir), run_hash, tasks
        self.steps = steps  # the launching process's order: a Slurm task imports only the built-in filters

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        stats = merge_stats(self.out / "work", self.tasks, self.run_hash, self.steps)
        write_json(self.out / "stats.json", stats)
        mark_step_done(self.out, "curate", self.run_hash, documents_in=stats["totals"]["docs_in"],
                       documents_kept=stats["totals"]["docs_kept"])
        return
        yield


def _add(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict):
            _add(dst.setdefault(k, {}), v)
        else:
            dst[k] = dst.get(k, 0) + v


def merge_stats(work: Path, tasks: int, run_hash: str = "", order: list[str] | None = None) -> dict[str, Any]:
    per_step: dict[str, dict[str, Any]] = {}
    pii: dict[str, Any] = {}
    for stage in ("stage1", "stage3"):
        for r in range(tasks):
            part = read_json(work / "stats" / f"{stage}-{r:05d}.json")
            for step, langs in part.items():
                if step == "_pii_found":
                    _add(pii, langs)
                else:
                    _add(per_step.setdefault(step, {}), langs)
    steps = [s for s in (order or all_steps()) if s in per_step]
    ordered = {s: {lang: per_step[s][lang] for lang in sorted(per_step[s])} for s in steps}
    by_reason: dict[str, dict[str, int]] = {}
    by_lang: dict[str, dict[str, Any]] = {}
    for s in steps:
        for lang, c in ordered[s].items():
            for reason, d in c["dropped"].items():
                _add(by_reason.setdefault(f"{s}/{reason}", {}), d)
                bl = by_lang.setdefault(lang, {"docs_kept": 0, "bytes_kept": 0, "docs_dropped": 0, "dropped": {}})
                bl["docs_dropped"] += d["docs"]
                bl["dropped"][f"{s}/{reason}"] = bl["dropped"].get(f"{s}/{reason}", 0) + d["docs"]
    last = steps[-1]
    for lang, c in ordered[last].items():
        bl = by_lang.setdefault(lang, {"docs_kept": 0, "bytes_kept": 0, "docs_dropped": 0, "dropped": {}})
        bl["docs_kept"] += c["docs_kept"]
        bl["bytes_kept"] += c["bytes_kept"]
    read = ordered.get("read", {})
    docs_in = sum(c["docs_in"] for c in read.values())
    docs_kept = sum(c["docs_kept"] for c in ordered[last].values())
    docs_dropped = sum(d["docs"] for d in by_reason.values())
    extra: dict[str, Any] = {}
    for name in ("quality",):
        qdir = work / "quality"
        if qdir.is_dir():
            extra["quality_models"] = {p.stem: read_json(p) for p in sorted(qdir.glob("*.json"))}
    if (work / "dups" / "summary.json").is_file():
        extra["dedup"] = read_json(work / "dups" / "summary.json")
    return {
        "format": 1,
        "run_hash": run_hash,
        "steps": steps,
        "totals": {"docs_in": docs_in, "bytes_in": sum(c["bytes_in"] for c in read.values()),
                   "docs_kept": docs_kept, "bytes_kept": sum(c["bytes_kept"] for c in ordered[last].values()),
                   "docs_dropped": docs_dropped, "balanced": docs_in == docs_kept + docs_dropped},
        "by_language": {k: by_lang[k] for k in sorted(by_lang)},
        "dropped_by_reason": {k: by_reason[k] for k in sorted(by_reason, key=lambda k: -by_reason[k]["docs"])},
        "per_step": ordered,
        "pii_replacements": pii,
        **extra,
    }


# ------------------------------------------------------------------------------------------------------
# executors


def _slurm_class():
    from datatrove.executor.slurm import SlurmPipelineExecutor

    class DryRunSlurmExecutor(SlurmPipelineExecutor):
        """Writes the pickled pipeline and the sbatch script exactly as a launch would, and submits nothing."""

        def launch_job(self):
            import dill
            from dill import CONTENTS_FMODE

            if self.depends:
                if not self.depends.job_id:
                    self.depends.launch_job()
                self.depends_job_id = self.depends.job_id
                self.depends = None
            ranks = self.get_incomplete_ranks()
            with self.logging_dir.open("executor.pik", "wb") as fh:
                dill.dump(self, fh, fmode=CONTENTS_FMODE)
            with self.logging_dir.open("ranks_to_run.json", "w") as fh:
                json.dump(ranks, fh)
            sbatch = self.get_sbatch_args(max(len(ranks), 1))
            if self.dependency:
                sbatch["dependency"] = self.dependency
            script = self.get_launch_file_contents(
                sbatch, f"srun -l -n {self.nodes_per_task} launch_pickled_pipeline "
                        f"{self.logging_dir.resolve_paths('executor.pik')}")
            with self.logging_dir.open("launch_script.slurm", "w") as fh:
                fh.write(script)
            self.job_id = f"dryrun-{self.job_name}"

    return SlurmPipelineExecutor, DryRunSlurmExecutor


def _executors(cfg: CurateConfig, kind: str, stages: list[tuple[str, list, int]], logs: Path, tasks: int,
               workers: int, quiet: bool) -> list[Any]:
    e = cfg.executor
    out: list[Any] = []
    for name, pipeline, n in stages:
        ldir = str(logs / name)
        if kind == "local":
            ex = QuietLocalExecutor(pipeline, tasks=n, workers=max(1, min(workers, n)), logging_dir=ldir,
                                    skip_completed=True, quiet=quiet)
        elif kind == "slurm":
            real, dry = _slurm_class()
            cls = dry if e.slurm_dry_run else real
            ex = cls(pipeline, tasks=n, time=e.slurm_time, partition=e.slurm_partition,
                     cpus_per_task=e.slurm_cpus_per_task, mem_per_cpu_gb=e.slurm_mem_per_cpu_gb,
                     job_name=f"auroram-curate-{name}", sbatch_args=dict(e.slurm_sbatch_args), logging_dir=ldir,
                     depends=out[-1] if out else None, venv_path=_venv_activate(), skip_completed=True)
        elif kind == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise RuntimeError("executor 'ray' needs the ray package (pip install 'ray[default]')") from None
            from datatrove.executor.ray import RayPipelineExecutor

            ex = RayPipelineExecutor(pipeline, tasks=n, workers=workers, logging_dir=ldir,
                                     depends=out[-1] if out else None, cpus_per_task=e.ray_cpus_per_task)
        else:
            raise ValueError(f"executor '{kind}': expected local, slurm or ray")
        out.append(ex)
    return out


def _venv_activate() -> str | None:
    p = Path(sys.prefix) / "bin" / "activate"
    return str(p) if p.is_file() else None


# ------------------------------------------------------------------------------------------------------


def _normalise_inputs(inputs: Sequence[Any], known: set[str]) -> list[tuple[str, str | None]]:
    out = []
    for x in inputs:
        if isinstance(x, (tuple, list)):
            out.append((str(x[0]), x[1]))
        else:
            out.append(parse_input(str(x), known))
    return out


def _fingerprint(files: list[InputFile]) -> list[Any]:
    items = []
    for f in files:
        st = os.stat(f.path)
        items.append([f.path, f.kind, f.lang_hint, st.st_size, st.st_mtime_ns])
    return items


def curate(inputs: Sequence[str | os.PathLike | tuple[str, str | None]], out_dir: str | os.PathLike, *,
           config: CurateConfig | None = None, tasks: int | None = None, workers: int | None = None,
           executor: str | None = None, strict: bool = False, quiet: bool = True) -> dict[str, Any]:
    """Curate `inputs` into out_dir/{kept,rejected}/ and out_dir/stats.json; returns the stats.

    An input is a path (file or directory), `LANG:PATH`, or a (path, lang) pair; a language routes the
    whole input (e.g. `code:src/`). `tasks`, `workers`, `executor` default to `config.executor`.
    Slurm and Ray runs return once the jobs are submitted: stats.json appears when they finish.
    """
    cfg = config or CurateConfig()
    validate(cfg)
    S.forget_resolved()  # a config object edited since an earlier call must not reuse its old resolution
    tasks = tasks or cfg.executor.tasks
    workers = workers or cfg.executor.workers
    kind = executor or cfg.executor.kind
    known = set(resolved_languages(cfg)) | {"code"}
    files = list_inputs(_normalise_inputs(inputs, known), cfg.reader)
    if not files:
        raise CurateInputError(f"no readable input files in {', '.join(map(str, inputs))} (looked for JSONL, "
                               f".gz/.zst, Parquet, Arrow, text and code files)")
    out = Path(out_dir)
    # "dedup": the layout of the signature files; a run left by another layout starts again
    run_hash = hash_obj({"cfg": config_hash_dict(cfg), "files": _fingerprint(files), "tasks": tasks, "dedup": 2,
                         "strict": strict})
    if step_done(out, run_hash) and (out / "stats.json").is_file():
        return read_json(out / "stats.json")
    claim_dir(out, OUTPUT)
    work = out / "work"
    marker = work / "run.json"
    same = marker.is_file() and read_json(marker).get("hash") == run_hash
    if not same:  # other inputs, settings or task layout: partial results cannot be reused
        for sub in ("kept", "rejected", "work", "stats.json", "step.json"):
            remove_owned(out, OUTPUT, sub)
        write_json(marker, {"hash": run_hash, "tasks": tasks, "inputs": [f.path for f in files]})
    for sub in ("kept", "rejected", "work/pending", "work/stats", "work/sigs"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    filters = [f(str(work)) for f in FILTERS]
    for f in filters:
        f.prepare(cfg, files, quiet)  # e.g. the quality classifiers, so every task scores with the same model

    rid = run_hash
    buckets = dedup_buckets(cfg.dedup, tasks)
    stage1 = [S.ReadStep(cfg, rid, files, strict), S.LangIdStep(cfg, rid),
              *(S.FilterStep(f, cfg, rid) for f in filters), S.PiiStep(cfg, rid),
              Stage1Writer(cfg, rid, str(out), buckets)]
    stage3 = [PendingReader(str(out)), DedupFilterStep(cfg, rid, str(work), "exact_dedup", REASON_EXACT),
              DedupFilterStep(cfg, rid, str(work), "near_dedup", REASON_NEAR), Stage3Writer(rid, str(out))]
    stage4 = [Finalize(str(out), run_hash, tasks, all_steps())]
    stages = [("1-filter", stage1, tasks), ("2a-exact", [DedupExactStep(cfg, str(work), tasks, buckets)], buckets),
              ("2b-near", [DedupNearStep(cfg, str(work), tasks, buckets)], buckets),
              ("2c-clusters", [DedupClusterStep(cfg, str(work), tasks, buckets)], 1), ("3-write", stage3, tasks),
              ("4-stats", stage4, 1)]
    execs = _executors(cfg, kind, stages, work / "logs", tasks, workers, quiet)
    if kind != "local":
        execs[-1].run()  # launches the chain through `depends`
        # job_id: the last stage's (Slurm); a job that must wait for the curation depends on it
        return {"submitted": kind, "logs": str(work / "logs"), "stats": str(out / "stats.json"),
                "job_id": getattr(execs[-1], "job_id", None)}
    with quiet_loguru(quiet):
        for ex in execs:
            try:
                ex.run()
            except CurateInputError:
                raise
            except Exception as e:  # a task's error comes back wrapped by the process pool
                if isinstance(e.__cause__, CurateInputError) or "CurateInputError" in type(e).__name__:
                    raise CurateInputError(str(e)) from None
                raise
            left = ex.get_incomplete_ranks(skip_completed=True)
            if left:
                raise RuntimeError(f"curate: {len(left)} task(s) of stage {ex.logging_dir.path} did not complete "
                                   f"(logs in {ex.logging_dir.path}/logs); rerun to continue")
    return read_json(out / "stats.json")
