"""Soak test: SIGKILL `auroram run micro` at random moments, rerun, repeat; every finished run must equal
an uninterrupted one bitwise, and after every kill nothing may look complete that is not.

    .venv/bin/python benchmarks/soak_kills.py --kills 100 --out soak-out [--corpus DEMO_DIR] [--seed 0]

Without --corpus it writes the test suite's small synthetic corpus. Prints and writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import write_corpus  # noqa: E402  the test suite's corpus writer
from faults.conftest import assert_same_as_clean, check_honest  # noqa: E402


def start(run_dir: Path, corpus: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("AURORAM_FAULT", None)
    return subprocess.Popen([sys.executable, "-m", "auroram.cli", "run", "micro", "--quiet", "--run-dir", str(run_dir),
                             "--set", f"demo_dir={corpus}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--out", default="soak-out")
    ap.add_argument("--corpus", help="demo corpus directory (default: a small synthetic one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop after this long (0: no limit)")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    corpus = Path(args.corpus) if args.corpus else write_corpus(out / "corpus")
    rng = random.Random(args.seed)
    t0 = time.perf_counter()

    clean = out / "clean"
    p = start(clean, corpus)
    _, err = p.communicate()
    if p.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    clean_seconds = time.perf_counter() - t0
    print(f"clean run: {clean_seconds:.1f}s")

    kills = rounds = equal = 0
    failures: list[str] = []
    kill_after: list[float] = []
    while kills < args.kills and not (args.max_seconds and time.perf_counter() - t0 > args.max_seconds):
        rounds += 1
        run = out / f"round-{rounds}"
        while True:
            p = start(run, corpus)
            delay = rng.uniform(1.0, clean_seconds * 1.1)
            try:
                _, err = p.communicate(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                _, err = p.communicate()
            if p.returncode == -signal.SIGKILL:
                kills += 1
                kill_after.append(round(delay, 2))
                try:
                    check_honest(run, clean)
                except AssertionError as e:
                    failures.append(f"round {rounds}, kill {kills} after {delay:.1f}s: {e}")
                if kills >= args.kills:
                    p = start(run, corpus)  # finish the round so it can be compared
                    _, err = p.communicate()
                else:
                    continue
            if p.returncode != 0:
                failures.append(f"round {rounds}: rerun failed with exit {p.returncode}: {(err or '')[-500:]}")
                break
            try:
                assert_same_as_clean(run, clean)
                equal += 1
            except AssertionError as e:
                failures.append(f"round {rounds}: finished run differs from the clean run: {e}")
            shutil.rmtree(run, ignore_errors=True)
            break
        print(f"round {rounds}: {kills} kills so far, {equal} finished runs equal to the clean one, "
              f"{len(failures)} failures ({time.perf_counter() - t0:.0f}s)")
    summary = {"kills": kills, "rounds": rounds, "finished_equal_to_clean": equal, "failures": failures,
               "clean_run_seconds": round(clean_seconds, 1), "seconds": round(time.perf_counter() - t0, 1),
               "kill_after_seconds": kill_after, "seed": args.seed}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "kill_after_seconds"}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
