"""One task of a source's shard set: read its byte ranges of the source (auroram.data.ranges), render
conversations, drop what overlaps an evaluation set, tokenize into its part. Run in this process, or by
datatrove (auroram.curate.tokenize_step.ShardTask) in a pool, on Ray or in a Slurm array; nothing here
imports torch or datatrove, so a task process starts fast.

Everything a task needs is in `<set_dir>/work/spec.json` (written by the shard step before any task runs):
the resolved source, the units, the tokenizer's directory, the evaluation sets' file and the step's key. A
task writes `parts/part-NNNNN.bin` (with its record) and then `work/tasks/NNNNN.json` (its quarantined
records, decontamination drops and counts); a task whose record names the current key and whose part is
there at its recorded checksum is done, so a rerun redoes only the others.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable

from auroram.config import SourceConfig
from auroram.errors import AuroramError
from auroram.faults import fault_point
from auroram.io import read_json, write_json, write_text

SPEC = "spec.json"
WORK = "work"

# filled by the process that runs tasks in-process, so they share its tokenizer, renderer and index
_CACHE: dict[Any, Any] = {}
progress_hook: Callable[[int, int], None] | None = None  # (task, documents done in it), in-process only


class ShardTaskError(AuroramError, RuntimeError):
    """A task failed; the message names the source, the task and the file ranges it was reading."""


def unwrap_task_error(e: BaseException | None) -> BaseException | None:
    """The AuroramError a task raised, when a process pool or Ray handed it back wrapped (None: not ours)."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, AuroramError):
            return e
        e, seen = getattr(e, "cause", None) or e.__cause__ or e.__context__, seen + 1
    return None


def task_record_path(set_dir: Path, rank: int) -> Path:
    return set_dir / WORK / "tasks" / f"{rank:05d}.json"


def spec_path(set_dir: Path) -> Path:
    return set_dir / WORK / SPEC


def _cached(key: Any, make: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def remember(key: Any, value: Any) -> None:
    """Give in-process tasks an object the caller already has (the run's tokenizer, its decontaminator)."""
    _CACHE[key] = value


def forget() -> None:
    _CACHE.clear()


def _tokenizer(path: str) -> Any:
    from auroram.tokenize.bpe import load_tokenizer

    return _cached(("tokenizer", path), lambda: load_tokenizer(path))


def _decontaminator(spec: dict[str, Any]) -> Any:
    from auroram.data.decontam import Decontaminator

    def make() -> Decontaminator:
        sets = read_json(spec["eval_sets"])
        langs = {s: (s.split("-", 1)[1] if s.startswith(("mc-", "safety-")) else s) for s in sets}
        return Decontaminator(sets, langs=langs)

    return _cached(("decontaminator", spec["decontam"]), make)


def task_done(set_dir: Path, rank: int, key: str) -> bool:
    """Its record names this key and its part is on disk with the header its record says (no full read)."""
    from auroram.tokenize.shards import Shard, ShardError
    from auroram.tokenize.shardset import part_path

    rec_path = task_record_path(set_dir, rank)
    try:
        rec = read_json(rec_path)
        part = rec["part"]
        sh = Shard(part_path(set_dir, rank))
        return rec.get("key") == key and sh.checksum.hex() == part["checksum"] and \
            sh.path.stat().st_size == part["bytes"] and part_path(set_dir, rank).with_suffix(".json").is_file()
    except (OSError, ValueError, KeyError, TypeError, ShardError):
        return False


def run_task(set_dir: Path, rank: int) -> dict[str, Any] | None:
    """Make part `rank` of the set (None: it was done already)."""
    from auroram.data.instruct import Quarantine
    from auroram.data.ranges import Unit, describe_slices, read_task, task_slices
    from auroram.tokenize.bpe import eos_id
    from auroram.data.sources import SourceError
    from auroram.tokenize.render import Renderer, RenderError, render_docs
    from auroram.tokenize.shardset import tokenize_part

    spec = read_json(spec_path(set_dir))
    if task_done(set_dir, rank, spec["key"]):
        return None
    name, tasks = spec["name"], spec["tasks"]
    src = SourceConfig(**spec["source"])
    units = [Unit(**u) for u in spec["units"]]
    tok = _tokenizer(spec["tokenizer"])
    renderer = _cached(("renderer", spec["tokenizer"]), lambda: Renderer(tok))
    decon = _decontaminator(spec)
    decon.tallies, decon.drops = {}, []  # this task's counts only; the shard step adds the tasks up
    q = Quarantine()
    hook = progress_hook
    try:
        docs = decon.filter(render_docs(read_task(units, rank, tasks, src, q), renderer, src.loss_on, q), name)
        part = tokenize_part(tok, docs, set_dir, rank, eos_id=eos_id(tok), masked=spec["masked"],
                             progress=(lambda n: hook(rank, n)) if hook else None)
    except (SourceError, RenderError) as e:  # bad input: say which task read which lines (a full disk says itself)
        where = describe_slices(task_slices(units, rank, tasks))
        msg = f"shards:{name}: task {rank} of {tasks} ({where}): {e}"
        # beside the task's record: the launching process names it whatever executor ran the task
        write_text(task_record_path(set_dir, rank).with_suffix(".error"), msg + "\n")
        raise ShardTaskError(msg) from None
    tally = decon.tallies.get(name)
    rec = {"key": spec["key"], "part": part, "documents": part["documents"], "tokens": part["tokens"],
           "bytes": part["bytes_text"],
           "quarantine": {"records": q.records, "rejects": q.rejects},
           "decontamination": {"checked": tally.checked if tally else 0, "dropped": tally.dropped if tally else 0,
                               "by_eval_set": dict(tally.by_eval_set) if tally else {}, "drops": decon.drops}}
    fault_point(f"shards:{name}:part{rank}")
    write_json(task_record_path(set_dir, rank), rec)
    with contextlib.suppress(FileNotFoundError):
        task_record_path(set_dir, rank).with_suffix(".error").unlink()
    return rec


def raise_task_failure(set_dir: Path, ranks: list[int], error: BaseException | None) -> None:
    """After an executor returned or raised: the first failed task's own one-line error, else `error`'s."""
    for r in ranks:
        p = task_record_path(set_dir, r).with_suffix(".error")
        if p.is_file():
            raise ShardTaskError(p.read_text(encoding="utf-8").strip())
    if error is not None:
        ours = unwrap_task_error(error)
        if ours is not None:
            raise ours from None
        raise error
    if ranks:
        logs = set_dir / WORK / "logs" / "logs"
        raise ShardTaskError(f"{set_dir}: task(s) {', '.join(map(str, ranks))} did not finish (their logs: {logs}); "
                             f"run again to redo them")


def merge_tasks(set_dir: Path, tasks: int, name: str) -> dict[str, Any]:
    """The tasks' records added up in task order: counts, quarantined records, decontamination drops (their
    document numbers made global: the documents of the tasks before come first)."""
    from auroram.tokenize.shards import ShardError

    out: dict[str, Any] = {"documents": 0, "tokens": 0, "bytes": 0, "records": 0, "rejects": [], "checked": 0,
                           "dropped": 0, "by_eval_set": {}, "drops": []}
    for r in range(tasks):
        p = task_record_path(set_dir, r)
        try:
            rec = read_json(p)
        except (OSError, ValueError) as e:
            raise ShardError(f"{p}: task {r} of shards:{name} left no record ({e}); run again to redo it") from None
        for k in ("documents", "tokens", "bytes"):
            out[k] += rec[k]
        out["records"] += rec["quarantine"]["records"]
        out["rejects"] += rec["quarantine"]["rejects"]
        d = rec["decontamination"]
        out["drops"] += [{**x, "doc": x["doc"] + out["checked"]} for x in d["drops"]]
        out["checked"] += d["checked"]
        out["dropped"] += d["dropped"]
        for s, n in d["by_eval_set"].items():
            out["by_eval_set"][s] = out["by_eval_set"].get(s, 0) + n
    out["by_eval_set"] = dict(sorted(out["by_eval_set"].items()))
    return out


def clear_task_records(set_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        for p in (set_dir / WORK / "tasks").iterdir():
            p.unlink()
