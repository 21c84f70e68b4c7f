"""Shard sets: one source's tokens as a directory of part files plus an index, read as one stream.

Parts are never merged: N writers (datatrove tasks, processes) each write their own part, and the reader
gathers training windows over the virtual concatenation of the parts in order, so a source of any size
costs no second copy on disk and no merge pass. Layout:

    <set_dir>/parts/part-00000.bin   a shard file (tokenize/shards.py), written whole or not at all
    <set_dir>/parts/part-00000.json  its record, written after it: finalize need not read the part again
    <set_dir>/index.json             written last by finalize(); a set without it is incomplete

The stream is the same whatever the split: a set written as 1 part or as N parts (empty ones included)
gives the same windows(), so the same training batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from auroram.io import read_json, write_json
from auroram.tokenize.shards import _VERIFIED, Shard, ShardError, _check_windows, _Encoded, _write_shard

FORMAT = "auroram-shardset"
VERSION = 1
INDEX = "index.json"
PARTS = "parts"
_PART_RE = re.compile(r"part-(\d{5,})\.(bin|json)")
_RECORD_KEYS = ("file", "documents", "tokens", "bytes", "checksum", "max_token_id", "masked", "vocab_size")
_INT_KEYS = ("documents", "tokens", "bytes", "max_token_id")


def part_path(set_dir: str | os.PathLike, i: int) -> Path:
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise ValueError(f"part number must be an int >= 0, got {i!r}")
    return Path(set_dir) / PARTS / f"part-{i:05d}.bin"


def _record_path(part: Path) -> Path:
    return part.with_suffix(".json")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_part(set_dir: Path, i: int, docs: Iterable, vocab_size: int, masked: bool,
                extra: Callable[[], dict] | None = None) -> dict:
    path = part_path(set_dir, i)
    # the set stops looking complete first, and a stale record can never vouch for the new part
    _unlink(set_dir / INDEX)
    _unlink(_record_path(path))
    stats, checksum, max_id = _write_shard(path, docs, vocab_size, masked)
    rec = {"file": path.relative_to(set_dir).as_posix(), "documents": stats["documents"], "tokens": stats["tokens"],
           "bytes": path.stat().st_size, "checksum": checksum.hex(), "max_token_id": max_id, "masked": masked,
           "vocab_size": vocab_size, **(extra() if extra else {})}
    write_json(_record_path(path), rec)
    return rec


def write_part(set_dir: str | os.PathLike, i: int, docs: Iterable[tuple[np.ndarray, np.ndarray | None]],
               vocab_size: int, *, masked: bool) -> dict:
    """Write part i of a set from (tokens, mask or None) documents; returns its record (also kept beside it).

    Any earlier index.json is removed first: a set being rewritten must not read as complete."""
    return _write_part(Path(set_dir), i, docs, vocab_size, masked)


def tokenize_part(tokenizer, docs: Iterable[str | tuple[str, str] | list[tuple[str, bool]]],
                  set_dir: str | os.PathLike, i: int, *, eos_id: int, masked: bool, batch_docs: int = 512,
                  progress: Callable[[int], None] | None = None) -> dict:
    """tokenize_to_shard into part i; the record gains "bytes_text", the UTF-8 bytes of text encoded."""
    set_dir = Path(set_dir)
    enc = _Encoded(tokenizer, docs, part_path(set_dir, i), eos_id, batch_docs, progress)
    # called once every document is consumed, so the count is final
    return _write_part(set_dir, i, enc, len(tokenizer), masked, lambda: {"bytes_text": enc.text_bytes})


def _read_record(path: Path) -> dict:
    rp = _record_path(path)
    if not path.is_file():
        raise ShardError(f"{path}: part not found: the shard set is incomplete")
    if not rp.is_file():
        raise ShardError(f"{path}: has no record {rp.name} beside it (its writer did not finish): write it again")
    try:
        rec = read_json(rp)
    except (ValueError, UnicodeDecodeError) as e:
        raise ShardError(f"{rp}: unreadable part record ({str(e).split(': ')[-1]})") from None
    if not isinstance(rec, dict) or any(k not in rec for k in _RECORD_KEYS):
        raise ShardError(f"{rp}: not a part record (needs {', '.join(_RECORD_KEYS)})")
    return rec


def _check_part(sh: Shard, rec: dict, vocab_size: int, masked: bool, against: str) -> None:
    """One line naming the part when its header disagrees with what `against` (record or index) says."""
    wrong = []
    if sh.checksum.hex() != rec["checksum"]:
        wrong.append("checksum")
    if sh.n_tokens != rec["tokens"]:
        wrong.append(f"{sh.n_tokens} tokens, {against} says {rec['tokens']}")
    if sh.n_docs != rec["documents"]:
        wrong.append(f"{sh.n_docs} documents, {against} says {rec['documents']}")
    if sh.vocab_size != vocab_size:
        wrong.append(f"vocab_size {sh.vocab_size}, {against} says {vocab_size}")
    if sh.masked != masked:
        wrong.append(f"{'masked' if sh.masked else 'unmasked'}, {against} says "
                     f"{'masked' if masked else 'unmasked'}")
    if wrong:
        raise ShardError(f"{sh.path}: does not match its {against} ({'; '.join(wrong)}): the part changed after "
                         f"it was written; write the shard set again")


def finalize(set_dir: str | os.PathLike, n_parts: int, *, meta: dict | None = None) -> dict:
    """Check parts 0..n_parts-1 and their records, drop stale parts beyond them, write index.json last."""
    set_dir = Path(set_dir)
    if isinstance(n_parts, bool) or not isinstance(n_parts, int) or n_parts < 1:
        raise ShardError(f"{set_dir}: a shard set needs at least one part, got n_parts={n_parts!r}")
    records = []
    for i in range(n_parts):
        path = part_path(set_dir, i)
        rec = _read_record(path)
        if records and (rec["vocab_size"], rec["masked"]) != (records[0]["vocab_size"], records[0]["masked"]):
            first = records[0]
            raise ShardError(f"{path}: vocab_size {rec['vocab_size']}, masked {rec['masked']} but part 0 has "
                             f"vocab_size {first['vocab_size']}, masked {first['masked']}")
        # reading the header is cheap and catches a part rewritten without its record
        _check_part(Shard(path), rec, rec["vocab_size"], rec["masked"], "record")
        if path.stat().st_size != rec["bytes"]:
            raise ShardError(f"{path}: {path.stat().st_size} bytes, its record says {rec['bytes']}: write it again")
        records.append(rec)
    for f in sorted((set_dir / PARTS).iterdir()):
        m = _PART_RE.fullmatch(f.name)
        if m and int(m.group(1)) >= n_parts:  # left by an earlier run with more parts
            _unlink(f)
    index = {"format": FORMAT, "version": VERSION, "vocab_size": records[0]["vocab_size"],
             "masked": records[0]["masked"], "tokens": sum(r["tokens"] for r in records),
             "documents": sum(r["documents"] for r in records), "parts": records, "meta": meta}
    if all("bytes_text" in r for r in records):
        index["bytes_text"] = sum(r["bytes_text"] for r in records)
    write_json(set_dir / INDEX, index)
    return index


def is_complete(set_dir: str | os.PathLike) -> bool:
    """index.json is there and names parts that exist at their recorded sizes (stat only, no reads)."""
    set_dir = Path(set_dir)
    try:
        index = read_json(set_dir / INDEX)
        return index.get("format") == FORMAT and all(
            (set_dir / r["file"]).stat().st_size == r["bytes"] for r in index["parts"])
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return False


def _load_index(set_dir: Path) -> dict:
    ip = set_dir / INDEX
    if not set_dir.is_dir():
        what = "not a directory" if set_dir.exists() else "not found"
        raise ShardError(f"{set_dir}: shard set {what}")
    if not ip.is_file():
        raise ShardError(f"{set_dir}: has no {INDEX}: incomplete shard set (its writer did not finish); "
                         f"write it again")
    try:
        index = read_json(ip)
    except (ValueError, UnicodeDecodeError) as e:
        raise ShardError(f"{ip}: unreadable ({str(e).split(': ')[-1]})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ShardError(f"{ip}: not an {FORMAT} index")
    if index.get("version") != VERSION:
        raise ShardError(f"{ip}: shard set version {index.get('version')!r}, this auroram reads version {VERSION}")
    parts = index.get("parts")
    ints = ("vocab_size", "tokens", "documents")
    if (not isinstance(parts, list) or not parts or any(not isinstance(index.get(k), int) for k in ints)
            or not isinstance(index.get("masked"), bool)):
        raise ShardError(f"{ip}: corrupt index (needs parts, vocab_size, tokens, documents, masked)")
    for i, rec in enumerate(parts):
        if not isinstance(rec, dict) or any(k not in rec for k in _RECORD_KEYS):
            raise ShardError(f"{ip}: corrupt index: part {i} record lacks {', '.join(_RECORD_KEYS)}")
        if (any(isinstance(rec[k], bool) or not isinstance(rec[k], int) for k in _INT_KEYS)
                or not isinstance(rec["checksum"], str) or not isinstance(rec["file"], str)):
            raise ShardError(f"{ip}: corrupt index: part {i} record has a value of the wrong type")
        # the index may only name its own parts, in order: nothing outside the set is ever opened
        if rec["file"] != part_path(set_dir, i).relative_to(set_dir).as_posix():
            raise ShardError(f"{ip}: corrupt index: part {i} is {rec['file']!r}, expected "
                             f"{part_path(set_dir, i).relative_to(set_dir).as_posix()}")
    return index


class ShardSet:
    """A finalized shard set opened read-only: every part memory-mapped, headers checked against the index.

    Offers what the mixture and the pipeline use of a Shard (counts, documents, windows, checks), so a caller
    need not care which of the two it holds."""

    def __init__(self, set_dir: str | os.PathLike):
        self.path = Path(set_dir)
        self.index = _load_index(self.path)
        self.vocab_size = int(self.index["vocab_size"])
        self.masked = bool(self.index["masked"])
        self._records = self.index["parts"]
        self.parts: list[Shard] = []
        for i, rec in enumerate(self._records):
            try:
                sh = Shard(self.path / rec["file"])
            except ShardError as e:
                raise ShardError(f"{e} (part {i} of the shard set {self.path})") from None
            _check_part(sh, rec, self.vocab_size, self.masked, "index")
            self.parts.append(sh)
        self._tok_starts = np.cumsum([0] + [p.n_tokens for p in self.parts], dtype=np.int64)
        self._bounds: list[int] = self._tok_starts.tolist()
        self._doc_starts = np.cumsum([0] + [p.n_docs for p in self.parts], dtype=np.int64)
        self.n_tokens = int(self._tok_starts[-1])
        self.n_docs = int(self._doc_starts[-1])
        if (self.n_tokens, self.n_docs) != (self.index["tokens"], self.index["documents"]):
            raise ShardError(f"{self.path / INDEX}: corrupt index: totals {self.index['tokens']} tokens, "
                             f"{self.index['documents']} documents, its parts hold {self.n_tokens}, {self.n_docs}")
        # the set's identity: every part's checksum and size, in order
        h = hashlib.blake2b(digest_size=16)
        for p in self.parts:
            h.update(p.checksum + np.array([p.n_tokens, p.n_docs], np.int64).tobytes())
        self.checksum = h.digest()

    def __reduce__(self):
        # reopened (and checked) by path in the receiving process: descriptors do not travel
        return (type(self), (self.path,))

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return (f"ShardSet({str(self.path)!r}, parts={len(self.parts)}, docs={self.n_docs}, tokens={self.n_tokens}, "
                f"vocab_size={self.vocab_size}{'' if self.masked else ', unmasked'})")

    def _doc_part(self, i: int) -> tuple[Shard, int]:
        if not -self.n_docs <= i < self.n_docs:
            raise IndexError(f"{self.path}: document {i} out of range ({self.n_docs} documents)")
        i %= self.n_docs
        p = int(np.searchsorted(self._doc_starts, i, side="right")) - 1
        return self.parts[p], i - int(self._doc_starts[p])

    def doc(self, i: int) -> np.ndarray:
        part, j = self._doc_part(i)
        return part.doc(j)

    def doc_mask(self, i: int) -> np.ndarray:
        part, j = self._doc_part(i)
        return part.doc_mask(j)

    def _part_of(self, pos: np.ndarray) -> np.ndarray:
        # the last part starting at or before pos: an empty part shares its start with the next, so never chosen
        return np.searchsorted(self._tok_starts, pos, side="right") - 1

    def windows(self, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Tokens (int64) and loss mask (uint8, None when unmasked) of stream[s : s + length] for each start,
        gathered across part boundaries: the same arrays one Shard of the whole stream would give."""
        starts = _check_windows(self, starts, length)
        toks = np.empty((starts.size, length), self.parts[0].token_dtype)
        mask = np.empty((starts.size, length), np.uint8) if self.masked else None
        first, last = self._part_of(starts).tolist(), self._part_of(starts + (length - 1)).tolist()
        bounds = self._bounds
        for r, (p, q, start) in enumerate(zip(first, last, starts.tolist())):
            row_mask = None if mask is None else mask[r]
            if p == q:  # the usual case: the window lies inside one part
                self.parts[p]._read_into(toks[r], row_mask, start - bounds[p])
                continue
            col = 0
            for part in range(p, q + 1):  # across boundaries: one read per part it touches (empty ones: none)
                take = min(bounds[part + 1], start + length) - (start + col)
                if take > 0:
                    self.parts[part]._read_into(toks[r, col : col + take],
                                                None if row_mask is None else row_mask[col : col + take],
                                                start + col - bounds[part])
                    col += take
        return toks.astype(np.int64), mask

    def mtime_ns(self) -> int:
        """When the set last changed (index or any part): a record kept elsewhere must be newer to be trusted."""
        return max([os.stat(self.path / INDEX).st_mtime_ns] + [p.mtime_ns() for p in self.parts])

    def max_token_id(self) -> int:
        """Largest token id, as the index records it (verify() checks the records against the bytes)."""
        return max(int(r["max_token_id"]) for r in self._records)

    def check_vocab(self, vocab_size: int, what: str = "the model") -> None:
        """Raise ShardError naming the part, document and token a `vocab_size`-row embedding has no row for."""
        if self.max_token_id() < vocab_size:
            return
        for part, rec in zip(self.parts, self._records):
            if int(rec["max_token_id"]) >= vocab_size:
                part.check_vocab(vocab_size, what)
                raise ShardError(f"{part.path}: the index records token id {rec['max_token_id']}, outside {what}'s "
                                 f"vocabulary of {vocab_size}, but the part holds none: the index is stale")

    def verify(self) -> None:
        """Checksum every part and check its largest id against the index; O(set size)."""
        for part, rec in zip(self.parts, self._records):
            part.verify()
            self._check_max(part, rec)

    def _check_max(self, part: Shard, rec: dict) -> None:
        if part.max_token_id() != rec["max_token_id"]:
            raise ShardError(f"{part.path}: largest token id {part.max_token_id()}, the index says "
                             f"{rec['max_token_id']}: the index is stale; write the shard set again")

    def verify_once(self, record: dict | None = None) -> None:
        """verify(), skipped when `record` (from record(), kept by the caller and newer than mtime_ns()) holds
        this set's checksum; parts this process verified already are not read again."""
        if record and record.get("checksum") == self.checksum.hex() and isinstance(record.get("max_token_id"), int):
            for part, rec in zip(self.parts, self._records):
                part._max_token_id = int(rec["max_token_id"])
            return
        for part, rec in zip(self.parts, self._records):
            if part._stat in _VERIFIED:
                part._max_token_id = _VERIFIED[part._stat]
            else:
                part.verify()
            self._check_max(part, rec)

    def record(self) -> dict:
        """What verify_once needs to trust this set later without reading it."""
        return {"checksum": self.checksum.hex(), "max_token_id": self.max_token_id()}


def open_tokens(path: str | os.PathLike) -> Shard | ShardSet:
    """A shard set directory (index.json) or a single shard file (runs made before shard sets)."""
    path = Path(path)
    return ShardSet(path) if path.is_dir() else Shard(path)
