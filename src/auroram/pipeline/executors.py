"""The datatrove executors the data steps run on, built from the recipe's `data:` block.

local: a process pool on this machine (datatrove's LocalPipelineExecutor, quiet, no orphaned helpers);
ray: datatrove's RayPipelineExecutor on a local or running Ray cluster (blocks until the tasks are done);
slurm: datatrove's SlurmPipelineExecutor, one job array per call, chained by job ids (`auroram prepare`
submits them and returns). A dry run writes each job's pickled pipeline and sbatch script and submits nothing.

Which tasks are done is decided by our own task records, not by datatrove's completion markers alone: the
markers are made to agree with them before a launch, so a deleted or corrupt part is redone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

from auroram.config import DataConfig
from auroram.errors import require_extra


def sync_completions(logs: Path, tasks: int, done: Callable[[int], bool]) -> list[int]:
    """Make datatrove's completion markers under `logs` say what `done` says; returns the ranks to run."""
    comp = logs / "completions"
    comp.mkdir(parents=True, exist_ok=True)
    todo = []
    for r in range(tasks):
        marker = comp / f"{r:05d}"
        if done(r):
            marker.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
            todo.append(r)
    return todo


def _venv_activate() -> str | None:
    import sys

    p = Path(sys.prefix) / "bin" / "activate"
    return str(p) if p.is_file() else None


def slurm_executor(cfg: DataConfig, pipeline: list, tasks: int, logs: Path, job_name: str,
                   depends_on: list[str] | None = None, cpus_per_task: int | None = None) -> Any:
    """A job array of `tasks` on the recipe's partition, starting once every job in depends_on succeeded."""
    from auroram.curate.run import _slurm_class

    real, dry = _slurm_class()
    s = cfg.slurm
    cls = dry if s.dry_run else real
    ids = [str(j) for j in depends_on or [] if j not in (None, -1, "-1")]
    return cls(pipeline, tasks=tasks, time=s.time, partition=s.partition,
               cpus_per_task=cpus_per_task or s.cpus_per_task, mem_per_cpu_gb=s.mem_per_cpu_gb,
               job_name=job_name, sbatch_args=dict(s.sbatch_args), logging_dir=str(logs),
               depends_job_id=":".join(ids) or None, venv_path=_venv_activate(), skip_completed=True)


def _local_class() -> type:
    from loguru import logger

    from auroram.curate.executors import QuietLocalExecutor

    class SilentLocalExecutor(QuietLocalExecutor):
        """Task logs go only to the task's log file: a failing task's traceback stays there, and the run
        prints the task's one-line error instead."""

        def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
            try:
                return super()._run_for_rank(rank, local_rank, node_rank)
            finally:
                logger.remove()  # datatrove adds a console handler back after each task

    return SilentLocalExecutor


def run_now(cfg: DataConfig, pipeline: list, tasks: int, logs: Path, *, quiet: bool = True) -> None:
    """Run `tasks` tasks of the pipeline to the end on the local or Ray executor (Slurm is submitted, not run)."""
    import sys

    from loguru import logger

    if cfg.executor == "ray":
        require_extra("ray", "ray", "data.executor: ray")
        import ray
        from datatrove.executor.ray import RayPipelineExecutor

        if not ray.is_initialized():
            ray.init(address=cfg.ray.address, include_dashboard=False, log_to_driver=not quiet,
                     logging_level="ERROR" if quiet else "INFO")
        ex: Any = RayPipelineExecutor(pipeline, tasks=tasks, workers=cfg.workers, logging_dir=str(logs),
                                      cpus_per_task=cfg.ray.cpus_per_task, skip_completed=True)
    else:
        # fork: the workers start with this process's tokenizer, renderer and evaluation-set index loaded
        ex = _local_class()(pipeline, tasks=tasks, workers=max(1, min(cfg.workers, tasks)), logging_dir=str(logs),
                            skip_completed=True, quiet=True, start_method="fork")
    logger.remove()
    # each worker is one process of its own; tokenizers' threads in a forked child could deadlock
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        ex.run()
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before
        logger.remove()
        logger.add(sys.stderr)  # loguru's own default, as the rest of the process expects
