"""What a run prints: one line per step, warnings, and progress bars (quiet in tests and on ranks > 0)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


class Console:
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
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.rich,
                      transient=False) as p:
            yield p
