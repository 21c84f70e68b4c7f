"""Curation's deduplication, stage 2: peak memory of each kind of task and CPU seconds, per document.

    python benchmarks/bench_dedup_memory.py --work SCRATCH [--docs 20000 80000] [--tasks 4 48] [--dup 0.1]

Synthetic documents of 60 words (a vocabulary of 20,000), a fraction --dup of them a copy of the previous
document with one word changed (a near duplicate), are written by --tasks input tasks through the stage-1
signature writer; then every exact bucket task, every near-duplicate bucket task and the cluster task run in
this process, one after another. Peak memory: tracemalloc's peak during each task (numpy's arrays are traced),
the largest over the tasks of a kind; divided by the documents it is the bytes a document that kind of task
holds. CPU seconds: summed over the tasks of a kind.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import tracemalloc
from pathlib import Path


def measure(work: Path, docs: int, tasks: int, dup: float) -> dict:
    from auroram.curate import load_curate_config
    from auroram.curate.config import dedup_buckets
    from auroram.curate.dedup import DedupClusterStep, DedupExactStep, DedupNearStep, SigWriter
    from auroram.io import read_json

    cfg = load_curate_config(data={})
    buckets = dedup_buckets(cfg.dedup, tasks)
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(20000)]
    per = -(-docs // tasks)
    words: list[str] = []
    for r in range(tasks):
        w = SigWriter(work / "sigs", r, cfg.dedup, buckets)
        for i in range(r * per, min(docs, (r + 1) * per)):
            if not words or rng.random() >= dup:
                words = [rng.choice(vocab) for _ in range(60)]
            else:
                words[rng.randrange(60)] = rng.choice(vocab)
            w.add(i, " ".join(words), "en")
        w.close()
    out: dict = {"docs": docs, "tasks": tasks, "buckets": buckets, "bands": cfg.dedup.bands, "dup": dup}
    for name, step, n in (("exact", DedupExactStep, buckets), ("near", DedupNearStep, buckets),
                          ("clusters", DedupClusterStep, 1)):
        peak, cpu = 0, 0.0
        for rank in range(n):
            tracemalloc.start()
            t0 = time.process_time()
            list(step(cfg, str(work), tasks, buckets).run(rank=rank) or [])
            cpu += time.process_time() - t0
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        out[name] = {"peak_mb": round(peak / 1e6, 2), "bytes_per_doc": round(peak / docs, 1), "cpu_s": round(cpu, 2)}
    out["pairs"] = read_json(work / "dups" / "summary.json")["candidate_pairs"]
    out["clusters"]["bytes_per_pair"] = round(out["clusters"]["peak_mb"] * 1e6 / max(1, out["pairs"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--docs", type=int, nargs="+", default=[20000, 80000])
    ap.add_argument("--tasks", type=int, nargs="+", default=[4, 48])
    ap.add_argument("--dup", type=float, default=0.1)
    a = ap.parse_args()
    for docs in a.docs:
        for tasks in a.tasks:
            work = a.work / f"d{docs}-t{tasks}"
            shutil.rmtree(work, ignore_errors=True)
            print(json.dumps(measure(work, docs, tasks, a.dup)), flush=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
