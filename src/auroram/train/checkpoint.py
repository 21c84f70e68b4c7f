"""Training checkpoints: model, optimizer, data position (the step) and RNG states, written whole or not
at all.

Model and optimizer go through torch.distributed.checkpoint (DCP): one shard file per rank, resharded
on load, so a run saved on N processes resumes on M. DCP writes its metadata last, and a killed save
leaves shards without it, so every save goes to a temporary directory that rank 0 renames when all
ranks are done. Because batches are a function of (seed, stage, step), the step is the whole data
position: a resumed run sees the batches an unbroken run would.
"""

from __future__ import annotations

import contextlib
import errno
import random
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from auroram.errors import AuroramError
from auroram.faults import fault_point
from auroram.io import DiskFullError, publish_dir, read_json, write_json
from auroram.train.parallel import DistInfo, barrier, broadcast

_STEP_DIR = re.compile(r"^step-(\d{8})$")
SINGLE = DistInfo()


class CheckpointError(AuroramError, RuntimeError):
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


@contextlib.contextmanager
def _quiet_dcp() -> Iterator[None]:
    # DCP warns that it runs without a process group; for one process that is exactly the intent
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.distributed is disabled.*")
        yield


def _tmp_dir(final: Path, info: DistInfo) -> Path:
    name = broadcast(info, f".{final.name}.{uuid.uuid4().hex[:8]}.tmp" if info.is_main else None)
    tmp = final.parent / name
    if info.is_main:
        tmp.mkdir(parents=True)
    barrier(info)
    return tmp


def save_checkpoint(ckpt_root: Path, step: int, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], keep: int = 2, info: DistInfo = SINGLE) -> Path:
    """Write ckpt_root/step-XXXXXXXX whole (every rank takes part), then prune all but the newest `keep`."""
    final = ckpt_root / f"step-{step:08d}"
    tmp = _tmp_dir(final, info)
    try:
        with _quiet_dcp():
            msd, osd = get_state_dict(model, optimizer)
            dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(tmp / "dcp"))
        fault_point("checkpoint:after-model")
        torch.save(rng_state(), tmp / f"rng-{info.rank}.pt")
        fault_point("checkpoint:after-optimizer")
        barrier(info)
        if info.is_main:
            write_json(tmp / "state.json", {**state, "step": step, "world_size": info.world_size})
    except Exception as e:
        # a failed save must not leave a half checkpoint; the previous ones stay as they were
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_disk_full(e):
            raise DiskFullError(f"no space left on device while writing checkpoint {final} (the last good "
                                f"checkpoint is kept; free space and rerun to resume)") from e
        raise
    if info.is_main:
        publish_dir(tmp, final)
        fault_point("checkpoint:after-rename")
        if keep > 0:
            for old in list_checkpoints(ckpt_root)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    barrier(info)
    return final


def _is_disk_full(e: BaseException) -> bool:
    seen = set()
    todo = [e]
    while todo:  # DCP wraps a writer's OSError in its own exception, with the failures per rank inside
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, DiskFullError) or (isinstance(x, OSError) and x.errno == errno.ENOSPC):
            return True
        todo += [x.__cause__, x.__context__]
        failures = getattr(x, "failures", None)
        if isinstance(failures, dict):
            todo += [v[0] if isinstance(v, tuple) else v for v in failures.values() if isinstance(v, (BaseException, tuple))]
    return "No space left on device" in str(e)


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    if not ckpt_root.is_dir():
        return []
    found = [p for p in ckpt_root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    found = list_checkpoints(ckpt_root)
    return found[-1] if found else None


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    info: DistInfo = SINGLE) -> dict[str, Any]:
    try:
        with _quiet_dcp():
            _load_into(path, model, optimizer)
        rng = path / f"rng-{info.rank}.pt"
        if rng.is_file():  # resumed on more ranks than were saved: the new ranks keep their own RNG
            set_rng_state(torch.load(rng, weights_only=False))
        return read_json(path / "state.json")
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: checkpoint unreadable ({str(e).strip().splitlines()[0]})") from e


def _load_into(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    if optimizer is not None:
        msd, osd = get_state_dict(model, optimizer)
        dcp.load({"model": msd, "optim": osd}, checkpoint_id=str(path / "dcp"))
        set_state_dict(model, optimizer, model_state_dict=msd, optim_state_dict=osd)
    else:
        msd = get_model_state_dict(model)
        dcp.load({"model": msd}, checkpoint_id=str(path / "dcp"))
        set_model_state_dict(model, msd)


def save_weights(path: Path, model: torch.nn.Module, info: DistInfo = SINGLE) -> None:
    """A stage's final weights (fp32, sharded like the run): what the next stage starts from."""
    tmp = _tmp_dir(path, info)
    try:
        with _quiet_dcp():
            dcp.save({"model": get_model_state_dict(model)}, checkpoint_id=str(tmp / "dcp"))
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_disk_full(e):
            raise DiskFullError(f"no space left on device while writing {path}") from e
        raise
    barrier(info)
    if info.is_main:
        fault_point(f"weights:{path}")
        publish_dir(tmp, path)
    barrier(info)


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """A stage's final weights into `model`, plain or sharded (DCP reads each rank's part, whatever the number
    of processes that saved them), after checking they are weights of this very model."""
    if not (path / "dcp" / ".metadata").is_file():
        raise CheckpointError(f"{path}: no final weights of the previous stage")
    with _quiet_dcp():
        msd = get_model_state_dict(model)
        check_weights_match(path, msd)
        dcp.load({"model": msd}, checkpoint_id=str(path / "dcp"))
        set_model_state_dict(model, msd)


def check_weights_match(path: Path, msd: dict[str, Any]) -> None:
    """Raise CheckpointError, naming the file and the tensor, when the saved weights are not of this model
    (another architecture, another vocabulary size): before anything is read into it."""
    meta_file = path / "dcp" / ".metadata"
    try:
        saved = FileSystemReader(str(path / "dcp")).read_metadata().state_dict_metadata
    except Exception as e:  # pickle, EOF and OS errors: a damaged file is one the user must redo
        raise CheckpointError(f"{meta_file}: unreadable ({type(e).__name__}: {str(e).strip()[:120]})") from e
    for name, t in msd.items():
        got = saved.get(f"model.{name}")
        if got is None:
            raise CheckpointError(f"{meta_file}: no tensor '{name}' (weights of a different architecture?)")
        size = list(getattr(got, "size", []))
        if size != list(t.shape):
            raise CheckpointError(f"{meta_file}: tensor '{name}' has shape {size}, this model's is {list(t.shape)} "
                                  f"(a different vocabulary size or architecture)")

