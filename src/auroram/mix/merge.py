"""Weight interpolation between two stages: theta = (1 - alpha) * with + alpha * stage, the training-free lever
against forgetting (model soups / WiSE-FT applied to continual pretraining). Tensors are read one at a time
from the two exports' safetensors files and written into a loaded model in place, so no third copy of the
weights is ever held.

Same architecture and vocabulary, or the stage's vocabulary extended: then the rows past the other model's
come from the continued model (the other never had them). Any other difference is an error naming the tensor.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from auroram.errors import AuroramError
from auroram.io import read_json


class MergeError(AuroramError, ValueError):
    """Two models that cannot be interpolated, or an alpha out of range; names the tensor or value."""


@dataclass(frozen=True)
class Pair:
    stage: str  # the tensor's name in the stage's files
    other: str  # and in the other model's
    extra_rows: int  # rows past the other's that come from the stage alone (a vocabulary extension)


def parse_alphas(text: str) -> list[float]:
    """'0,0.25,0.5' or 'a:b:n' (n evenly spaced values from a to b)."""
    try:
        if text.count(":") == 2:
            a, b, n = text.split(":")
            k = int(n)
            if k < 2:
                raise ValueError
            vals = [float(a) + (float(b) - float(a)) * i / (k - 1) for i in range(k)]
        else:
            vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MergeError(f"--alphas {text!r}: expected comma-separated numbers (0,0.5,1) or START:END:COUNT") from None
    if not vals or any(not 0.0 <= v <= 1.0 for v in vals):
        raise MergeError(f"--alphas {text!r}: every alpha must lie in [0, 1]")
    return sorted(set(round(v, 6) for v in vals))


def _vocab_size(model_dir: Path) -> int | None:
    cfg = read_json(model_dir / "config.json")
    v = cfg.get("vocab_size") or (cfg.get("text_config") or {}).get("vocab_size")
    return int(v) if isinstance(v, int) else None


def plan_merge(stage_dir: Path, other_dir: Path) -> list[Pair]:
    """Which tensor of the other model pairs with each of the stage's, checked before any weight is read."""
    from auroram.model.load import disk_tensors

    a, b = disk_tensors(Path(stage_dir)), disk_tensors(Path(other_dir))
    va, vb = _vocab_size(Path(stage_dir)), _vocab_size(Path(other_dir))
    pairs = []
    for name, ta in a.items():
        tb = b.get(name)
        if tb is None:
            raise MergeError(f"tensor '{name}' of {stage_dir} is not in {other_dir}: not the same architecture")
        extra = 0
        if ta.shape != tb.shape:
            grown = (len(ta.shape) == len(tb.shape) and ta.shape[1:] == tb.shape[1:] and ta.shape[0] > tb.shape[0]
                     and ta.shape[0] == va and tb.shape[0] == vb)
            if not grown:
                raise MergeError(f"tensor '{name}': shape {list(ta.shape)} in {stage_dir} but {list(tb.shape)} in "
                                 f"{other_dir}: the models cannot be interpolated")
            extra = ta.shape[0] - tb.shape[0]
        pairs.append(Pair(name, name, extra))
    missing = sorted(set(b) - set(a))
    if missing:
        raise MergeError(f"tensor '{missing[0]}' of {other_dir} is not in {stage_dir}: not the same architecture")
    return pairs


@contextlib.contextmanager
def _readers(paths: set[Path]) -> Iterator[dict[Path, object]]:
    from safetensors import safe_open

    with contextlib.ExitStack() as stack:
        yield {p: stack.enter_context(safe_open(str(p), framework="pt")) for p in paths}


def mix(other: torch.Tensor, stage: torch.Tensor, alpha: float, extra_rows: int) -> torch.Tensor:
    """(1 - alpha) * other + alpha * stage in float32; exact at alpha 0 and 1. Rows past the other's are the
    stage's own."""
    s = stage.float()
    o = other.float()
    if extra_rows:
        head = (1.0 - alpha) * o + alpha * s[: o.shape[0]]
        return torch.cat([head, s[o.shape[0]:]], dim=0)
    return (1.0 - alpha) * o + alpha * s


def interpolate_into(model: nn.Module, stage_dir: Path, other_dir: Path, alpha: float,
                     pairs: list[Pair] | None = None) -> int:
    """Set `model` (built like the stage's model) to the interpolation, tensor by tensor; returns the tensors set.
    Tied weights are set once, under the name the files keep them."""
    from auroram.model.load import checkpoint_names, disk_tensors

    stage_dir, other_dir = Path(stage_dir), Path(other_dir)
    pairs = pairs if pairs is not None else plan_merge(stage_dir, other_dir)
    on_a, on_b = disk_tensors(stage_dir), disk_tensors(other_dir)
    by_disk = {p.stage: p for p in pairs}
    names = checkpoint_names(model, on_a)  # model name -> name in the files
    state = model.state_dict(keep_vars=True)
    seen: set[int] = set()
    done = 0
    with _readers({t.file for t in on_a.values()} | {t.file for t in on_b.values()}) as files, torch.no_grad():
        for mname, target in state.items():
            disk = names.get(mname)
            if disk is None or id(target) in seen or disk not in by_disk:
                continue
            seen.add(id(target))
            p = by_disk[disk]
            a = files[on_a[p.stage].file].get_tensor(p.stage)
            b = files[on_b[p.other].file].get_tensor(p.other)
            if tuple(target.shape) != tuple(a.shape):
                raise MergeError(f"tensor '{p.stage}': the model holds {list(target.shape)}, the files {list(a.shape)}")
            target.copy_(mix(b, a, alpha, p.extra_rows).to(target.dtype))
            done += 1
    return done
