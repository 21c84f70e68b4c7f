"""datatrove's local executor as curation runs it: quiet on the console, and with no helper process
outliving a killed run.

datatrove's local executor starts a `multiprocess.Manager()` server for its task queue. When the parent is
killed with SIGKILL (a kill -9, the OOM killer, a scheduler's hard stop) that server is orphaned and waits
forever. On Linux, `prctl(PR_SET_PDEATHSIG)` asks the kernel to signal a process when its parent dies;
`managers_die_with_parent()` starts every manager inside it with that request.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
from typing import Any, Iterator

from datatrove.executor.local import LocalPipelineExecutor

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """In a child: get `sig` when the parent exits (Linux only; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request was in place
        os.kill(os.getpid(), sig)


@contextlib.contextmanager
def managers_die_with_parent() -> Iterator[None]:
    """Within the block, `multiprocess.Manager()` servers end when this process does."""
    try:
        import multiprocess
        from multiprocess.managers import SyncManager
    except ImportError:
        yield
        return
    original = multiprocess.Manager
    me = os.getpid()

    def manager():
        m = SyncManager(ctx=multiprocess.get_context())
        m.start(initializer=die_with_parent, initargs=(me,))
        return m

    multiprocess.Manager = manager
    try:
        yield
    finally:
        multiprocess.Manager = original


def errors_only() -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")


@contextlib.contextmanager
def quiet_loguru(quiet: bool) -> Iterator[None]:
    """Within the block only errors reach the console (datatrove logs every task at INFO); afterwards
    loguru's default console handler is back."""
    if not quiet:
        yield
        return
    from loguru import logger

    errors_only()
    try:
        yield
    finally:
        logger.remove()
        logger.add(sys.stderr)


class QuietLocalExecutor(LocalPipelineExecutor):
    """Tasks log INFO only to their log files (when `quiet`); the queue manager ends with this process."""

    def __init__(self, *args: Any, quiet: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.quiet = quiet

    def run(self):
        with managers_die_with_parent():
            return super().run()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        # datatrove logs INFO to stderr for local_rank 0 only; the task logs still go to logging_dir
        try:
            return super()._run_for_rank(rank, local_rank=1 if self.quiet else local_rank, node_rank=node_rank)
        finally:
            if self.quiet:  # datatrove re-adds an INFO stderr logger after each task
                errors_only()
