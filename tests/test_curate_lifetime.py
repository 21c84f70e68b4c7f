"""A SIGKILLed curation run leaves no helper process behind (datatrove's queue manager was orphaned)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux-only")

_CHILD = r"""
import sys, time, multiprocess
from auroram.curate.executors import managers_die_with_parent
protect = sys.argv[1] == "1"
ctx = managers_die_with_parent() if protect else __import__("contextlib").nullcontext()
with ctx:
    m = multiprocess.Manager()  # how datatrove's LocalPipelineExecutor makes its task queue
q = m.Queue()
print(m._process.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return False


def _orphan_after_kill(protect: bool) -> tuple[int, bool]:
    p = subprocess.Popen([sys.executable, "-c", _CHILD, "1" if protect else "0"], stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        manager = int(p.stdout.readline())
        assert _alive(manager)
        p.kill()  # SIGKILL: no cleanup code runs in the parent
        p.wait()
        deadline = time.monotonic() + 10
        while _alive(manager) and time.monotonic() < deadline:
            time.sleep(0.1)
        return manager, _alive(manager)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_manager_ends_when_its_parent_is_killed():
    _, alive = _orphan_after_kill(protect=True)
    assert not alive


def test_without_the_guard_the_manager_is_orphaned():
    # the failure the guard exists for: proves the test above can fail
    _, alive = _orphan_after_kill(protect=False)
    assert alive
