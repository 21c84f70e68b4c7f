"""What a run prints: one line per step, warnings, errors and progress (quiet in tests and on ranks > 0).

In a terminal, rich's display. Anywhere else (Slurm, CI, a pipe) one line per event, an ISO time first, as
text or JSON (`--log-format`), progress as one line every few seconds. `log.txt` in the run directory gets
the text lines whatever the display shows.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, TextIO

FORMATS = ("auto", "text", "json")
LEVELS = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _one_line(text: Any) -> str:
    # a message with a line break would read as two events in a log file
    return " ".join(str(text).splitlines()).strip()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Console:
    def __init__(self, quiet: bool = False, log_format: str = "auto", progress_seconds: float = 30.0,
                 stream: TextIO | None = None):
        if log_format not in FORMATS:
            raise ValueError(f"log format {log_format!r}: expected one of {', '.join(FORMATS)}")
        self.quiet = quiet
        self.stream = stream or sys.stderr
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.format = ("rich" if tty else "text") if log_format == "auto" else log_format
        self.progress_seconds = progress_seconds
        self._log: TextIO | None = None
        self.rich: Any = None
        if self.format == "rich":
            from rich.console import Console as RichConsole

            self.rich = RichConsole(stderr=True, highlight=False)

    @property
    def interactive(self) -> bool:
        """True when a live display (progress bars) is shown: a terminal, not quiet."""
        return self.format == "rich" and not self.quiet

    # ---------------------------------------------------------------- the log file

    def attach_log(self, path: Path) -> None:
        """Append every event to `path` as a text line from now on (rank 0, while it holds the run lock)."""
        self.close()
        self._log = open(path, "a", encoding="utf-8", buffering=1)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # ---------------------------------------------------------------- events

    def emit(self, level: str, event: str, name: str, message: str, *, show: bool = True, **fields: Any) -> None:
        """One event: a text line in log.txt and, outside a terminal, on stderr as text or JSON (unless not
        `show`: log.txt only)."""
        ts, message = _now(), _one_line(message)
        line = f"{ts} {LEVELS[level]:<7} {name:<22} {message}".rstrip()
        if self._log is not None:
            self._log.write(line + "\n")
        if self.quiet or self.format == "rich" or not show:
            return
        if self.format == "json":
            line = json.dumps({"time": ts, "level": level, "event": event, "name": name, "message": message,
                               **fields}, ensure_ascii=False, default=str)
        self.stream.write(line + "\n")
        self.stream.flush()

    def step(self, name: str, status: str) -> None:
        self.emit("info", "step", name, status)
        if self.interactive:
            self.rich.print(f"[bold]{name:<22}[/bold] {status}")

    def begin(self, name: str) -> None:
        # the terminal shows each step's own line; start and end lines are for files
        self.emit("info", "begin", name, "start")

    def end(self, name: str, seconds: float) -> None:
        self.emit("info", "end", name, f"end ({seconds:.1f}s)", seconds=round(seconds, 3))

    def warn(self, msg: str) -> None:
        self.emit("warning", "warning", "", msg)
        if self.interactive:
            self.rich.print(f"[yellow]warning:[/yellow] {msg}")

    def error(self, msg: str) -> bool:
        """Log an error; True when it was shown (the caller then need not print it again)."""
        self.emit("error", "error", "", msg)
        return not self.quiet and self.format != "rich"

    def table(self, title: str, columns: list[str], rows: list[list[Any]], first_left: bool = True) -> None:
        """A small table: rich's in a terminal; elsewhere a title line and one line per row (`column value`
        pairs), or in JSON one event holding the rows."""
        if self.interactive:
            from rich.table import Table

            t = Table(title=title)
            for i, c in enumerate(columns):
                t.add_column(c, justify="left" if i == 0 and first_left else "right")
            for r in rows:
                t.add_row(*[str(v) for v in r])
            self.rich.print(t)
        self.emit("info", "table", "", title, columns=columns, rows=rows)
        for r in rows:
            self.emit("info", "table-row", "", "  ".join(f"{c} {v}" for c, v in zip(columns, r)),
                      show=self.format == "text")

    # ---------------------------------------------------------------- progress

    @contextlib.contextmanager
    def progress(self) -> Iterator[Any]:
        """rich's Progress in a terminal; otherwise an object with its add_task/update that logs lines."""
        if self.quiet and self._log is None:
            yield None
            return
        if not self.interactive:
            yield _Progress(self, None)
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.rich,
                      transient=False) as bar:
            yield _Progress(self, bar)

    # ---------------------------------------------------------------- what other code prints

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Python warnings and library log records of WARNING and above become this console's events."""
        handler = _Handler(self)
        root = logging.getLogger()
        old_show = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' signature
            self.warn(f"{category.__name__}: {message} ({Path(filename).name}:{lineno})")

        warnings.showwarning = show
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)
            warnings.showwarning = old_show


class _Handler(logging.Handler):
    def __init__(self, console: Console):
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        msg = f"{record.name}: {record.getMessage()}"
        if record.levelno >= logging.ERROR:
            self.console.emit("error", "error", "", msg)
        else:
            self.console.warn(msg)


class _Progress:
    """rich Progress's add_task/update, also logged as one line per task every `progress_seconds` and when a
    task completes: done/total, the fields the caller passes (loss, lr, tokens_per_s) and the time left."""

    def __init__(self, console: Console, bar: Any):
        self.console, self.bar = console, bar
        self.tasks: dict[Any, dict[str, Any]] = {}

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: Any) -> Any:
        tid = self.bar.add_task(description, total=total, completed=completed, **fields) if self.bar else len(self.tasks)
        now = time.monotonic()
        self.tasks[tid] = {"name": description, "total": total, "completed": completed, "start": completed,
                           "t0": now, "logged": now, "done": False,
                           "fields": {k: v for k, v in fields.items() if k != "info"}}
        return tid

    def update(self, task_id: Any, *, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        if self.bar is not None:
            self.bar.update(task_id, completed=completed, total=total, **fields)
        t = self.tasks[task_id]
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        t["fields"].update({k: v for k, v in fields.items() if k != "info"})
        now = time.monotonic()
        finished = t["total"] is not None and t["completed"] >= t["total"]
        if (finished and not t["done"]) or now - t["logged"] >= self.console.progress_seconds:
            t["logged"], t["done"] = now, finished
            self._log(t, now)

    def _log(self, t: dict[str, Any], now: float) -> None:
        done, total, f = t["completed"], t["total"], t["fields"]
        unit = f.get("unit", "")
        parts = [f"{unit} {done:,.0f}/{total:,.0f}".strip() if total else f"{unit} {done:,.0f}".strip()]
        if total:
            parts[0] += f" ({100 * done / total:.0f}%)"
        if f.get("loss") is not None:
            parts.append(f"loss {f['loss']:.4f}")
        if f.get("lr") is not None:
            parts.append(f"lr {f['lr']:.2e}")
        if f.get("tokens_per_s") is not None:
            parts.append(f"{f['tokens_per_s']:,.0f} tok/s")
        eta = None
        rate = (done - t["start"]) / max(now - t["t0"], 1e-9)
        if total and rate > 0 and done < total:
            eta = (total - done) / rate
            parts.append(f"ETA {_clock(eta)}")
        extra = {k: v for k, v in f.items() if k != "unit"}
        self.console.emit("info", "progress", t["name"], "  ".join(parts), completed=done, total=total,
                          eta_seconds=None if eta is None else round(eta, 1), **extra)
