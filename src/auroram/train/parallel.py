"""The one place that knows about distribution: process groups, DDP / FSDP2 wrapping, activation
checkpointing and torch.compile. Model code stays plain `transformers` modules.

Launch with `torchrun --nproc-per-node N -m auroram.cli run RECIPE` (or `auroram run` for one process);
every rank runs the same pipeline, rank 0 writes the shared artifacts.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from auroram.model.archs import ARCHS, arch_for_model_type


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or {"RANK", "MASTER_ADDR", "MASTER_PORT"} <= os.environ.keys()


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes in the environment. A plain single process has none; under
    torchrun a group of one is made too, so `train.parallel: fsdp2` can shard on a single device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not launched_by_torchrun():
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # long timeout: rank 0 alone builds tokenizers and shards while the others wait at a barrier
        dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def broadcast(info: DistInfo, obj: Any) -> Any:
    """Rank 0's value of `obj` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# where families with no registered architecture keep their blocks, so any local HF base can still be sharded
_OTHER_BLOCKS = ("gpt_neox.layers", "model.decoder.layers")


def transformer_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of an HF causal LM: at the path its architecture registers, else at the first
    known path it has."""
    arch = arch_for_model_type(getattr(getattr(model, "config", None), "model_type", None))
    paths = ([arch.blocks] if arch else []) + [a.blocks for a in ARCHS.values()] + list(_OTHER_BLOCKS)
    for path in dict.fromkeys(paths):
        node: Any = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, torch.nn.ModuleList):
            return list(node)
    raise ValueError(f"cannot find the transformer blocks of {type(model).__name__} to shard")


def resolve_mode(mode: str, info: DistInfo) -> str:
    if mode == "auto":
        return "fsdp2" if info.distributed else "none"
    if mode != "none" and not info.distributed and not dist.is_initialized():
        return "none"  # a plain single process has no process group to wrap with
    return mode


def is_wrapped(mode: str, info: DistInfo) -> bool:
    """Whether `parallelize` turns the model into a sharded or replicated one (its weights then come from the
    gathered export, not from the module itself)."""
    return info.distributed or resolve_mode(mode, info) != "none"


def parallelize(model: torch.nn.Module, *, mode: str, info: DistInfo, device: torch.device, bf16: bool,
                activation_checkpointing: bool, compile: bool) -> torch.nn.Module:
    """Apply activation checkpointing, compile and DDP / FSDP2 (in that order, as torchtitan does)."""
    if activation_checkpointing:
        # HF's own per-block checkpointing: recompute each block in backward instead of storing activations
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if compile:
        for block in transformer_blocks(model):
            block.compile()
    mode = resolve_mode(mode, info)
    if mode == "fsdp2":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
        kwargs = {"mp_policy": mp} if mp is not None else {}
        for block in transformer_blocks(model):
            fully_shard(block, **kwargs)
        fully_shard(model, **kwargs)
        return model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)
