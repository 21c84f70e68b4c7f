"""Packed token shards: one binary file per source, read through memory maps.

Layout (little-endian):
    header   64 bytes: magic b"AURSHRD1", version u32, token itemsize u32 (2 or 4), n_tokens u64,
             n_docs u64, vocab_size u64, blake2b-128 checksum of the three arrays, zero padding
    tokens   n_tokens x uint16/uint32
    mask     n_tokens x uint8 (1: the token is a training target)
    padding  zeros up to a multiple of 8 bytes, so the offsets are aligned
    offsets  (n_docs + 1) x int64; document i is tokens[offsets[i]:offsets[i+1]]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from auroram.errors import AuroramError
from auroram.io import atomic_file

MAGIC = b"AURSHRD1"
VERSION = 1
_HEAD = struct.Struct("<8sIIQQQ16s")
HEADER_BYTES = 64
_CHUNK_BYTES = 1 << 22


class ShardError(AuroramError, ValueError):
    """A shard file is missing, truncated, corrupt or not a shard; the message names the file."""


# (resolved path, bytes, mtime_ns) -> largest token id, for shards this process has checksummed already
_VERIFIED: dict[tuple[str, int, int], int] = {}


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def _layout(n_tokens: int, n_docs: int, itemsize: int) -> tuple[int, int, int, int]:
    # (mask offset, offsets offset, total file bytes, padding bytes before offsets)
    mask_at = HEADER_BYTES + n_tokens * itemsize
    end_mask = mask_at + n_tokens
    offsets_at = (end_mask + 7) // 8 * 8
    return mask_at, offsets_at, offsets_at + (n_docs + 1) * 8, offsets_at - end_mask


def _combine(h_tokens: "hashlib._Hash", h_mask: "hashlib._Hash", h_offsets: "hashlib._Hash") -> bytes:
    # one hash per array so the writer can stream all three at once and the reader can check them in file order
    return hashlib.blake2b(h_tokens.digest() + h_mask.digest() + h_offsets.digest(), digest_size=16).digest()


def _hasher() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=16)


@contextlib.contextmanager
def _spill(path: Path, what: str) -> Iterator[Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{what}.tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _copy_into(dst, src: Path) -> None:
    with open(src, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            dst.write(chunk)


def _check_doc(path: Path, i: int, tokens, mask, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.asarray(tokens)
    where = f"{path}: document {i}"
    if tokens.ndim != 1:
        raise ShardError(f"{where}: tokens must be 1-D, got shape {tokens.shape}")
    if tokens.size:
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= vocab_size:
            raise ShardError(f"{where}: token id {lo if lo < 0 else hi} outside the vocabulary (size {vocab_size})")
    if mask is None:
        return tokens, np.ones(tokens.size, np.uint8)
    m = np.asarray(mask)
    if m.shape != tokens.shape:
        raise ShardError(f"{where}: loss mask shape {m.shape} != tokens shape {tokens.shape}")
    return tokens, (m != 0).astype(np.uint8)


def write_shard(
    path: str | os.PathLike,
    docs: Iterable[tuple[np.ndarray, np.ndarray | None]],
    vocab_size: int,
) -> dict:
    """Write (tokens, loss mask or None for all-ones) per document; memory stays flat in the input size."""
    path = Path(path)
    if vocab_size <= 0 or vocab_size > 2**32:
        raise ShardError(f"{path}: vocab_size must be in 1..2**32, got {vocab_size}")
    dtype = token_dtype(vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    h_tok, h_mask, h_off = _hasher(), _hasher(), _hasher()
    n_tokens = 0
    n_docs = 0
    with atomic_file(path, "wb") as out, _spill(path, "mask") as mask_tmp, _spill(path, "offsets") as off_tmp:
        with open(mask_tmp, "wb") as mask_fh, open(off_tmp, "wb") as off_fh:
            out.write(b"\0" * HEADER_BYTES)  # placeholder; the real header needs the final counts
            first = np.zeros(1, np.int64).tobytes()
            off_fh.write(first)
            h_off.update(first)
            for i, (tokens, mask) in enumerate(docs):
                tokens, m = _check_doc(path, i, tokens, mask, vocab_size)
                tb = tokens.astype(dtype, copy=False).tobytes()
                mb = m.tobytes()
                out.write(tb)
                h_tok.update(tb)
                mask_fh.write(mb)
                h_mask.update(mb)
                n_tokens += tokens.size
                n_docs += 1
                ob = np.array([n_tokens], np.int64).tobytes()
                off_fh.write(ob)
                h_off.update(ob)
        _copy_into(out, mask_tmp)
        _, _, _, pad = _layout(n_tokens, n_docs, dtype.itemsize)
        out.write(b"\0" * pad)
        _copy_into(out, off_tmp)
        out.seek(0)
        out.write(_pack_header(dtype.itemsize, n_tokens, n_docs, vocab_size, _combine(h_tok, h_mask, h_off)))
    return {"documents": n_docs, "tokens": n_tokens}


def _pack_header(itemsize: int, n_tokens: int, n_docs: int, vocab_size: int, checksum: bytes) -> bytes:
    head = _HEAD.pack(MAGIC, VERSION, itemsize, n_tokens, n_docs, vocab_size, checksum)
    return head + b"\0" * (HEADER_BYTES - len(head))


class Shard:
    """A shard opened read-only; arrays are memory maps, so opening costs nothing however large it is."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            st = self.path.stat()
            size = st.st_size
            with open(self.path, "rb") as fh:
                head = fh.read(HEADER_BYTES)
        except FileNotFoundError:
            raise ShardError(f"{self.path}: shard file not found") from None
        except IsADirectoryError:
            raise ShardError(f"{self.path}: is a directory, not a shard file") from None
        if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
            raise ShardError(f"{self.path}: not an auroram shard (bad magic bytes)")
        if len(head) < HEADER_BYTES:
            raise ShardError(f"{self.path}: truncated: expected at least {HEADER_BYTES} header bytes, found {size}")
        _, version, itemsize, n_tokens, n_docs, vocab_size, checksum = _HEAD.unpack_from(head)
        if version != VERSION:
            raise ShardError(f"{self.path}: shard format version {version}, this auroram reads version {VERSION}")
        if itemsize not in (2, 4):
            raise ShardError(f"{self.path}: corrupt header: token size {itemsize} bytes (expected 2 or 4)")
        mask_at, offsets_at, total, _ = _layout(n_tokens, n_docs, itemsize)
        if size != total:
            what = "truncated" if size < total else "corrupt: trailing bytes"
            raise ShardError(f"{self.path}: {what}: expected {total} bytes, found {size}")
        self.n_tokens = int(n_tokens)
        self.n_docs = int(n_docs)
        self.vocab_size = int(vocab_size)
        self.checksum = checksum
        self._stat = (str(self.path.resolve()), size, st.st_mtime_ns)
        self._max_token_id: int | None = None
        buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.tokens = buf[HEADER_BYTES:mask_at].view(np.uint16 if itemsize == 2 else np.uint32)
        self.loss_mask = buf[mask_at : mask_at + self.n_tokens]
        self.doc_offsets = buf[offsets_at:total].view(np.int64)
        if self.doc_offsets[0] != 0 or self.doc_offsets[-1] != self.n_tokens:
            raise ShardError(f"{self.path}: corrupt: document offsets do not span the {self.n_tokens} tokens")

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return f"Shard({str(self.path)!r}, docs={self.n_docs}, tokens={self.n_tokens}, vocab_size={self.vocab_size})"

    def doc(self, i: int) -> np.ndarray:
        if not -self.n_docs <= i < self.n_docs:
            raise IndexError(f"{self.path}: document {i} out of range ({self.n_docs} documents)")
        i %= self.n_docs
        return self.tokens[self.doc_offsets[i] : self.doc_offsets[i + 1]]

    def doc_mask(self, i: int) -> np.ndarray:
        if not -self.n_docs <= i < self.n_docs:
            raise IndexError(f"{self.path}: document {i} out of range ({self.n_docs} documents)")
        i %= self.n_docs
        return self.loss_mask[self.doc_offsets[i] : self.doc_offsets[i + 1]]

    def verify(self) -> None:
        """Recompute the checksum and check every offset; O(file size), so not done on open."""
        hashes = []
        for arr in (self.tokens, self.loss_mask, self.doc_offsets):
            h = _hasher()
            raw = arr.view(np.uint8)
            for start in range(0, raw.size, _CHUNK_BYTES):
                h.update(raw[start : start + _CHUNK_BYTES].tobytes())
            hashes.append(h)
        if _combine(*hashes) != self.checksum:
            raise ShardError(f"{self.path}: corrupt: checksum mismatch (the file changed after it was written)")
        if self.n_docs and np.any(np.diff(self.doc_offsets) < 0):
            raise ShardError(f"{self.path}: corrupt: document offsets are not increasing")
        self._max_token_id = int(self.tokens.max()) if self.n_tokens else -1
        if self._max_token_id >= self.vocab_size:
            raise ShardError(f"{self.path}: corrupt: token id >= vocab_size {self.vocab_size}")
        _VERIFIED[self._stat] = self._max_token_id

    def verify_once(self, record: dict | None = None) -> None:
        """verify(), skipped when `record` (written with the shard, and older than nothing on disk: the caller
        checks) holds this header's checksum, or when this process verified this path, size and mtime."""
        if record and record.get("checksum") == self.checksum.hex() and isinstance(record.get("max_token_id"), int):
            self._max_token_id = record["max_token_id"]
        elif self._stat in _VERIFIED:
            self._max_token_id = _VERIFIED[self._stat]
        else:
            self.verify()

    def record(self) -> dict:
        """What verify_once needs to trust this file later without reading it: keep it beside the shard."""
        return {"checksum": self.checksum.hex(), "max_token_id": self.max_token_id()}

    def max_token_id(self) -> int:
        if self._max_token_id is None:
            self._max_token_id = int(self.tokens.max()) if self.n_tokens else -1
        return self._max_token_id

    def check_vocab(self, vocab_size: int, what: str = "the model") -> None:
        """Raise ShardError naming the first token id a `vocab_size`-row embedding has no row for."""
        if self.max_token_id() < vocab_size:
            return
        for start in range(0, self.n_tokens, _CHUNK_BYTES):  # chunked: no bool array the size of the shard
            hits = np.flatnonzero(self.tokens[start : start + _CHUNK_BYTES] >= vocab_size)
            if hits.size:
                off = start + int(hits[0])
                doc = int(np.searchsorted(self.doc_offsets, off, side="right")) - 1
                raise ShardError(f"{self.path}: token {off} (document {doc}) has id {int(self.tokens[off])}, "
                                 f"outside {what}'s vocabulary of {vocab_size}; the shard was made with another "
                                 f"tokenizer: delete it and run again")


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    # verbose=False: documents longer than the model's context are fine, they are cut into windows later
    return tokenizer(texts, add_special_tokens=False, return_attention_mask=False, verbose=False)["input_ids"]


def _encode_batch(tokenizer, batch: list, eos_id: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    # one batched call for all the texts of a batch, so the fast tokenizer works on many documents in parallel
    texts: list[str] = []
    for d in batch:
        if isinstance(d, str):
            texts.append(d)
        elif isinstance(d, tuple):
            texts.extend(d)
        else:
            texts.extend(t for t, _ in d)
    ids = iter(_encode(tokenizer, texts))
    eos = np.array([eos_id], np.int64)
    for d in batch:
        if isinstance(d, str):
            tokens = np.concatenate([np.asarray(next(ids), np.int64), eos])
            mask = np.ones(tokens.size, np.uint8)
        else:
            # (prompt, response) is the two-segment case: prompt masked, response a target
            segs = [(d[0], False), (d[1], True)] if isinstance(d, tuple) else d
            parts = [np.asarray(next(ids), np.int64) for _ in segs]
            tokens = np.concatenate(parts + [eos])
            mask = np.concatenate([np.full(p.size, 1 if tgt else 0, np.uint8) for p, (_, tgt) in zip(parts, segs)]
                                  + [np.ones(1, np.uint8)])
        yield tokens, mask


def _doc_bytes(d) -> int | None:
    """UTF-8 size of a document, or None when it is not one of the accepted shapes."""
    if isinstance(d, str):
        return len(d.encode("utf-8"))
    if isinstance(d, tuple) and len(d) == 2 and all(isinstance(x, str) for x in d):
        return len(d[0].encode("utf-8")) + len(d[1].encode("utf-8"))
    if isinstance(d, list) and d and all(
        isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) and isinstance(s[1], bool) for s in d
    ):
        return sum(len(t.encode("utf-8")) for t, _ in d)
    return None


def tokenize_to_shard(
    tokenizer,
    docs: Iterable[str | tuple[str, str] | list[tuple[str, bool]]],
    path: str | os.PathLike,
    *,
    eos_id: int,
    batch_docs: int = 512,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Encode documents, EOS after each (a target too); a (prompt, response) pair masks the prompt out of the
    loss; a list of (text, is_target) segments (a rendered conversation) masks every non-target segment."""
    vocab_size = len(tokenizer)
    if not 0 <= eos_id < vocab_size:
        raise ShardError(f"{path}: eos_id {eos_id} is outside the tokenizer's vocabulary (size {vocab_size})")
    if batch_docs <= 0:
        raise ValueError(f"batch_docs must be positive, got {batch_docs}")
    text_bytes = 0

    def encoded() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        nonlocal text_bytes
        done = 0
        batch: list = []
        for d in docs:
            size = _doc_bytes(d)
            if size is None:
                what = f"{type(d).__name__} of {len(d)}" if isinstance(d, (tuple, list)) else type(d).__name__
                i = done + len(batch)
                raise ShardError(f"{path}: document {i}: expected a string, (prompt, response) strings or a "
                                 f"non-empty list of (text, is_target) segments, got {what}")
            text_bytes += size
            batch.append(d)
            if len(batch) >= batch_docs:
                yield from _encode_batch(tokenizer, batch, eos_id)
                done += len(batch)
                batch = []
                if progress:
                    progress(done)
        if batch:
            yield from _encode_batch(tokenizer, batch, eos_id)
            done += len(batch)
            if progress:
                progress(done)

    stats = write_shard(path, encoded(), vocab_size)
    return {**stats, "bytes": text_bytes}
