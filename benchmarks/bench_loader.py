"""Tokens per second the mixture delivers on one core (target: >= 1M at seq_len 256, 16 sequences a step).

    python benchmarks/bench_loader.py [--seq-len 256] [--batch-seqs 16] [--steps 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from auroram.mix.mixture import Mixture
from auroram.tokenize.shards import Shard, write_shard


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-seqs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--tokens-per-source", type=int, default=4_000_000)
    ap.add_argument("--world-size", type=int, default=1, help="time rank 0's slice of each step")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(0)
    weights = {"en": 0.35, "code": 0.25, "fi": 0.15, "ja": 0.15, "hi": 0.07, "vi": 0.03}
    with tempfile.TemporaryDirectory() as tmp:
        shards = {}
        for name in weights:
            n_docs = args.tokens_per_source // 1000
            docs = ((rng.integers(0, 49152, 1000), rng.integers(0, 2, 1000)) for _ in range(n_docs))
            write_shard(Path(tmp) / name, docs, vocab_size=49152)
            shards[name] = Shard(Path(tmp) / name)
        mix = Mixture(shards, weights, seq_len=args.seq_len, global_batch_seqs=args.batch_seqs, seed=0)
        mix.rank_batch(0, 0, args.world_size)  # warm the page cache and the first permutations
        t0 = time.perf_counter()
        for step in range(args.steps):
            b = mix.rank_batch(step, 0, args.world_size)
        seconds = time.perf_counter() - t0
        tokens = args.steps * b.input_ids.numel()
        print(f"seq_len {args.seq_len}, {b.input_ids.shape[0]} rows/step, {args.steps} steps: "
              f"{tokens / seconds:,.0f} tokens/s ({seconds / args.steps * 1e3:.3f} ms/step)")


if __name__ == "__main__":
    main()
