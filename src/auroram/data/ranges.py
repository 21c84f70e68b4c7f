"""A source's documents split into byte ranges, so N tasks read it in parallel and together yield exactly
what `iter_source` yields in one pass, in the same order.

A source's files (in `iter_source` order) become units: a plain JSONL file is one splittable unit, cut by
bytes at line starts; a .txt, a .gz or a JSON-array file is whole (one task reads it all). `max_docs` is
applied once, by a planning pass that reads up to the cap and shortens the units there. Task r of N then
takes every record whose first byte lies in the r-th of N equal slices of the units' bytes, and every whole
unit whose first byte does. Errors name the file and line, as `iter_source`'s do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from auroram.config import SourceConfig
from auroram.data.instruct import Conversation, Quarantine, RecordError, parse_record
from auroram.data.sources import SourceError, _files, _read_file


@dataclass(frozen=True)
class Unit:
    file: str
    lo: int  # byte range [lo, hi) of the file; a whole unit is [0, size)
    hi: int
    whole: bool
    cap: int | None = None  # a whole unit cut by max_docs: documents to take from it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_array(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return head[:1] == b"["


def source_units(path: str) -> list[Unit]:
    """The source's files as units, in the order iter_source reads them."""
    out = []
    for f in _files(path):
        size = f.stat().st_size
        whole = f.name.endswith((".gz", ".txt")) or _is_array(f)
        out.append(Unit(str(f), 0, size, whole))
    return out


def count_lines(path: str, upto: int) -> int:
    """Newlines in the first `upto` bytes of a file (the line number of offset `upto` is this + 1)."""
    n = 0
    with open(path, "rb") as fh:
        left = upto
        while left > 0:
            chunk = fh.read(min(left, 1 << 22))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def _record_doc(f: str, line: Callable[[], int], rec: Any, src: SourceConfig,
                quarantine: Quarantine | None) -> Any:
    """One decoded record as iter_source yields it; None when it yields nothing (empty text, quarantined).
    `line()` gives its line number (counted only when it is needed)."""
    if src.format != "text":
        if quarantine is not None:
            quarantine.records += 1
        try:
            if isinstance(rec, SourceError):
                raise RecordError(str(rec).split(": ", 2)[-1])
            turns = parse_record(src.format, rec)
        except RecordError as e:
            if quarantine is None:
                raise SourceError(f"{f}: line {line()}: {e}") from None
            quarantine.reject(f, line(), str(e))
            return None
        return Conversation(turns, f, line())
    if isinstance(rec, SourceError):
        raise rec
    if src.loss_on == "response":
        if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str) \
                or not isinstance(rec.get("response"), str):
            raise SourceError(f"{f}: line {line()}: loss_on 'response' needs string fields 'prompt' and 'response'")
        return rec["prompt"], rec["response"]
    if not isinstance(rec, dict) or src.text_field not in rec:
        raise SourceError(f"{f}: line {line()}: no '{src.text_field}' field")
    text = rec[src.text_field]
    if not isinstance(text, str):
        raise SourceError(f"{f}: line {line()}: '{src.text_field}' is not a string")
    return text or None


def _read_lines(u: Unit, lo: int, hi: int, src: SourceConfig,
                quarantine: Quarantine | None) -> Iterator[tuple[int, Any]]:
    """(end offset, document) of the records of u.file whose first byte lies in [lo, hi)."""
    with open(u.file, "rb") as fh:
        pos = lo
        if lo > 0:
            fh.seek(lo - 1)
            if fh.read(1) != b"\n":  # the line under lo started before it: the task before reads it
                pos += len(fh.readline())
        else:
            fh.seek(0)
        start, nth = pos, 0
        first: list[int] = []  # line number of `start`, counted once, when a line is first named

        def line() -> int:
            if not first:
                first.append(count_lines(u.file, start) + 1)
            return first[0] + nth - 1

        while pos < hi:
            raw = fh.readline()
            if not raw:
                break
            pos += len(raw)
            nth += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SourceError(f"{u.file}: line {line()}: not valid UTF-8 (byte {e.start} of the line)") from None
            if not text.strip():
                continue
            try:
                rec: Any = json.loads(text)
            except json.JSONDecodeError as e:
                rec = SourceError(f"{u.file}: line {line()}: not valid JSON ({e.msg})")
            doc = _record_doc(u.file, line, rec, src, quarantine)
            if doc is not None:
                yield pos, doc


def read_unit(u: Unit, lo: int, hi: int, src: SourceConfig, quarantine: Quarantine | None) -> Iterator[tuple[int, Any]]:
    """(end offset or -1, document) of one unit's slice [lo, hi); a whole unit is read whole (lo == u.lo)."""
    if u.whole:
        if src.format == "text" and src.loss_on == "response" and u.file.endswith(".txt"):
            raise SourceError(f"{u.file}: loss_on 'response' needs JSONL records with 'prompt' and 'response'")
        pairs = src.format == "text" and src.loss_on == "response"
        n = 0
        for doc in _read_file(Path(u.file), src.text_field, pairs=pairs, fmt=src.format, quarantine=quarantine):
            if u.cap is not None and n >= u.cap:
                return
            n += 1
            yield -1, doc
        return
    yield from _read_lines(u, lo, hi, src, quarantine)


def plan_units(src: SourceConfig) -> list[Unit]:
    """The source's units with max_docs applied: units after the cap dropped, the last one shortened."""
    units = source_units(src.path)
    if src.max_docs is None:
        return units
    n, out = 0, []
    for u in units:
        taken = 0
        for end, _ in read_unit(u, u.lo, u.hi, src, Quarantine()):
            n += 1
            taken += 1
            if n >= src.max_docs:
                out.append(replace(u, cap=taken) if u.whole else replace(u, hi=end))
                return out
        out.append(u)
    return out


def task_slices(units: list[Unit], rank: int, tasks: int) -> list[tuple[Unit, int, int]]:
    """(unit, lo, hi) slices of task `rank` of `tasks`: records whose first byte lies in its share of the bytes."""
    total = sum(u.hi - u.lo for u in units)
    a, b = total * rank // tasks, total * (rank + 1) // tasks
    last = rank == tasks - 1
    out, start = [], 0
    for u in units:
        size = u.hi - u.lo
        if u.whole:
            if a <= start < b or (last and start >= total):
                out.append((u, u.lo, u.hi))
        else:
            lo, hi = max(a - start, 0), min(b - start, size)
            if lo < hi:
                out.append((u, u.lo + lo, u.lo + hi))
        start += size
    return out


def read_task(units: list[Unit], rank: int, tasks: int, src: SourceConfig,
              quarantine: Quarantine | None) -> Iterator[Any]:
    """The documents of task `rank`: concatenated over every task in order, iter_source's stream."""
    for u, lo, hi in task_slices(units, rank, tasks):
        for _, doc in read_unit(u, lo, hi, src, quarantine):
            yield doc


def describe_slices(slices: list[tuple[Unit, int, int]]) -> str:
    """'a.jsonl lines 1-400 (bytes 0-9000), b.txt' for an error message (lines counted only now)."""
    parts = []
    for u, lo, hi in slices:
        if u.whole:
            parts.append(u.file)
            continue
        with open(u.file, "rb") as fh:  # a line under lo belongs to the task before: the first is the next one
            fh.seek(max(lo - 1, 0))
            mid_line = lo > 0 and fh.read(1) != b"\n"
        first, last = count_lines(u.file, lo) + 1 + mid_line, count_lines(u.file, max(hi - 1, lo)) + 1
        parts.append(f"{u.file} lines {first}-{max(first, last)} (bytes {lo}-{hi})")
    return ", ".join(parts) or "no input"
