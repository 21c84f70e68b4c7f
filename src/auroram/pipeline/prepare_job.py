"""`auroram prepare ARGS` as a one-task datatrove pipeline: the Slurm jobs before and after the task arrays
(auroram.pipeline.slurm) run it, so they share the arrays' scripts, logs and dependencies."""

from __future__ import annotations

from typing import Any

from datatrove.pipeline.base import PipelineStep


class PrepareCommand(PipelineStep):
    type = "auroram prepare"
    name = "auroram prepare"

    def __init__(self, argv: list[str]):
        super().__init__()
        self.argv = list(argv)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Any:
        from auroram.pipeline.prepare_cli import main

        code = main(self.argv)
        if code:
            raise RuntimeError(f"auroram prepare {' '.join(self.argv)} exited with {code}")
        return
        yield
