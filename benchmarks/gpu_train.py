"""Load, train and export a ~1B base on GPUs with auroram's own code: load time, MFU and export time in one run.

    python benchmarks/gpu_train.py --json-out gpu_train.json                 # one GPU (sized for < 15 minutes)
    torchrun --nproc-per-node 8 benchmarks/gpu_train.py                      # one node
    python benchmarks/gpu_train.py --smoke                                   # tiny model on CPU, gloo: a check

The base (GPTBigCode, 22 layers, width 2048, 16 heads, multi-query, 49,152-token vocabulary: 1.04B
parameters) is made by rank 0 with random weights and saved in bf16 safetensors (files of 1 GB, as a
downloaded base is), unless --base-dir already holds it. Every rank then loads it through the sharded path
of a stage (auroram.model.build.base_on_meta, parallelize, auroram.model.load.materialize and
load_sharded_safetensors: each rank reads only its own rows), trains it through
`auroram.train.loop.train_stage` on a synthetic shard, wrapped by `auroram.train.parallel.parallelize`
(per-block compile, then FSDP2 `fully_shard` per block with bf16 parameters and fp32 gradient reduction),
and exports it with `auroram.model.export.export_hf` (bf16, files of --export-file-gb). Each phase reports
its seconds, the peak device memory (torch.cuda.max_memory_allocated, reset per phase) and the peak host
RSS of every rank (VmHWM, reset per phase), beside the planner's estimates (auroram.plan.host_memory,
device_memory).
Started without torchrun, the script makes a one-rank process group so parallelize shards with FSDP2 on the
single device too (`--no-fsdp` skips that). MFU = tokens/s per GPU x FLOPs per token / peak (989 TFLOP/s: H100 SXM dense bf16), with
FLOPs per token = 6 x non-embedding params + 6 x LM-head params + 12 x layers x width x seq_len.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from auroram.config import ModelConfig, OptimConfig, ScheduleConfig, StageConfig, TrainConfig
from auroram.mix.mixture import Mixture
from auroram.model.build import base_on_meta, build_model, count_params, flops_per_token
from auroram.model.export import export_hf
from auroram.model.load import load_sharded_safetensors, materialize
from auroram.tokenize.shards import Shard, write_shard
from auroram.train.loop import train_stage
from auroram.train.parallel import DistInfo, init_distributed, parallelize

H100_BF16_DENSE_TFLOPS = 989.0


class StepClock:
    """Stands in for a rich Progress: train_stage calls update() once per step, after the optimizer step
    (which has already synchronised with the GPU: the loss and gradient norm are read back)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        self.times.append(time.perf_counter())


def one_rank_group(backend: str) -> DistInfo:
    """A process group of one, so FSDP2 can be measured on a single device without torchrun."""
    if not dist.is_initialized():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        dist.init_process_group(backend, rank=0, world_size=1)
    return DistInfo(0, 1, 0)


def host_peak_bytes(reset: bool = False) -> int:
    """This process's peak RSS (VmHWM); `reset` starts a new high-water mark (Linux >= 4.0)."""
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    return peak


def make_base(out: Path, cfg: ModelConfig, vocab: int) -> None:
    """A random base saved as a downloaded one is: bf16 safetensors in files of 1 GB, config and tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["def f(x):\n    return x + 1\n", "Hyvää huomenta, maailma."] * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    model = build_model(cfg, vocab_size=vocab, eos_id=tokenizer.eos_token_id, seed=0).to(torch.bfloat16)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, max_shard_size="1GB")
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, out)


def planner_estimates(base: Path, ranks: int, export_file_bytes: int, on_gpu: bool) -> dict:
    from auroram.plan import count_params as plan_params, device_memory, host_memory, largest_tensor_params
    from auroram.plan import shape_from_hf_config

    shape = shape_from_hf_config(json.loads((base / "config.json").read_text()), str(base / "config.json"))
    n, largest = plan_params(shape)["total"], largest_tensor_params(shape)
    return {"host": host_memory(n, largest, ranks, export_file_bytes=export_file_bytes, on_gpu=on_gpu),
            "device": device_memory(n, largest, ranks) if on_gpu else None}


def synthetic_mixture(tmp: Path, vocab: int, seq_len: int, global_seqs: int, tokens: int) -> Mixture:
    tmp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    docs, n = [], 0
    while n < tokens:
        k = int(rng.integers(seq_len // 2, 4 * seq_len))
        docs.append((np.append(rng.integers(1, vocab, k), 0), None))
        n += k + 1
    write_shard(tmp / "bench.bin", docs, vocab_size=vocab)
    return Mixture({"bench": Shard(tmp / "bench.bin")}, {"bench": 1.0}, seq_len=seq_len,
                   global_batch_seqs=global_seqs, seed=0)


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, reps: int) -> float:
    """Best rate of back-to-back n x n products: what this device reaches on the easiest possible matmul."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for _ in range(3):
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", "--tiny", action="store_true",
                    help="tiny model on CPU (fp32, gloo, no compile): checks the script")
    ap.add_argument("--n-layer", type=int, default=22)
    ap.add_argument("--n-embd", type=int, default=2048)
    ap.add_argument("--n-head", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=49152)  # StarCoder's
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch-seqs", type=int, default=16, help="global sequences per optimizer step")
    ap.add_argument("--micro-seqs", type=int, default=4, help="sequences per forward pass per rank")
    ap.add_argument("--warm-steps", type=int, default=6, help="untimed steps (compilation happens here)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile", action="store_true", help="compile even with --smoke (slow on CPU)")
    ap.add_argument("--no-fsdp", action="store_true", help="one process only: skip FSDP2 (bf16 via autocast alone)")
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    ap.add_argument("--json-out", default="")
    ap.add_argument("--work-dir", default="", help="scratch directory shared by the ranks (default: ./gpu-bench-PORT)")
    ap.add_argument("--base-dir", default="", help="the saved base: made there if missing, kept (default: made in the "
                                                   "work directory, deleted at the end)")
    ap.add_argument("--export-file-gb", type=float, default=1.0, help="bound on each exported weight file, GB")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.n_layer, args.n_embd, args.n_head, args.vocab, args.seq_len = 2, 64, 4, 512, 64
        args.batch_seqs, args.micro_seqs, args.warm_steps, args.steps = 4, 2, 2, 3
        args.no_compile = not args.compile

    device_type = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    info = init_distributed(device_type)
    fsdp = info.distributed or not args.no_fsdp
    if fsdp and not info.distributed:
        info = one_rank_group("nccl" if device_type == "cuda" else "gloo")
    device = torch.device("cuda", info.local_rank) if device_type == "cuda" else torch.device("cpu")
    if device_type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 pieces left outside autocast (optimizer math)
    bf16 = device_type == "cuda"

    # one work directory for all ranks (DCP writes the final weights into it from every rank), removed at the end
    work = Path(args.work_dir or f"gpu-bench-{os.environ.get('MASTER_PORT', 'local')}").resolve()
    base = Path(args.base_dir).resolve() if args.base_dir else work / "base"
    cfg = ModelConfig(n_embd=args.n_embd, n_layer=args.n_layer, n_head=args.n_head, multi_query=True,
                      n_positions=args.seq_len)
    t_make = time.perf_counter()
    if info.is_main and not (base / "config.json").is_file():
        make_base(base, cfg, args.vocab)
    if dist.is_initialized():
        dist.barrier()
    make_seconds = time.perf_counter() - t_make
    phases: dict[str, dict] = {}

    def phase_start() -> float:
        if dist.is_initialized():
            dist.barrier()
        host_peak_bytes(reset=True)
        if device_type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        return time.perf_counter()

    def phase_end(name: str, t0: float) -> None:
        if device_type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        hosts = [host_peak_bytes()]
        if dist.is_initialized():
            box = [None] * info.world_size
            dist.all_gather_object(box, hosts[0])
            hosts = box
        phases[name] = {"seconds": round(seconds, 2), "host_peak_bytes_per_rank": hosts,
                        "device_peak_bytes": torch.cuda.max_memory_allocated(device) if device_type == "cuda" else None}

    # the sharded load of a stage: meta build, FSDP2, memory on the device, each rank reads its own rows
    t0 = phase_start()
    model, tokenizer = base_on_meta(base)
    fpt = flops_per_token(model, args.seq_len)
    params = count_params(model)
    model = parallelize(model, mode="fsdp2" if fsdp else "none", info=info, device=device, bf16=bf16,
                        activation_checkpointing=args.activation_checkpointing, compile=not args.no_compile)
    materialize(model, device)
    stats = load_sharded_safetensors(base, model)
    phase_end("load", t0)
    sharded = any(type(p).__name__ == "DTensor" for p in model.parameters())
    planner = planner_estimates(base, info.world_size if fsdp else 1, round(args.export_file_gb * 1e9),
                                device_type == "cuda")

    total_steps = args.warm_steps + args.steps
    tokens_per_step = args.batch_seqs * args.seq_len
    stage = StageConfig(name="bench", tokens=total_steps * tokens_per_step, optim=OptimConfig(lr=1e-4),
                        schedule=ScheduleConfig(kind="constant"))
    train = TrainConfig(seq_len=args.seq_len, global_batch_tokens=tokens_per_step, micro_batch_seqs=args.micro_seqs,
                        precision="bf16" if bf16 else "fp32", device=device_type, log_every_steps=10**9)
    clock = StepClock()
    # every rank writes its own copy of the synthetic shard (same seed, same bytes): no shared-file race
    mixture = synthetic_mixture(work / f"data-{info.rank}", args.vocab, args.seq_len, args.batch_seqs,
                                (total_steps + 2) * tokens_per_step * 2)
    t0 = phase_start()
    run = train_stage(model=model, mixture=mixture, stage=stage, stage_index=0, train=train,
                      total_steps=total_steps, out_dir=work / "out", progress=clock, info=info)
    wall = time.perf_counter() - t0
    phase_end("train", t0)
    if not args.no_export:  # streamed tensor by tensor: every rank gathers, rank 0 writes
        t0 = phase_start()
        export_hf(model, tokenizer, work / "hf", card={"name": "gpu-bench"}, dtype="bfloat16",
                  max_file_bytes=round(args.export_file_gb * 1e9), is_main=info.is_main)
        phase_end("export", t0)
        if info.is_main:
            phases["export"]["files"] = len(list((work / "hf").glob("*.safetensors")))
    shutil.rmtree(work / f"data-{info.rank}", ignore_errors=True)
    if dist.is_initialized():
        dist.barrier()
    if info.is_main:  # everything in the work directory but a --base-dir kept there
        for p in list(work.iterdir()) if work.is_dir() else []:
            if not (args.base_dir and p == base):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()

    step_s = list(np.diff(clock.times[args.warm_steps - 1 : total_steps]))
    tokens_per_s = args.steps * tokens_per_step / sum(step_s)
    per_device = tokens_per_s / info.world_size
    if device_type == "cuda":
        peak_mem = round(phases["train"]["device_peak_bytes"] / 2**30, 2)
        measured_peak = matmul_tflops(device, torch.bfloat16, 8192, 20)
        peak = args.peak_tflops
        device_name = torch.cuda.get_device_name(device)
    else:
        peak_mem = None
        measured_peak = matmul_tflops(device, torch.float32, 512, 5)
        peak = measured_peak  # on CPU the only meaningful peak is the measured fp32 one
        device_name = "cpu"
    result = {
        "device": device_name, "world_size": info.world_size, "params": params, "flops_per_token": fpt,
        "seq_len": args.seq_len, "global_batch_seqs": args.batch_seqs, "micro_seqs": args.micro_seqs,
        "compile": not args.no_compile, "fsdp2": fsdp, "activation_checkpointing": args.activation_checkpointing,
        "precision": "bf16" if bf16 else "fp32", "timed_steps": args.steps, "warm_steps": args.warm_steps,
        "make_base_seconds": round(make_seconds, 1), "load_seconds": phases["load"]["seconds"],
        "load_bytes_read_rank0": stats.bytes_read, "train_stage_seconds": round(wall, 1),
        "export_seconds": phases["export"]["seconds"] if "export" in phases else None, "phases": phases,
        "planner": planner,
        "warm_seconds": round(clock.times[args.warm_steps - 1] - t0, 1),
        "step_seconds_median": statistics.median(step_s), "step_seconds_min": min(step_s),
        "tokens_per_s": tokens_per_s, "tokens_per_s_per_device": per_device,
        "mfu": per_device * fpt / (peak * 1e12), "peak_tflops": peak,
        "measured_matmul_tflops": measured_peak, "mfu_vs_measured_matmul": per_device * fpt / (measured_peak * 1e12),
        "peak_memory_gib": peak_mem, "params_sharded": sharded, "final_loss": run.loss[-1]["loss"], "torch": torch.__version__,
    }
    if info.is_main:
        print(json.dumps(result, indent=1))
        print(f"{device_name} x{info.world_size}: {params['total'] / 1e9:.2f}B params, {tokens_per_s:,.0f} tokens/s "
              f"({per_device:,.0f} per device), MFU {result['mfu']:.1%} of {peak:.4g} TFLOP/s "
              f"(measured matmul {measured_peak:.4g}), peak memory {peak_mem} GiB, sharded {sharded}", flush=True)
        for name, ph in phases.items():
            dev = f", device peak {ph['device_peak_bytes'] / 1e9:.2f} GB" if ph["device_peak_bytes"] is not None else ""
            print(f"{name}: {ph['seconds']:.1f} s, host peak per rank "
                  f"{', '.join(f'{b / 1e9:.2f}' for b in ph['host_peak_bytes_per_rank'])} GB{dev}", flush=True)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=1))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
