"""The run directory's own bookkeeping: one run at a time (the lock), what made it (provenance), what it
holds (the manifest: every artifact with its size and sha256, and `auroram verify`), which steps are
complete (step records, via auroram.io), and the sweep of what a killed run left half-written."""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from auroram import __version__
from auroram.errors import AuroramError
from auroram.io import hash_obj, read_json, sha256_file, step_done, write_json

# present while a step is under way: the hash of the inputs its partial output was made from
INPROGRESS = "inputs.json"


class RunError(AuroramError, RuntimeError):
    """A run cannot go on; the message says why and what to do."""


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One run per run directory: a second `auroram run` on it refuses instead of corrupting it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / ".lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise RunError(f"{run_dir}: another auroram run is using this run directory (pid {holder})") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def begin_step(out_dir: Path, step_hash: str) -> bool:
    """True when the step is already complete for this hash. Otherwise prepare out_dir: partial work made
    from other inputs is wiped (it would be resumed wrongly); partial work from the same inputs is kept
    so training resumes from its checkpoints."""
    if step_done(out_dir, step_hash):
        return True
    marker = out_dir / INPROGRESS
    if out_dir.exists():
        same = False
        if marker.is_file():
            with contextlib.suppress(ValueError, OSError):
                same = read_json(marker).get("hash") == step_hash
        if not same:
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"hash": step_hash})
    return False


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(recipe: Any) -> dict[str, Any]:
    import numpy
    import tokenizers
    import torch
    import transformers

    return {
        "auroram": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(terse=True),
        "seed": recipe.seed,
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "config_hash": hash_obj(recipe.to_dict()),
        **vocabulary_provenance(recipe),
    }


def vocabulary_provenance(recipe: Any) -> dict[str, Any]:
    """For a run that extends its base's vocabulary: what the new tokens are learnt from and how, the hash of
    the base's tokenizer files, and where the extension's full record will be (RUN/tokenizer/hf)."""
    t = recipe.tokenizer
    if t.kind != "extend":
        return {}
    from auroram.tokenize.extend import tokenizer_files_hash

    try:
        base_hash = tokenizer_files_hash(recipe.model.base) if recipe.model.base else None
    except (OSError, AuroramError):
        base_hash = None  # the tokenizer step says what is wrong with the base, in one line
    return {"vocabulary": {"add": t.add, "train_sources": list(t.train_sources), "keep": list(t.keep),
                           "init": t.init, "min_frequency": t.min_frequency, "max_train_bytes": t.max_train_bytes,
                           **({"init_scale": t.init_scale} if t.init == "scaled_mean" else {}),
                           **({"shares": dict(t.shares)} if t.shares else {}),
                           "base_tokenizer_hash": base_hash, "record": "tokenizer/hf/extension.json"}}


MANIFEST = "manifest.json"
# not artifacts: the lock, live logs and the review database (edited in place by reviewers, transactional)
_UNTRACKED = {".lock", MANIFEST}
_UNTRACKED_DIRS = {"tb", "ckpt"}
_UNTRACKED_SUFFIXES = (".db", ".db-journal", ".db-wal", ".db-shm")
# at the top of the run only: the console's log and the trackers' folders, appended to while a run goes on
_UNTRACKED_TOP = {"log.txt", "wandb", "mlruns", "jobs"}  # jobs/: `auroram prepare`'s Slurm scripts and logs


def _tracked(rel: Path) -> bool:
    if rel.name in _UNTRACKED or rel.name.endswith(_UNTRACKED_SUFFIXES):
        return False
    if rel.parts and rel.parts[0] in _UNTRACKED_TOP:
        return False
    return not any(is_partial_name(part) or part in _UNTRACKED_DIRS for part in rel.parts)


def is_partial_name(name: str) -> bool:
    """A name atomic_file/atomic_dir use while writing (or for the old copy while replacing)."""
    return name.startswith(".") and (name.endswith(".tmp") or ".old-" in name)


def record_outputs(run_dir: str | os.PathLike, *parts: str) -> dict[str, Any]:
    """Hash every file under run_dir/<part> (a file or a directory) into run_dir/manifest.json, replacing
    what it said about those paths before; the manifest itself is rewritten atomically."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    manifest = read_json(path) if path.is_file() else {"format": 1, "files": {}}
    files: dict[str, Any] = manifest.setdefault("files", {})
    for part in parts:
        prefix = Path(part).as_posix()
        for k in [k for k in files if k == prefix or k.startswith(prefix + "/")]:
            del files[k]
        root = run_dir / part
        found = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        for f in found:
            rel = f.relative_to(run_dir)
            if _tracked(rel):
                files[rel.as_posix()] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
    manifest["files"] = dict(sorted(files.items()))
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(path, manifest)
    return manifest


def verify_run(run_dir: str | os.PathLike) -> tuple[int, list[str]]:
    """(files checked, problems) for a run directory: every manifest entry present with its size and
    sha256, every JSON artifact parseable, every token shard's header checksum right."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (not a run directory, or made before manifests existed)")
    files = read_json(path).get("files", {})
    problems = []
    for rel, want in files.items():
        f = run_dir / rel
        if not f.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = f.stat().st_size
        if size != want["bytes"]:
            what = "truncated" if size < want["bytes"] else "changed"
            problems.append(f"{rel}: {what} ({size:,} bytes, manifest says {want['bytes']:,})")
        elif sha256_file(f) != want["sha256"]:
            problems.append(f"{rel}: changed (sha256 differs from the manifest)")
    for f in sorted(run_dir.rglob("*")):
        rel = f.relative_to(run_dir)
        if not f.is_file() or not _tracked(rel):
            continue
        if rel.as_posix() not in files:
            problems.append(f"{rel.as_posix()}: not in the manifest (written after the last step finished?)")
        if f.suffix == ".json":
            try:
                read_json(f)
            except (ValueError, UnicodeDecodeError) as e:
                problems.append(f"{rel.as_posix()}: {str(e).split(': ', 1)[-1]}")
    from auroram.tokenize.shardset import open_tokens

    # shard sets (index.json), and single shard files of runs made before them
    for f in sorted([*run_dir.glob("shards/*/index.json"), *run_dir.glob("shards/*/tokens.bin")]):
        try:
            open_tokens(f.parent if f.name == "index.json" else f).verify()
        except Exception as e:  # noqa: BLE001 - a corrupt header raises whatever numpy raises
            msg = str(e)
            # the error names the damaged file (a set's part); shown relative to the run like the lines above
            if msg.startswith(str(run_dir) + os.sep):
                problems.append(msg[len(str(run_dir)) + 1:])
            else:
                problems.append(f"{f.relative_to(run_dir).as_posix()}: {msg.split(': ', 1)[-1]}")
    return len(files), problems


def sweep_partial(root: str | os.PathLike) -> list[str]:
    """Clean what a killed writer left under root (call only while holding the run lock): temporary files
    and directories are deleted; a directory moved aside mid-replace is put back if nothing replaced it."""
    root = Path(root)
    done = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames) + filenames:
            p = Path(dirpath) / name
            if not name.startswith("."):
                continue
            if name.endswith(".tmp"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    dirnames.remove(name)
                else:
                    p.unlink(missing_ok=True)
                done.append(str(p))
            elif ".old-" in name:
                orig = p.with_name(name[1:].rsplit(".old-", 1)[0])
                if orig.exists():
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                else:
                    os.replace(p, orig)
                if name in dirnames:
                    dirnames.remove(name)
                done.append(str(p))
    return done


def record_untracked(run_dir: str | os.PathLike) -> int:
    """Add to the manifest the files it does not list yet (cheap: hashes only those); returns how many."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    known = read_json(path).get("files", {}) if path.is_file() else {}
    new = [f.relative_to(run_dir).as_posix() for f in sorted(run_dir.rglob("*"))
           if f.is_file() and _tracked(f.relative_to(run_dir)) and f.relative_to(run_dir).as_posix() not in known]
    if new:
        record_outputs(run_dir, *new)
    return len(new)


def _run_directory(root: Path) -> bool:
    # what every run writes before its first step; a run killed sooner leaves only its lock and log
    names = set(os.listdir(root))
    return bool(names & {"recipe.yaml", "provenance.json"}) or bool(names) and names <= {".lock", "log.txt"}


def run_output():
    """What `auroram run` writes at the top of a run directory. A rerun resumes its own run directory whatever
    else is there (notes, job logs); a directory that is not one needs --force, and then nothing of the
    user's may sit where a step writes (a step redoes its folder whole)."""
    from auroram.outputs import Layout

    tops = ("report", "tokenizer", "curate", "safety", "shards", "stages", "tb", "wandb", "mlruns", "jobs")
    return Layout("run", patterns=(".lock", MANIFEST, "recipe.yaml", "provenance.json", "report.json", "log.txt",
                                   *(f"{t}/" for t in tops), *(f"{t}/**" for t in tops)),
                  legacy=_run_directory, shared=True)
