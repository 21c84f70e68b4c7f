"""Training tokens/s and MFU on CPU: auroram's loop against a bare PyTorch loop, the plain HF loop and HF Trainer.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model demo            # the loops side by side
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model wide            # width 512, 8 layers, seq 512
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model demo --levers   # variants of the bare loop
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --model demo --bf16     # + the loops under bf16 autocast

Every loop trains its own copy of the same model (same initial weights) on batches of the same shape, in one
process, and the loops are interleaved step by step: each round runs one optimizer step of every loop, in a
rotating order, plus one fp32 matmul probe (and a bf16 one with --bf16: the bf16 loops' MFU is against it).
A shared machine's load changes over seconds, so comparing the steps of one round (and the matmul rate of
that same round, for MFU) cancels most of it; the reported numbers are medians over rounds. auroram's
`train_stage` and HF's `Trainer.train` own their loops, so each runs in a worker thread that pauses after
every step (through train_stage's progress hook and a Trainer callback).
FLOPs per token = 6 x non-embedding params + 6 x LM-head params + 12 x layers x width x seq_len
(auroram.model.build.flops_per_token).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import auroram.train.loop as loop  # noqa: E402
from auroram.config import ModelConfig, OptimConfig, ScheduleConfig, StageConfig, TrainConfig  # noqa: E402
from auroram.mix.mixture import Batch, Mixture  # noqa: E402
from auroram.model.build import build_model, count_params, flops_per_token  # noqa: E402
from auroram.tokenize.shards import Shard, write_shard  # noqa: E402


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


def make_mixture(tmp: Path, shape: Shape, seed: int = 0) -> Mixture:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(400):  # ~400k tokens: every step reads fresh windows, as in training
        n = int(rng.integers(200, 1800))
        docs.append((np.append(rng.integers(1, shape.vocab, n), 0), np.ones(n + 1, np.uint8)))
    write_shard(tmp / "bench.bin", docs, vocab_size=shape.vocab)
    return Mixture({"bench": Shard(tmp / "bench.bin")}, {"bench": 1.0}, seq_len=shape.seq_len,
                   global_batch_seqs=shape.batch_seqs, seed=seed)


def make_model(shape: Shape) -> torch.nn.Module:
    cfg = ModelConfig(n_embd=shape.n_embd, n_layer=shape.n_layer, n_head=shape.n_head, multi_query=True,
                      n_positions=shape.seq_len)
    return build_model(cfg, vocab_size=shape.vocab, eos_id=0, seed=0)


# ----------------------------------------------------------------------------------------------------
# Steppers: step() runs one optimizer step of one loop; close() lets a threaded loop finish.


class MatmulProbe:
    """One round's matmul rate: the best of a few 2048 x 2048 products (GFLOP/s), fp32 unless told."""

    def __init__(self, n: int = 2048, reps: int = 3, dtype: torch.dtype = torch.float32):
        self.a, self.b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        self.c = torch.empty(n, n, dtype=dtype)
        self.n, self.reps = n, reps

    def step(self) -> float:
        best = 0.0
        for _ in range(self.reps):
            t0 = time.perf_counter()
            torch.mm(self.a, self.b, out=self.c)
            best = max(best, 2 * self.n**3 / (time.perf_counter() - t0) / 1e9)
        return best


class ThreadedLoop:
    """Runs a loop that owns its iteration (train_stage, Trainer.train) in a worker thread that waits after
    every optimizer step until step() is called again. Only one thread computes at a time."""

    def __init__(self, run: Callable[["ThreadedLoop"], Any], threads: int):
        self._go, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self._error: BaseException | None = None
        self.finished = False
        self._threads = threads
        self._thread = threading.Thread(target=self._main, args=(run,), daemon=True)
        self._thread.start()

    def _main(self, run) -> None:
        torch.set_num_threads(self._threads)  # OpenMP thread counts are per calling thread
        self._go.acquire()
        try:
            run(self)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            self._error = e
        finally:
            self.finished = True
            self._done.release()

    def pause(self) -> None:  # called by the loop after each step, in the worker thread
        self._done.release()
        self._go.acquire()

    def step(self) -> None:
        if self.finished:
            raise RuntimeError("the loop ended before the benchmark did")
        self._go.release()
        self._done.acquire()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        while not self.finished:
            self._go.release()
            self._done.acquire()
        self._thread.join()
        if self._error is not None:
            raise self._error

    # the rich Progress interface train_stage uses
    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        self.pause()


def auroram_loop(model, mixture: Mixture, shape: Shape, steps: int, tmp: Path, threads: int,
                 precision: str = "fp32") -> ThreadedLoop:
    stage = StageConfig(name="bench", tokens=steps * shape.batch_seqs * shape.seq_len,
                        optim=OptimConfig(lr=LR), schedule=ScheduleConfig(kind="constant"))
    train = TrainConfig(seq_len=shape.seq_len, global_batch_tokens=shape.batch_seqs * shape.seq_len,
                        micro_batch_seqs=shape.micro_seqs, precision=precision, device="cpu", log_every_steps=10**9)
    out = Path(tempfile.mkdtemp(dir=tmp))

    def run(progress: ThreadedLoop) -> None:
        loop.train_stage(model=model, mixture=mixture, stage=stage, stage_index=0, train=train,
                         total_steps=steps, out_dir=out, progress=progress)

    return ThreadedLoop(run, threads)


def hf_trainer_loop(model, batches: list[Batch], shape: Shape, steps: int, tmp: Path, threads: int,
                    bf16: bool = False) -> ThreadedLoop:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    rows = torch.cat([b.input_ids for b in batches])

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return steps * shape.batch_seqs

        def __getitem__(self, i: int) -> dict:
            x = rows[i % len(rows)]
            return {"input_ids": x, "labels": x}  # HF shifts the labels itself

    def run(stepper: ThreadedLoop) -> None:
        class Pause(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                stepper.pause()

        args = TrainingArguments(
            output_dir=str(tempfile.mkdtemp(dir=tmp)), use_cpu=True, per_device_train_batch_size=shape.micro_seqs,
            gradient_accumulation_steps=shape.batch_seqs // shape.micro_seqs, max_steps=steps,
            learning_rate=LR, weight_decay=0.1, adam_beta2=0.95, max_grad_norm=1.0,
            lr_scheduler_type="constant", logging_strategy="no", save_strategy="no", report_to="none",
            dataloader_num_workers=0, disable_tqdm=True, seed=0, bf16=bf16,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Trainer(model=model, args=args, train_dataset=Rows(), callbacks=[Pause()]).train()

    return ThreadedLoop(run, threads)


def loss_full(model, x, y):
    # logits upcast before the loss, as torchtitan and HF do under bf16 (a no-op in fp32): a log-softmax over
    # bf16 logits is cheaper but loses the precision the loss needs
    logits = model(input_ids=x).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-100)


def loss_hf(model, x, y):
    # HF's own loss: labels are the inputs, the model shifts them (one target fewer per row)
    return model(input_ids=x, labels=x).loss


def loss_auroram(model, x, y):
    # the loop's own loss: per-row sums of per-token cross-entropies, normalised by the target count
    return loop.micro_loss_rows(model, x, y).sum() / max(int((y != -100).sum()), 1)


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


class BareLoop:
    """forward, loss, backward, AdamW step: the least a training loop can do on this model and batch."""

    def __init__(self, model, batches: list[Batch], shape: Shape, *, loss_fn=loss_full, micro_seqs: int = 0,
                 clip: bool = False, adam: str = "default", threads: int = 0, bf16: bool = False):
        kwargs = {"fused": True} if adam == "fused" else {"foreach": True} if adam == "foreach" else {}
        self.opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1, **kwargs)
        self.model, self.batches, self.loss_fn, self.clip = model, batches, loss_fn, clip
        self.micro = micro_seqs or shape.micro_seqs
        self.threads, self.k, self.bf16 = threads, 0, bf16
        model.train()

    def step(self) -> None:
        b = self.batches[self.k % len(self.batches)]
        self.k += 1
        with num_threads(self.threads) if self.threads else contextlib.nullcontext():
            rows = b.input_ids.shape[0]
            for i in range(0, rows, self.micro):
                with torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext():
                    loss = self.loss_fn(self.model, b.input_ids[i : i + self.micro], b.labels[i : i + self.micro])
                (loss * (self.micro / rows)).backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def num_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Patched:
    """A stepper with attributes of auroram.train.loop replaced while it steps (one loop computes at a time)."""

    def __init__(self, attrs: dict[str, Any], make: Callable[[], Any]):
        self.attrs = attrs
        with self._patch():
            self.inner = make()

    @contextlib.contextmanager
    def _patch(self):
        old = {k: getattr(loop, k) for k in self.attrs}
        for k, v in self.attrs.items():
            setattr(loop, k, v)
        try:
            yield
        finally:
            for k, v in old.items():
                setattr(loop, k, v)

    def step(self) -> None:
        with self._patch():
            self.inner.step()

    def close(self) -> None:
        with self._patch():
            self.inner.close()


def fused_adamw_build_optimizer(model, stage):
    # auroram's parameter groups, with fused=True on CPU too (it sets fused only on CUDA)
    groups = ORIGINAL_BUILD_OPTIMIZER(model, stage).param_groups
    o = stage.optim
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, eps=o.eps, fused=True)


ORIGINAL_BUILD_OPTIMIZER = loop.build_optimizer


def threaded_bare(bare: BareLoop, steps: int, threads: int) -> ThreadedLoop:
    """The bare loop run the way auroram's and HF's loops are here: a control for the harness itself."""

    def run(stepper: ThreadedLoop) -> None:
        for _ in range(steps):
            bare.step()
            stepper.pause()

    return ThreadedLoop(run, threads)


def eager_attention(model):
    model.set_attn_implementation("eager")
    return model


def variants(levers: bool, shape: Shape, threads: int, tmp: Path, mixture: Mixture, batches: list[Batch],
             total_steps: int, compile: bool, bf16: bool = False) -> dict[str, Callable[[torch.nn.Module], Any]]:
    """name -> make(model) -> stepper. Names ending in _bf16 run under bf16 autocast (fp32 master weights)."""
    auroram = lambda m: auroram_loop(m, mixture, shape, total_steps, tmp, threads)  # noqa: E731
    if not levers:
        v = {
            "auroram": auroram,
            "bare": lambda m: BareLoop(m, batches, shape),
            "hf_loop": lambda m: BareLoop(m, batches, shape, loss_fn=loss_hf),
            "hf_loop_eager_attn": lambda m: BareLoop(eager_attention(m), batches, shape, loss_fn=loss_hf),
            "hf_trainer": lambda m: hf_trainer_loop(m, batches, shape, total_steps, tmp, threads),
        }
        if bf16:
            v["auroram_bf16"] = lambda m: auroram_loop(m, mixture, shape, total_steps, tmp, threads, "bf16")
            v["bare_bf16"] = lambda m: BareLoop(m, batches, shape, bf16=True)
            v["hf_trainer_bf16"] = lambda m: hf_trainer_loop(m, batches, shape, total_steps, tmp, threads, bf16=True)
        return v
    half = max(shape.micro_seqs // 2, 1)
    other = 2 if threads == 1 else 1
    v = {
        "bare": lambda m: BareLoop(m, batches, shape),
        "bare+clip": lambda m: BareLoop(m, batches, shape, clip=True),
        "bare+fused_adamw": lambda m: BareLoop(m, batches, shape, adam="fused"),
        "bare+foreach_adamw": lambda m: BareLoop(m, batches, shape, adam="foreach"),
        "bare+eager_attn": lambda m: BareLoop(eager_attention(m), batches, shape),
        "bare+chunked_ce_1024": lambda m: BareLoop(m, batches, shape, loss_fn=make_loss_chunked(1024)),
        "bare+auroram_loss": lambda m: BareLoop(m, batches, shape, loss_fn=loss_auroram),
        f"bare+micro_{half}": lambda m: BareLoop(m, batches, shape, micro_seqs=half),
        f"bare+threads_{other}": lambda m: BareLoop(m, batches, shape, threads=other),
        "bare_in_thread": lambda m: threaded_bare(BareLoop(m, batches, shape), total_steps, threads),
        "auroram": auroram,
        "auroram+fused_adamw": lambda m: Patched({"build_optimizer": fused_adamw_build_optimizer},
                                                 lambda: auroram(m)),
    }
    if compile:
        v["bare+compile"] = lambda m: BareLoop(torch.compile(m), batches, shape)
    return v


# ----------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(SHAPES), default="demo")
    ap.add_argument("--levers", action="store_true", help="variants of the bare loop instead of the loops")
    ap.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warm-steps", type=int, default=2, help="untimed rounds first")
    ap.add_argument("--steps", type=int, default=12, help="timed rounds (one optimizer step of every loop each)")
    ap.add_argument("--batch-seqs", type=int, default=0, help="override the shape's sequences per step")
    ap.add_argument("--micro-seqs", type=int, default=0, help="override the shape's sequences per forward")
    ap.add_argument("--seq-len", type=int, default=0)
    ap.add_argument("--compile", action="store_true", help="add torch.compile(model) as a lever (slow to start)")
    ap.add_argument("--bf16", action="store_true",
                    help="add auroram's loop, the bare loop and HF Trainer under bf16 autocast (CPUs with AVX512-BF16"
                         " or AMX run bf16 matmuls about twice as fast as fp32)")
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
    rounds = args.warm_steps + args.steps

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        mixture = make_mixture(tmp, shape)
        batches = [mixture.batch(k) for k in range(rounds)]
        template = make_model(shape)
        fpt = flops_per_token(template, shape.seq_len)
        params = count_params(template)
        makers = variants(args.levers, shape, args.threads, tmp, mixture, batches, rounds, args.compile, args.bf16)
        if args.only:
            makers = {k: v for k, v in makers.items() if k in args.only.split(",")}
        print(f"model {args.model}: {shape}, params {params}, FLOPs/token {fpt / 1e6:.1f}M, "
              f"{tokens_per_step} tokens/step, threads {args.threads}, torch {torch.__version__}", flush=True)
        steppers = {name: make(copy.deepcopy(template)) for name, make in makers.items()}
        probes: dict[Any, MatmulProbe] = {args.threads: MatmulProbe()}
        if any("+threads_" in n for n in steppers):
            probes[2 if args.threads == 1 else 1] = MatmulProbe()
        if any(n.endswith("_bf16") for n in steppers):
            probes["bf16"] = MatmulProbe(dtype=torch.bfloat16)
        names = list(steppers)
        seconds: dict[str, list[float]] = {n: [] for n in names}
        gflops: dict[int, list[float]] = {k: [] for k in probes}
        t_start = time.perf_counter()
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]  # rotate: no loop always runs first
            for name in order:
                t0 = time.perf_counter()
                steppers[name].step()
                dt = time.perf_counter() - t0
                if r >= args.warm_steps:
                    seconds[name].append(dt)
            for k, probe in probes.items():
                with num_threads(k if isinstance(k, int) else args.threads):
                    rate = probe.step()
                if r >= args.warm_steps:
                    gflops[k].append(rate)
            if r >= args.warm_steps:
                print(f"  round {r + 1 - args.warm_steps}: matmul {gflops[args.threads][-1]:.0f} GFLOP/s; "
                      + ", ".join(f"{n} {tokens_per_step / seconds[n][-1]:,.0f}" for n in names) + " tokens/s",
                      flush=True)
        wall = time.perf_counter() - t_start
        for s in steppers.values():
            s.close()
    report(args, shape, params, fpt, tokens_per_step, seconds, gflops, wall)


def report(args, shape: Shape, params: dict, fpt: float, tokens_per_step: int, seconds: dict[str, list[float]],
           gflops: dict[int, list[float]], wall: float) -> None:
    med = statistics.median
    result: dict[str, Any] = {
        "model": args.model, "shape": shape.__dict__, "threads": args.threads, "params": params,
        "flops_per_token": fpt, "tokens_per_step": tokens_per_step, "rounds": args.steps,
        "warm_rounds": args.warm_steps, "torch": torch.__version__, "wall_seconds": wall,
        "matmul_gflops": {str(k): v for k, v in gflops.items()}, "variants": {},
    }
    mm = gflops[args.threads]
    print(f"\n{args.steps} timed rounds in {wall:.0f} s. fp32 matmul at {args.threads} thread(s): median {med(mm):.1f} "
          f"GFLOP/s, best {max(mm):.1f}, worst {min(mm):.1f} (the spread is the machine's noise)")
    for k, v in gflops.items():
        if k == "bf16":
            print(f"bf16 matmul at {args.threads} thread(s): median {med(v):.1f} GFLOP/s, best {max(v):.1f} "
                  f"({med(v) / med(mm):.2f}x fp32; the _bf16 loops' MFU is against this rate)")
        elif k != args.threads:
            print(f"fp32 matmul at {k} thread(s): median {med(v):.1f} GFLOP/s, best {max(v):.1f}")
    print(f"{'loop':24s} {'tokens/s median':>16s} {'(min-max)':>17s} {'MFU median':>11s} {'MFU best round':>15s}")
    for name, secs in seconds.items():
        threads = int(name.rsplit("_", 1)[1]) if "+threads_" in name else args.threads
        peak = gflops["bf16"] if name.endswith("_bf16") else gflops[threads]
        rates = [tokens_per_step / s for s in secs]
        # MFU of each round against that round's matmul rate: both suffer the same load
        mfu = [r * fpt / (g * 1e9) for r, g in zip(rates, peak)]
        result["variants"][name] = {"step_seconds": secs, "tokens_per_s_median": med(rates),
                                    "mfu_median": med(mfu), "mfu_per_round": mfu, "threads": threads}
        print(f"{name:24s} {med(rates):16,.0f} {min(rates):8,.0f}-{max(rates):<8,.0f} {med(mfu):11.1%} "
              f"{max(mfu):15.1%}")
    for ref, title in (("auroram", "auroram against each loop"), ("auroram_bf16", "auroram (bf16) against each loop"),
                       ("bare", "each variant against the bare loop")):
        if ref not in seconds or (ref == "bare" and not args.levers):
            continue
        print(f"\n{title}: speed ratio per round, median (min-max over rounds)")
        for name, secs in seconds.items():
            if name == ref:
                continue
            a, b = (name, ref) if ref == "bare" else (ref, name)
            per = [sb / sa for sa, sb in zip(seconds[a], seconds[b])]  # tokens/s of a over tokens/s of b
            result["variants"][name][f"{a}_over_{b}"] = per
            print(f"  {a + ' / ' + b:40s} {med(per):6.3f}  ({min(per):.3f}-{max(per):.3f})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
