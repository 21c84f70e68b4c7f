"""Training tokens/s and MFU on CPU: auroram's loop against a bare PyTorch loop, the plain HF loop and HF Trainer.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model demo            # the four loops
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model wide            # width 512, 8 layers, seq 512
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model demo --levers   # variants of the bare loop

Every loop trains a copy of the same model (same initial weights) on batches of the same shape, in one
process; within each repeat the loops take turns, so load from other jobs on a shared machine falls on all of
them alike, and ratios are taken within a repeat. MFU is against this machine's fp32 matmul rate, measured in
the same run with the same thread count (best 2048 x 2048 torch.mm over a few seconds).
FLOPs per token = 6 x non-embedding params + 6 x LM-head params + 12 x layers x width x seq_len
(auroram.model.build.flops_per_token).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn.functional as F

from auroram.config import ModelConfig, OptimConfig, ScheduleConfig, StageConfig, TrainConfig
from auroram.mix.mixture import Batch, Mixture
from auroram.model.build import build_model, count_params, flops_per_token
from auroram.tokenize.shards import Shard, write_shard
import auroram.train.loop as loop


@dataclass(frozen=True)
class Shape:
    n_embd: int
    n_layer: int
    n_head: int
    seq_len: int
    batch_seqs: int  # sequences per optimizer step
    micro_seqs: int  # sequences per forward pass
    vocab: int = 4096


SHAPES = {
    "demo": Shape(n_embd=256, n_layer=4, n_head=4, seq_len=256, batch_seqs=16, micro_seqs=16),  # recipe tiny
    "wide": Shape(n_embd=512, n_layer=8, n_head=8, seq_len=512, batch_seqs=4, micro_seqs=4),
}
LR = 1e-4


# ----------------------------------------------------------------------------------------------------
# What the machine can do, and what a step costs.


def matmul_gflops(seconds: float = 3.0, n: int = 2048) -> dict[str, float]:
    """fp32 torch.mm rate at the current thread count: best and median of back-to-back products."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=c)
    rates = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rates) < 3:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return {"best": max(rates), "median": statistics.median(rates)}


def make_mixture(tmp: Path, shape: Shape, seed: int = 0) -> Mixture:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(400):  # ~400k tokens: every step reads fresh windows, as in training
        n = int(rng.integers(200, 1800))
        toks = np.append(rng.integers(1, shape.vocab, n), 0)
        docs.append((toks, np.ones(n + 1, np.uint8)))
    write_shard(tmp / "bench.bin", docs, vocab_size=shape.vocab)
    return Mixture({"bench": Shard(tmp / "bench.bin")}, {"bench": 1.0}, seq_len=shape.seq_len,
                   global_batch_seqs=shape.batch_seqs, seed=seed)


def make_model(shape: Shape) -> torch.nn.Module:
    cfg = ModelConfig(n_embd=shape.n_embd, n_layer=shape.n_layer, n_head=shape.n_head, multi_query=True,
                      n_positions=shape.seq_len)
    return build_model(cfg, vocab_size=shape.vocab, eos_id=0, seed=0)


# ----------------------------------------------------------------------------------------------------
# The loops. Each returns the seconds of each of `steps` timed optimizer steps, after `warm` untimed ones.


class StepClock:
    """Stands in for a rich Progress: train_stage calls update() once per step, after the optimizer step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        self.times.append(time.perf_counter())


def run_auroram(model, mixture: Mixture, shape: Shape, warm: int, steps: int, tmp: Path,
                micro_seqs: int | None = None) -> list[float]:
    stage = StageConfig(name="bench", tokens=(warm + steps) * shape.batch_seqs * shape.seq_len,
                        optim=OptimConfig(lr=LR), schedule=ScheduleConfig(kind="constant"))
    train = TrainConfig(seq_len=shape.seq_len, global_batch_tokens=shape.batch_seqs * shape.seq_len,
                        micro_batch_seqs=micro_seqs or shape.micro_seqs, precision="fp32", device="cpu",
                        log_every_steps=10**9)
    clock = StepClock()
    with tempfile.TemporaryDirectory(dir=tmp) as out:
        loop.train_stage(model=model, mixture=mixture, stage=stage, stage_index=0, train=train,
                         total_steps=warm + steps, out_dir=Path(out), progress=clock)
    return list(np.diff(clock.times[warm - 1 : warm + steps]))


def loss_full(model, x, y):
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-100)


def loss_hf(model, x, y):
    # HF's own loss: labels are the inputs, the model shifts them (one target fewer per row)
    return model(input_ids=x, labels=x).loss


def make_loss_chunked(chunk_tokens: int) -> Callable:
    """LM head + cross-entropy over chunks of tokens, each recomputed in backward: the full logits never exist."""

    def head_ce(h, y, head):
        return F.cross_entropy(head(h), y, ignore_index=-100, reduction="sum")

    def loss_chunked(model, x, y):
        h = model.base_model(input_ids=x).last_hidden_state.reshape(-1, model.config.hidden_size)
        yf = y.reshape(-1)
        head = model.get_output_embeddings()
        total = sum(torch.utils.checkpoint.checkpoint(head_ce, hc, yc, head, use_reentrant=False)
                    for hc, yc in zip(h.split(chunk_tokens), yf.split(chunk_tokens)))
        return total / max(int((yf != -100).sum()), 1)

    return loss_chunked


def run_bare(model, batches: list[Batch], shape: Shape, warm: int, steps: int, *, loss_fn=loss_full,
             micro_seqs: int | None = None, clip: bool = False, adam: str = "default") -> list[float]:
    """forward, loss, backward, AdamW step: the least a training loop can do on this model and batch."""
    kwargs = {"fused": True} if adam == "fused" else {"foreach": True} if adam == "foreach" else {}
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1, **kwargs)
    micro = micro_seqs or shape.micro_seqs
    model.train()

    def step(b: Batch) -> None:
        rows = b.input_ids.shape[0]
        for i in range(0, rows, micro):
            loss = loss_fn(model, b.input_ids[i : i + micro], b.labels[i : i + micro]) * (micro / rows)
            loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for k in range(warm):
        step(batches[k % len(batches)])
    seconds = []
    for k in range(steps):
        t0 = time.perf_counter()
        step(batches[(warm + k) % len(batches)])
        seconds.append(time.perf_counter() - t0)
    return seconds


def run_hf_trainer(model, batches: list[Batch], shape: Shape, warm: int, steps: int, tmp: Path) -> list[float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    rows = torch.cat([b.input_ids for b in batches])

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return (warm + steps) * shape.batch_seqs

        def __getitem__(self, i: int) -> dict:
            x = rows[i % len(rows)]
            return {"input_ids": x, "labels": x}

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(dir=tmp) as out:
        args = TrainingArguments(
            output_dir=out, use_cpu=True, per_device_train_batch_size=shape.micro_seqs,
            gradient_accumulation_steps=shape.batch_seqs // shape.micro_seqs, max_steps=warm + steps,
            learning_rate=LR, weight_decay=0.1, adam_beta2=0.95, max_grad_norm=1.0,
            lr_scheduler_type="constant", logging_strategy="no", save_strategy="no", report_to="none",
            dataloader_num_workers=0, disable_tqdm=True, seed=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=Rows(), callbacks=[Clock()])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.train()
    torch.set_num_threads(threads)  # in case the Trainer changed it
    return list(np.diff(times[warm - 1 : warm + steps]))


# ----------------------------------------------------------------------------------------------------
# Running them in turns.


@contextlib.contextmanager
def num_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fused_adamw_build_optimizer(model, stage):
    # auroram's build_optimizer with fused=True on CPU too (it sets fused only on CUDA)
    opt = ORIGINAL_BUILD_OPTIMIZER(model, stage)
    return torch.optim.AdamW(opt.param_groups, lr=stage.optim.lr, betas=stage.optim.betas, eps=stage.optim.eps,
                             fused=True)


ORIGINAL_BUILD_OPTIMIZER = loop.build_optimizer
ORIGINAL_MICRO_LOSS_ROWS = loop.micro_loss_rows


@contextlib.contextmanager
def patched(**attrs):
    old = {k: getattr(loop, k) for k in attrs}
    for k, v in attrs.items():
        setattr(loop, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(loop, k, v)


def main_variants(shape: Shape, levers: bool, threads: int, tmp: Path, mixture: Mixture,
                  batches: list[Batch]) -> dict[str, Callable[[torch.nn.Module, int, int], float]]:
    """name -> run(model, warm, steps) -> seconds."""
    if not levers:
        return {
            "auroram": lambda m, w, s: run_auroram(m, mixture, shape, w, s, tmp),
            "bare": lambda m, w, s: run_bare(m, batches, shape, w, s),
            "hf_loop": lambda m, w, s: run_bare(m, batches, shape, w, s, loss_fn=loss_hf),
            "hf_loop_eager_attn": lambda m, w, s: run_bare(_eager(m), batches, shape, w, s, loss_fn=loss_hf),
            "hf_trainer": lambda m, w, s: run_hf_trainer(m, batches, shape, w, s, tmp),
        }
    half = max(shape.micro_seqs // 2, 1)
    other_threads = 2 if threads == 1 else 1
    v: dict[str, Callable] = {
        "bare": lambda m, w, s: run_bare(m, batches, shape, w, s),
        "bare+clip": lambda m, w, s: run_bare(m, batches, shape, w, s, clip=True),
        "bare+fused_adamw": lambda m, w, s: run_bare(m, batches, shape, w, s, adam="fused"),
        "bare+foreach_adamw": lambda m, w, s: run_bare(m, batches, shape, w, s, adam="foreach"),
        "bare+eager_attn": lambda m, w, s: run_bare(_eager(m), batches, shape, w, s),
        "bare+chunked_ce_1024": lambda m, w, s: run_bare(m, batches, shape, w, s, loss_fn=make_loss_chunked(1024)),
        f"bare+micro_{half}": lambda m, w, s: run_bare(m, batches, shape, w, s, micro_seqs=half),
        f"bare+threads_{other_threads}": lambda m, w, s: _with_threads(other_threads, run_bare, m, batches, shape, w, s),
        "auroram": lambda m, w, s: run_auroram(m, mixture, shape, w, s, tmp),
        "auroram+fused_adamw": lambda m, w, s: _patched_run(dict(build_optimizer=fused_adamw_build_optimizer),
                                                            run_auroram, m, mixture, shape, w, s, tmp),
    }
    return v


def _eager(model):
    model.set_attn_implementation("eager")
    return model


def _with_threads(n, fn, *args, **kwargs):
    with num_threads(n):
        return fn(*args, **kwargs)


def _patched_run(attrs, fn, *args, **kwargs):
    with patched(**attrs):
        return fn(*args, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(SHAPES), default="demo")
    ap.add_argument("--levers", action="store_true", help="variants of the bare loop instead of the four loops")
    ap.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm-steps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6, help="timed optimizer steps per loop and repeat")
    ap.add_argument("--batch-seqs", type=int, default=0, help="override the shape's sequences per step")
    ap.add_argument("--micro-seqs", type=int, default=0, help="override the shape's sequences per forward")
    ap.add_argument("--seq-len", type=int, default=0)
    ap.add_argument("--compile", action="store_true", help="add torch.compile(model) as a lever (slow to start)")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()

    shape = SHAPES[args.model]
    if args.batch_seqs:
        shape = replace(shape, batch_seqs=args.batch_seqs, micro_seqs=args.micro_seqs or args.batch_seqs)
    elif args.micro_seqs:
        shape = replace(shape, micro_seqs=args.micro_seqs)
    if args.seq_len:
        shape = replace(shape, seq_len=args.seq_len)
    torch.set_num_threads(args.threads)
    tokens_per_step = shape.batch_seqs * shape.seq_len

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        mixture = make_mixture(tmp, shape)
        batches = [mixture.batch(k) for k in range(args.warm_steps + args.steps)]
        template = make_model(shape)
        fpt = flops_per_token(template, shape.seq_len)
        params = count_params(template)
        variants = main_variants(shape, args.levers, args.threads, tmp, mixture, batches)
        if args.compile:
            variants["bare+compile"] = lambda m, w, s: run_bare(torch.compile(m), batches, shape, w, s)
        if args.only:
            keep = args.only.split(",")
            variants = {k: v for k, v in variants.items() if k in keep}

        peaks = {args.threads: [matmul_gflops()]}
        if args.levers and args.threads == 1:
            with num_threads(2):
                peaks[2] = [matmul_gflops()]
        print(f"model {args.model}: {shape}, params {params}, FLOPs/token {fpt / 1e6:.1f}M, "
              f"{tokens_per_step} tokens/step, threads {args.threads}, torch {torch.__version__}", flush=True)
        step_s: dict[str, list[list[float]]] = {k: [] for k in variants}
        for r in range(args.repeats):
            for name, run in variants.items():
                model = copy.deepcopy(template)
                step_s[name].append(run(model, args.warm_steps, args.steps))
                secs = step_s[name][-1]
                print(f"  repeat {r + 1} {name:24s} {len(secs) * tokens_per_step / sum(secs):9,.0f} tokens/s "
                      f"(best step {tokens_per_step / min(secs):,.0f})", flush=True)
                del model
                gc.collect()
            peaks[args.threads].append(matmul_gflops(seconds=1.5))
    report(args, shape, params, fpt, tokens_per_step, peaks, step_s)


def report(args, shape: Shape, params: dict, fpt: float, tokens_per_step: int, peaks: dict,
           step_s: dict[str, list[list[float]]]) -> None:
    """Two views of a noisy machine: the median over repeats of each run's rate, and the best single step
    (the least disturbed by other jobs); MFU from the best step against the best matmul rate."""
    best_peak = {k: max(p["best"] for p in v) for k, v in peaks.items()}
    run_rate = {n: [len(s) * tokens_per_step / sum(s) for s in runs] for n, runs in step_s.items()}
    best_rate = {n: tokens_per_step / min(x for s in runs for x in s) for n, runs in step_s.items()}
    result = {"model": args.model, "shape": shape.__dict__, "threads": args.threads, "params": params,
              "flops_per_token": fpt, "tokens_per_step": tokens_per_step, "steps": args.steps,
              "warm_steps": args.warm_steps, "repeats": args.repeats, "torch": torch.__version__,
              "matmul_gflops": {str(k): v for k, v in peaks.items()}, "variants": {}}
    for k, v in peaks.items():
        print(f"\nfp32 matmul at {k} thread(s): best {best_peak[k]:.1f} GFLOP/s (best per check: "
              + ", ".join(f"{p['best']:.1f}" for p in v) + ")")
    print(f"{'loop':26s} {'run tokens/s: median':>21s} {'(min-max)':>17s} {'best step':>10s} {'MFU':>6s}")
    for name in step_s:
        threads = int(name.rsplit("_", 1)[1]) if "+threads_" in name else args.threads
        med = statistics.median(run_rate[name])
        mfu = best_rate[name] * fpt / (best_peak[threads] * 1e9)
        result["variants"][name] = {"step_seconds": step_s[name], "run_tokens_per_s": run_rate[name],
                                    "median_run_tokens_per_s": med, "best_step_tokens_per_s": best_rate[name],
                                    "mfu_best_step": mfu, "threads": threads}
        lo, hi = min(run_rate[name]), max(run_rate[name])
        print(f"{name:26s} {med:21,.0f} {lo:8,.0f}-{hi:<8,.0f} {best_rate[name]:10,.0f} {mfu:6.1%}")
    for ref, title in (("auroram", "auroram against each loop"), ("bare", "each lever against the bare loop")):
        if ref not in step_s or (ref == "bare" and not args.levers):
            continue
        print(f"\n{title}: speed ratio from the best steps; within-repeat run ratio median (min-max)")
        for name in step_s:
            if name == ref:
                continue
            a, b = (ref, name) if ref == "auroram" else (name, ref)
            per = [x / y for x, y in zip(run_rate[a], run_rate[b])]
            result["variants"][name][f"{a}_over_{b}"] = {"best_step": best_rate[a] / best_rate[b], "per_repeat": per}
            print(f"  {a + '/' + b:40s} {best_rate[a] / best_rate[b]:6.3f}   "
                  f"{statistics.median(per):6.3f} ({min(per):.3f}-{max(per):.3f})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
