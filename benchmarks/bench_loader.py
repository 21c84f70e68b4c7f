"""How fast the mixture delivers batches, and what memory it holds.

Default mode: tokens per second over several in-memory-sized sources (target: >= 1M at seq_len 256, 16
sequences a step, one core):

    python benchmarks/bench_loader.py [--seq-len 256] [--batch-seqs 16] [--steps 2000]

Shard-set mode: one source of --set-tokens random uint16 ids, unmasked, written as --set-parts parts with
write_part (2 bytes a token: about 2 GB for 1e9), then read by a fresh process so its peak RSS is the
loader's alone; once with the parts in the page cache (as just written) and once evicted from it (cold).
The set is deleted afterwards.

    python benchmarks/bench_loader.py --set-tokens 1e9 [--set-parts 8] [--set-dir DIR] [--steps 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from auroram.mix.mixture import Mixture
from auroram.tokenize.shards import Shard, write_shard
from auroram.tokenize.shardset import ShardSet, finalize, part_path, write_part

_VOCAB = 49152  # StarCoder's vocabulary size: uint16 tokens
_GEN_TOKENS = 1 << 22  # random tokens drawn at a time while writing


def _mixture_mode(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    weights = {"en": 0.35, "code": 0.25, "fi": 0.15, "ja": 0.15, "hi": 0.07, "vi": 0.03}
    with tempfile.TemporaryDirectory() as tmp:
        shards = {}
        for name in weights:
            n_docs = args.tokens_per_source // 1000
            docs = ((rng.integers(0, _VOCAB, 1000), rng.integers(0, 2, 1000)) for _ in range(n_docs))
            write_shard(Path(tmp) / name, docs, vocab_size=_VOCAB)
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


def _random_docs(rng: np.random.Generator, n_tokens: int):
    """Documents of 1..8191 tokens (web-page sized), drawn in large blocks so writing is not Python-bound."""
    left = n_tokens
    while left > 0:
        block = rng.integers(0, _VOCAB, min(left, _GEN_TOKENS), dtype=np.uint16)
        left -= block.size
        at = 0
        while at < block.size:
            n = int(rng.integers(1, 8192))
            yield block[at : at + n], None
            at += n


def _write_set(set_dir: Path, n_tokens: int, n_parts: int) -> float:
    rng = np.random.default_rng(0)
    per = -(-n_tokens // n_parts)
    t0 = time.perf_counter()
    for i in range(n_parts):
        write_part(set_dir, i, _random_docs(rng, min(per, n_tokens - i * per)), _VOCAB, masked=False)
    finalize(set_dir, n_parts, meta={"bench": "synthetic uint16"})
    return time.perf_counter() - t0


def _evict(set_dir: Path, n_parts: int) -> None:
    # clean pages of a file this process may read can be dropped without root: the next read goes to disk
    for i in range(n_parts):
        fd = os.open(part_path(set_dir, i), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _status_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = round(int(val.split()[0]) / 1024, 1)
    return out


def _read_set(args: argparse.Namespace) -> None:
    """Child process: open the set, time the batches, report one JSON line."""
    base_mb = _status_mb()["VmRSS"]  # the interpreter, numpy and torch, before any data
    t0 = time.perf_counter()
    sset = ShardSet(args.read_set)
    open_s = time.perf_counter() - t0
    mix = Mixture({"web": sset}, {"web": 1.0}, seq_len=args.seq_len, global_batch_seqs=args.batch_seqs, seed=0)
    t0 = time.perf_counter()
    mix.batch(0)  # builds the first permutation of every window
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        mix.batch(step)
    seconds = time.perf_counter() - t0
    print(json.dumps({"open_s": open_s, "first_batch_s": first_s, "batches_per_s": args.steps / seconds,
                      "ms_per_batch": seconds / args.steps * 1e3, "windows": mix.n_windows["web"],
                      "base_rss_mb": base_mb, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      **{k + "_mb": v for k, v in _status_mb().items()}}))


def _set_mode(args: argparse.Namespace) -> None:
    n_tokens = int(args.set_tokens)
    parent = Path(args.set_dir) if args.set_dir else None
    tmp = Path(tempfile.mkdtemp(prefix="auroram-bench-set-", dir=parent))
    try:
        write_s = _write_set(tmp, n_tokens, args.set_parts)
        disk = sum(f.stat().st_size for f in (tmp / "parts").iterdir())
        print(f"wrote {n_tokens:,} tokens as {args.set_parts} parts: {disk / 1e9:.2f} GB in {write_s:.1f} s "
              f"({n_tokens / write_s / 1e6:.1f}M tokens/s)")
        child = [sys.executable, __file__, "--read-set", str(tmp), "--seq-len", str(args.seq_len),
                 "--batch-seqs", str(args.batch_seqs), "--steps", str(args.steps)]
        for label in ("page cache warm", "cold (evicted)"):
            if label.startswith("cold"):
                _evict(tmp, args.set_parts)
            res = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(f"{label}: {res['batches_per_s']:,.0f} batches/s ({res['ms_per_batch']:.2f} ms) at seq_len "
                  f"{args.seq_len} x {args.batch_seqs} over {args.steps} steps; open {res['open_s'] * 1e3:.1f} ms, "
                  f"first batch {res['first_batch_s'] * 1e3:.0f} ms ({res['windows']:,} windows); peak RSS "
                  f"{res['peak_rss_mb']:.0f} MB (at start {res['base_rss_mb']:.0f} MB; at end anon "
                  f"{res.get('RssAnon_mb', 0):.0f} MB, file-backed {res.get('RssFile_mb', 0):.0f} MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-seqs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--tokens-per-source", type=int, default=4_000_000)
    ap.add_argument("--world-size", type=int, default=1, help="time rank 0's slice of each step")
    ap.add_argument("--set-tokens", type=float, default=0, help="shard-set mode: tokens in the set (e.g. 1e9)")
    ap.add_argument("--set-parts", type=int, default=8)
    ap.add_argument("--set-dir", default=None, help="directory to write the set under (default: the temp dir)")
    ap.add_argument("--read-set", default=None, help=argparse.SUPPRESS)  # the child process of shard-set mode
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.read_set:
        _read_set(args)
    elif args.set_tokens:
        _set_mode(args)
    else:
        _mixture_mode(args)


if __name__ == "__main__":
    main()
