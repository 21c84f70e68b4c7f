"""Training checkpoints: model, optimizer, data position (the step) and RNG states, written whole or not at all.

Because batches are a function of (seed, stage, step), the step is the whole data position: a resumed
run sees the batches an unbroken run would.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auroram.faults import fault_point
from auroram.io import atomic_dir, read_json, write_json

_STEP_DIR = re.compile(r"^step-(\d{8})$")


class CheckpointError(RuntimeError):
    pass


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(ckpt_root: Path, step: int, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], keep: int = 2) -> Path:
    """Write ckpt_root/step-XXXXXXXX atomically, then prune all but the newest `keep`."""
    final = ckpt_root / f"step-{step:08d}"
    with atomic_dir(final) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        fault_point("checkpoint:after-model")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        fault_point("checkpoint:after-optimizer")
        write_json(tmp / "state.json", {**state, "step": step})
    fault_point("checkpoint:after-rename")
    if keep > 0:
        for old in list_checkpoints(ckpt_root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    found = list_checkpoints(ckpt_root)
    return found[-1] if found else None


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    try:
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
        if optimizer is not None:
            optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        set_rng_state(torch.load(path / "rng.pt", weights_only=False))
        return read_json(path / "state.json")
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: checkpoint unreadable ({str(e).splitlines()[0]})") from e


def save_weights(path: Path, model: torch.nn.Module) -> None:
    """A stage's final fp32 weights: what the next stage starts from (not the export)."""
    with atomic_dir(path) as tmp:
        sd = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
        torch.save(sd, tmp / "model.pt")


def load_weights(path: Path, model: torch.nn.Module) -> None:
    f = path / "model.pt"
    if not f.is_file():
        raise CheckpointError(f"{path}: no final weights (model.pt) of the previous stage")
    model.load_state_dict(torch.load(f, map_location="cpu", weights_only=True))
