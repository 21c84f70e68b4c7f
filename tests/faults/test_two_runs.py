"""Two `auroram run` processes on one run directory: the second refuses at once, naming the holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import copy_run, run_micro

pytestmark = pytest.mark.slow


def test_second_process_on_a_run_directory_refuses_while_the_first_runs(clean_run, fault_corpus, tmp_path):
    run = copy_run(clean_run, tmp_path / "run", ["stages/base", "stages/cap", "stages/cat", "report.json"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("AURORAM_FAULT", None)
    first = subprocess.Popen([sys.executable, "-m", "auroram.cli", "run", "micro", "--quiet", "--run-dir", str(run),
                              "--set", f"demo_dir={fault_corpus}"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        lock = run / ".lock"
        while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):  # the first holds the lock
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = run_micro(run, fault_corpus)
        assert first.poll() is None, "the first run ended before the second tried: the test proves nothing"
        assert second.returncode == 2
        assert second.stderr.strip() == (f"auroram: error: {run}: another auroram run is using this run directory "
                                         f"(pid {first.pid})")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
