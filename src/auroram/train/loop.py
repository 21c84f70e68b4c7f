"""The training loop of one stage, on plain PyTorch.

Read top to bottom: resume if a checkpoint exists, then for each global step: LR from the stage's
(re-warmed) schedule, gradient accumulation over micro-batches with the loss normalised by the global
number of target tokens, clipping, AdamW step, logging, periodic eval and checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from auroram.config import StageConfig, TrainConfig
from auroram.errors import AuroramError
from auroram.faults import fault_point, poisoned
from auroram.io import write_text
from auroram.model.embeddings import Trainable, set_trainable
from auroram.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from auroram.train.loss import token_cross_entropy
from auroram.train.parallel import DistInfo
from auroram.train.schedule import lr_at


class TrainingError(AuroramError, RuntimeError):
    pass


@dataclass
class StageRun:
    """What one stage did, for the report."""

    steps: int
    tokens: int
    seconds: float  # wall time of the stage, evaluation included
    eval_seconds: float
    loss: list[dict[str, Any]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    final_eval: dict[str, Any] | None = None  # the evaluator's full result on the final weights
    resumed_from: int | None = None
    nonfinite: dict[str, Any] | None = None  # batches skipped and rollbacks for a NaN/inf loss


def resolve_device(train: TrainConfig, local_rank: int = 0) -> torch.device:
    kind = train.device
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(kind)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX): there oneDNN's bf16 matmul
    runs at about twice the fp32 rate; elsewhere bf16 is converted in software and gains little or loses."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except (RuntimeError, AttributeError):
            continue
    return False


def autocast_dtype(train: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast over fp32 master weights, or None for plain fp32. `auto` is bf16 on GPU and fp32 on CPU;
    `bf16` on a CPU pays off where it multiplies bf16 natively (see cpu_has_fast_bf16)."""
    if train.precision == "bf16" or (train.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def build_optimizer(model: torch.nn.Module, stage: StageConfig, trainable: Trainable | None = None
                    ) -> torch.optim.Optimizer:
    # decay matrices only: decaying norms, biases and embeddings hurts and buys nothing
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    frozen = trainable.frozen_ids() if trainable is not None else set()
    if trainable is not None:
        embeddings |= trainable.no_decay_ids()  # decay would move rows that must stay as they were
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad or id(p) in frozen:
            continue
        (decay if p.dim() >= 2 and id(p) not in embeddings else no_decay).append(p)
    o = stage.optim
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs: dict[str, Any] = {"lr": o.lr, "betas": o.betas, "eps": o.eps}
    if next(model.parameters()).device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, **kwargs)


def micro_loss_rows(model: torch.nn.Module, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sequence sums of token cross-entropies over target tokens (labels -100 are skipped)."""
    logits = model(input_ids=input_ids).logits
    return token_cross_entropy(logits, labels).sum(1)


@contextlib.contextmanager
def _grad_sync(model: torch.nn.Module, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of a step (DDP no_sync / FSDP2)."""
    if enabled:
        yield
    elif hasattr(model, "no_sync"):  # DDP
        with model.no_sync():
            yield
    elif hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    else:
        yield


def train_stage(
    *,
    model: torch.nn.Module,
    mixture: Any,
    stage: StageConfig,
    stage_index: int,
    train: TrainConfig,
    total_steps: int,
    out_dir: Path,
    evaluate: Callable[[torch.nn.Module], dict[str, dict[str, Any]]] | None = None,
    progress: Any = None,
    loggers: Any = None,
    token_offset: int = 0,
    info: DistInfo = DistInfo(),
) -> StageRun:
    rank, world_size = info.rank, info.world_size
    device = next(model.parameters()).device
    amp = autocast_dtype(train, device)
    seq_len = train.seq_len
    global_seqs = train.global_batch_tokens // seq_len
    if global_seqs % world_size:
        raise TrainingError(f"global batch of {global_seqs} sequences does not split over {world_size} ranks")
    local_seqs = global_seqs // world_size
    micro = min(train.micro_batch_seqs, local_seqs)
    tokens_per_step = global_seqs * seq_len

    # stage.trainable: a wrapped model (DDP, FSDP2) keeps requires_grad and drops frozen gradients instead
    wrapped = hasattr(model, "module") or hasattr(model, "set_requires_gradient_sync")
    trainable = set_trainable(model, stage.trainable, wrapped=wrapped)
    optimizer = build_optimizer(model, stage, trainable)
    source_names = list(getattr(mixture, "sources", []))
    source_index = {n: j for j, n in enumerate(source_names)}
    ckpt_root = out_dir / "ckpt"
    history: dict[str, list] = {"loss": [], "curve": []}
    start_step = 0
    resumed_from = None
    seconds_before = 0.0  # time spent before a resume, so the report's seconds cover the whole stage
    for stale in ckpt_root.glob(".step-*.tmp"):  # a checkpoint write killed midway: never complete, drop it
        shutil.rmtree(stale, ignore_errors=True)
    if (last := latest_checkpoint(ckpt_root)) is not None:
        state = load_checkpoint(last, model=model, optimizer=optimizer, info=info)
        start_step = state["step"]
        history = state.get("history", history)
        seconds_before = float(state.get("seconds", 0.0))
        resumed_from = start_step
    # what the non-finite policy did in this stage; kept in checkpoints so a resumed stage still counts it
    nonfinite = history.setdefault("nonfinite", {"skipped": 0, "rollbacks": 0, "lr_scale": 1.0, "events": []})
    policy = train.on_nonfinite

    eval_seconds = [float(state.get("eval_seconds", 0.0)) if resumed_from is not None else 0.0]

    def run_eval(step: int) -> dict[str, Any] | None:
        if evaluate is None:
            return None
        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        result = evaluate(model)
        model.train(was_training)
        bpb = {d: round(r["bpb"], 6) for d, r in result.items()}
        history["curve"].append({"step": step, "tokens": token_offset + step * tokens_per_step, "bpb": bpb})
        eval_seconds[0] += time.perf_counter() - t0
        if loggers is not None:
            loggers.log({f"bpb/{d}": v for d, v in bpb.items()}, token_offset + step * tokens_per_step)
        fault_point(f"train:{stage.name}:eval:{step}")
        return result

    if start_step == 0 and not history["curve"]:
        run_eval(0)  # the curve starts where the previous stage ended
    start_copy = None
    if policy == "rollback" and latest_checkpoint(ckpt_root) is None:
        # somewhere to roll back to before the first checkpoint, kept in memory: saving a checkpoint
        # here would initialise the optimizer's state and change the run
        start_copy = ({k: v.detach().clone() for k, v in model.state_dict().items()}, rng_state(),
                      copy.deepcopy(history), start_step)

    model.train()
    task = progress.add_task(f"train {stage.name}", total=total_steps, completed=start_step,
                             info="", unit="step") if progress is not None else None
    t_start = time.perf_counter()
    t_log, tokens_since_log, eval_at_log = t_start, 0, eval_seconds[0]
    step = start_step
    while step < total_steps:
        lr = lr_at(step, total_steps, stage.optim.lr, stage.schedule) * nonfinite["lr_scale"]
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch = mixture.rank_batch(step, rank, world_size)
        # normalise by the global count of target tokens so every token weighs the same whatever the
        # split into micro-batches and ranks (the mean-of-means bias of per-micro-batch averaging)
        n_targets = torch.tensor(float((batch.labels != -100).sum()))
        if world_size > 1:
            n_targets = n_targets.to(device)
            torch.distributed.all_reduce(n_targets)
        n_targets_f = max(float(n_targets), 1.0)
        loss_sum = 0.0
        # per-source loss and target counts: the report's loss of instruction data, replay, each language
        src_loss = torch.zeros(len(source_names), dtype=torch.float64)
        src_targets = torch.zeros(len(source_names), dtype=torch.float64)
        starts = list(range(0, local_seqs, micro))
        for i in starts:
            x = batch.input_ids[i : i + micro].to(device, non_blocking=True)
            y = batch.labels[i : i + micro].to(device, non_blocking=True)
            ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
            with ctx, _grad_sync(model, enabled=i == starts[-1]):
                rows = micro_loss_rows(model, x, y)
                loss = rows.sum() / n_targets_f
                idx = torch.tensor([source_index[n] for n in batch.sources[i : i + micro]])
                src_loss.index_add_(0, idx, rows.detach().double().cpu())
                src_targets.index_add_(0, idx, (y != -100).sum(1).double().cpu())
                # DDP and FSDP average gradients over ranks; the loss is already a share of the global
                # token count, so undo the average to get the exact global-batch gradient
                (loss * world_size).backward()
            loss_sum += float(loss.detach())
        if world_size > 1:
            t = torch.cat([torch.tensor([loss_sum], dtype=torch.float64), src_loss, src_targets]).to(device)
            torch.distributed.all_reduce(t)
            t = t.cpu()
            loss_sum = float(t[0])
            src_loss, src_targets = t[1 : 1 + len(source_names)], t[1 + len(source_names) :]
        if poisoned(f"train:{stage.name}:loss:{step + 1}"):  # test-only: a NaN loss on demand
            loss_sum = float("nan")
        if not math.isfinite(loss_sum):
            optimizer.zero_grad(set_to_none=True)
            event = {"step": step + 1, "loss": str(loss_sum), "action": policy}
            if policy == "stop" or (policy == "rollback" and nonfinite["rollbacks"] >= train.max_rollbacks):
                why = "" if policy == "stop" else f" after {nonfinite['rollbacks']} rollbacks (train.max_rollbacks)"
                raise TrainingError(f"stage {stage.name}: loss is {loss_sum} at step {step + 1}{why}; set "
                                    f"train.on_nonfinite to 'skip' or 'rollback' to go on, or lower the LR")
            nonfinite["events"].append(event)
            if policy == "skip":  # the batch is dropped: no optimizer step, the data position moves on
                nonfinite["skipped"] += 1
                step += 1
                if task is not None:
                    progress.update(task, completed=step)
                continue
            last = latest_checkpoint(ckpt_root)
            counts = dict(nonfinite)
            if last is not None:
                state = load_checkpoint(last, model=model, optimizer=optimizer, info=info)
            elif start_copy is not None:
                model.load_state_dict(start_copy[0])
                set_rng_state(start_copy[1])
                optimizer = build_optimizer(model, stage, trainable)
                state = {"history": copy.deepcopy(start_copy[2]), "step": start_copy[3]}
            else:
                raise TrainingError(f"stage {stage.name}: loss is {loss_sum} at step {step + 1} and there is no "
                                    f"checkpoint to roll back to")
            history = state.get("history", history)
            nonfinite = history["nonfinite"] = {**counts, "rollbacks": counts["rollbacks"] + 1,
                                                "lr_scale": counts["lr_scale"] * train.rollback_lr_factor}
            event.update(to_step=state["step"], lr_scale=nonfinite["lr_scale"])
            step = state["step"]
            continue
        trainable.mask_grads()  # no-op for trainable 'all'
        grad_norm = None
        if stage.optim.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), stage.optim.grad_clip)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        fault_point(f"train:{stage.name}:step:{step + 1}")

        done = step + 1
        step = done
        tokens_since_log += tokens_per_step
        rec = {"step": done, "tokens": token_offset + done * tokens_per_step, "loss": round(loss_sum, 6),
               "lr": lr}
        if grad_norm is not None:
            rec["grad_norm"] = round(grad_norm, 6)
        rec["loss_by_source"] = {n: round(float(src_loss[j] / src_targets[j]), 6)
                                 for j, n in enumerate(source_names) if src_targets[j] > 0}
        rec["targets_by_source"] = {n: int(src_targets[j]) for j, n in enumerate(source_names) if src_targets[j] > 0}
        history["loss"].append(rec)
        scalars = {f"loss/{stage.name}": loss_sum, f"lr/{stage.name}": lr}
        if done % train.log_every_steps == 0 or done == total_steps:
            now = time.perf_counter()
            # training rate: evaluation time inside the interval is not training time
            tok_s = tokens_since_log / max(now - t_log - (eval_seconds[0] - eval_at_log), 1e-9)
            t_log, tokens_since_log, eval_at_log = now, 0, eval_seconds[0]
            scalars["throughput/tokens_per_s"] = tok_s
            if task is not None:
                progress.update(task, completed=done, info=f"loss {loss_sum:.3f}  lr {lr:.2e}  {tok_s:,.0f} tok/s",
                                loss=loss_sum, lr=lr, tokens_per_s=tok_s)
        elif task is not None:
            progress.update(task, completed=done)
        if loggers is not None:
            loggers.log(scalars, rec["tokens"])

        if stage.eval_every_steps and done % stage.eval_every_steps == 0 and done != total_steps:
            run_eval(done)
        if stage.checkpoint_every_steps and done % stage.checkpoint_every_steps == 0 and done != total_steps:
            save_checkpoint(ckpt_root, done, model=model, optimizer=optimizer, info=info,
                            state={"history": history, "stage": stage.name,
                                   "seconds": seconds_before + time.perf_counter() - t_start,
                                   "eval_seconds": eval_seconds[0]},
                            keep=stage.keep_checkpoints)
            fault_point(f"train:{stage.name}:after-checkpoint:{done}")

    final_eval = run_eval(total_steps)
    seconds = seconds_before + time.perf_counter() - t_start
    save_weights(out_dir / "final", model, info)
    if info.is_main:
        write_text(out_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history["loss"]))
    return StageRun(steps=total_steps, tokens=total_steps * tokens_per_step, seconds=seconds,
                    eval_seconds=eval_seconds[0],
                    loss=history["loss"], curve=history["curve"], final_eval=final_eval,
                    resumed_from=resumed_from,
                    nonfinite={k: v for k, v in nonfinite.items()})


def text_bytes(tokens: int, shard: dict | None) -> dict:
    """{"bytes": UTF-8 bytes of text in `tokens` of a source}, at the bytes per token its shard recorded."""
    if not shard or not shard.get("tokens") or shard.get("bytes") is None:
        return {}
    return {"bytes": round(tokens * shard["bytes"] / shard["tokens"])}


def work_done(model: Any, seq_len: int, tokens: int, usage: dict, train_seconds: float) -> dict:
    """A stage's training FLOPs (from the model as trained: an extended head counts) and the bytes of text seen."""
    from auroram.model.build import flops_per_token

    fpt = flops_per_token(model, seq_len)
    out: dict[str, Any] = {"flops_per_token": fpt, "flops": fpt * tokens}
    if usage and all("bytes" in u for u in usage.values()):
        out["bytes"] = sum(u["bytes"] for u in usage.values())
        out["bytes_per_s"] = round(out["bytes"] / train_seconds, 1)
    return out
