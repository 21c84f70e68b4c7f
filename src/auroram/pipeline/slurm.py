"""`auroram prepare` with `data.executor: slurm`: the data steps as a chain of Slurm jobs, submitted at once.

    curation   per curated input, datatrove's 4-stage chain (filter array -> dedup -> write array -> stats)
    plan       one task, after every curation: `auroram prepare --job plan` (data, curate's by-domain files,
               safety set, tokenizer; each shard set's task spec)
    shards     per source, a job array of data.tasks tasks, after plan: each tokenizes its byte ranges
    finish     one task, after every array: `auroram prepare --job finish` (each set's index, step records,
               manifest; a task that failed is redone here)

Each job runs with the same recipe (file or name, and --set overrides). A training job waits for the
last with `sbatch --dependency=afterok:ID` (scripts/slurm/prepare-and-train.sh). Scripts, pickled pipelines
and logs go to data.slurm.logs_dir (default <run dir>/jobs/), not part of the run's manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auroram.config import Recipe
from auroram.io import write_json, write_text
from auroram.pipeline.console import Console
from auroram.pipeline.context import RunContext, execute
from auroram.pipeline.rundir import provenance, record_outputs, run_lock
from auroram.pipeline.steps.curate import curation_jobs
from auroram.pipeline.steps.data import DataStep
from auroram.pipeline.steps.shards import ShardStep


def jobs_dir(recipe: Recipe, run_dir: Path) -> Path:
    return Path(recipe.data.slurm.logs_dir).expanduser() if recipe.data.slurm.logs_dir else Path(run_dir) / "jobs"


def submit(spec: Recipe, recipe: Recipe, run_dir: Path, recipe_arg: str, overrides: list[str], *,
           quiet: bool = False) -> dict[str, Any]:
    """Submit the chain; returns the jobs (name, id, tasks, what it waits for) and the last one's id."""
    from auroram.curate.run import curate
    from auroram.pipeline.executors import slurm_executor, sync_completions
    from auroram.pipeline.prepare import data_steps
    from auroram.curate.tokenize_step import ShardTask
    from auroram.pipeline.prepare_job import PrepareCommand
    from auroram.train.parallel import DistInfo

    run_dir = Path(run_dir).resolve()
    cfg = recipe.data
    logs = jobs_dir(recipe, run_dir)
    console = Console(quiet)
    jobs: list[dict[str, Any]] = []

    def launch(ex: Any, name: str, depends: list[str]) -> str:
        # every task runs again when the chain is resubmitted; a task whose output is current returns at once
        sync_completions(Path(ex.logging_dir.path), ex.world_size, lambda r: False)
        ex.launch_job()
        job_id = str(ex.job_id)
        jobs.append({"name": name, "job_id": job_id, "tasks": ex.world_size, "after": depends,
                     "script": str(Path(ex.logging_dir.path) / "launch_script.slurm")})
        console.step("prepare", f"{name}: job {job_id}, {ex.world_size} task(s)"
                                + (f", after {', '.join(depends)}" if depends else ""))
        return job_id

    with run_lock(run_dir):
        # the directory is a run directory from now on: the jobs (and a rerun) take it as their own
        write_text(run_dir / "recipe.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True))
        write_json(run_dir / "provenance.json", provenance(spec))
        record_outputs(run_dir, "recipe.yaml", "provenance.json")
        ctx = RunContext(spec=spec, recipe=recipe, run_dir=run_dir, info=DistInfo(), device=None, console=console)
        execute(DataStep(), ctx)  # the demo corpus, if the recipe reads it: curation jobs list its files now
        after_curation = []
        for job in curation_jobs(spec, recipe, run_dir, "slurm"):
            res = curate(job.inputs, job.out, config=job.config, tasks=cfg.tasks, workers=cfg.workers, quiet=True)
            jid = res.get("job_id")
            if jid not in (None, -1, "-1"):  # -1: every task of it was done already
                after_curation.append(str(jid))
            jobs.append({"name": f"curate:{job.name}", "job_id": str(jid), "tasks": cfg.tasks, "after": [],
                         "script": res.get("logs")})
            console.step("prepare", f"curate:{job.name}: chain submitted, last job {jid}")
        base = ["prepare", recipe_arg, "--run-dir", str(run_dir), "--quiet", "--log-format", "text"]
        for o in overrides:
            base += ["--set", o]
        plan = launch(slurm_executor(cfg, [PrepareCommand(base + ["--job", "plan"])], 1, logs / "plan",
                                     "auroram-prepare-plan", after_curation), "plan", after_curation)
        arrays = []
        for step in data_steps(recipe):
            if isinstance(step, ShardStep):
                ex = slurm_executor(cfg, [ShardTask(str(step.out_dir(ctx)))], cfg.tasks, logs / f"shards-{step.source}",
                                    f"auroram-shards-{step.source}", [plan])
                arrays.append(launch(ex, step.name, [plan]))
        final = launch(slurm_executor(cfg, [PrepareCommand(base + ["--job", "finish"])], 1, logs / "finish",
                                      "auroram-prepare-finish", arrays), "finish", arrays)
    result = {"jobs": jobs, "final_job": final, "dry_run": cfg.slurm.dry_run, "logs": str(logs)}
    write_json(logs / "jobs.json", result)
    what = "written (dry run: nothing submitted)" if cfg.slurm.dry_run else "submitted"
    result["summary"] = (f"{len(jobs)} jobs {what}; scripts and logs in {logs}; the last is {final}: start training "
                         f"with sbatch --dependency=afterok:{final} ...")
    return result
