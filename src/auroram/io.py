"""Whole-or-nothing file writes, content hashes and step records.

Every artifact the toolkit makes goes through here: written under a temporary name, flushed to disk,
then renamed, so a crash never leaves a file that looks complete but is not.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from auroram.errors import AuroramError
from auroram.faults import disk_full, fault_point


class DiskFullError(AuroramError, OSError):
    """ENOSPC while writing an artifact; the message names the file. Nothing half-written is left."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    # the rename itself must reach the disk, or a power cut can undo it
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside `path`; on clean exit fsync it and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual permissions
    try:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if disk_full(str(path)):  # test-only: a disk that fills up while this file is written
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            os.fsync(fh.fileno())
        fault_point(f"write:{path}")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        fault_point(f"wrote:{path}")
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if e.errno == errno.ENOSPC:
            raise DiskFullError(f"no space left on device while writing {path}") from e
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy and torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


KeepFn = Callable[[Path, Path], Iterable[str]]


def publish_dir(tmp: Path, path: Path, keep: KeepFn | None = None) -> None:
    """Rename a fully written directory into place, replacing what was there. `keep(old, new)` names paths
    (relative) of the old directory that move into the new one instead of going (a user's own files)."""
    if path.exists():
        carry = list(keep(path, tmp)) if keep else []
        if keep is not None:  # the folder keeps its permissions, as if only its contents changed
            shutil.copymode(path, tmp)
        # move the old one aside first so there is never a moment with a half-replaced directory
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        fault_point(f"dir-swap:{path}")
        os.replace(tmp, path)
        # moved only after the swap: an error before it leaves them where they were
        _carry_over(old, path, carry)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def _carry_over(old: Path, new: Path, rels: list[str]) -> None:
    """Move rels from old into new; if one cannot move, put everything back as it was and raise."""
    moved: list[str] = []
    try:
        for rel in rels:
            dst = new / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(dst):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
            os.rename(old / rel, dst)
            moved.append(rel)
    except OSError as e:
        stuck = rel
        try:
            for back in reversed(moved):
                os.rename(new / back, old / back)
            failed = new.with_name(f".{new.name}.failed-{os.getpid()}")
            os.replace(new, failed)
            os.replace(old, new)
            shutil.rmtree(failed, ignore_errors=True)
        except OSError:
            raise OSError(f"{new}: could not keep {stuck} in the new directory ({e.strerror or e}); nothing is "
                          f"lost: what is not in {new} is in {old}") from e
        raise OSError(f"{new}: could not keep {stuck} in the new directory ({e.strerror or e}); "
                      f"left as it was") from e


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, keep: KeepFn | None = None) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on clean exit rename it to `path` (replacing it, except for
    the paths `keep` names: see publish_dir)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fault_point(f"dir:{path}")
        publish_dir(tmp, path, keep)
        fault_point(f"dir-done:{path}")
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ENOSPC and not isinstance(e, DiskFullError):
            raise DiskFullError(f"no space left on device while writing {path}") from e
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def hash_obj(obj: Any) -> str:
    """Stable hash of a JSON-able object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_json_default, separators=(",", ":"))
    return sha256_bytes(blob.encode("utf-8"))[:16]


# ---- step records: a step's output is complete, and made from these inputs, iff its record says so ----

STEP_RECORD = "step.json"


def step_done(out_dir: str | os.PathLike, step_hash: str) -> bool:
    rec = Path(out_dir) / STEP_RECORD
    if not rec.is_file():
        return False
    try:
        return read_json(rec).get("hash") == step_hash
    except (ValueError, OSError):
        return False


def mark_step_done(out_dir: str | os.PathLike, step: str, step_hash: str, **extra: Any) -> None:
    write_json(
        Path(out_dir) / STEP_RECORD,
        {"step": step, "hash": step_hash, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra},
    )


def clear_step(out_dir: str | os.PathLike) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(Path(out_dir) / STEP_RECORD)
