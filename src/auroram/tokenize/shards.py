"""Packed token shards: one binary file per source, read through memory maps.

Layout (little-endian):
    header   64 bytes: magic b"AURSHRD1", version u32, token itemsize u32 (2 or 4), n_tokens u64,
             n_docs u64, vocab_size u64, blake2b-128 checksum of the three arrays, flags u32 (bit 0: the
             file has a loss-mask channel), zero padding
    tokens   n_tokens x uint16/uint32
    mask     n_tokens x uint8 (1: the token is a training target); absent from an unmasked shard, where
             every token is a target (plain text: a uint16 file one third smaller)
    padding  zeros up to a multiple of 8 bytes, so the offsets are aligned
    offsets  (n_docs + 1) x int64; document i is tokens[offsets[i]:offsets[i+1]]

Version 1 files (no flags word, always masked) still read; everything written now is version 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import struct
import tempfile
import weakref
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from auroram.errors import AuroramError
from auroram.io import atomic_file

MAGIC = b"AURSHRD1"
VERSION = 2
_READS = (1, 2)
_HEAD = struct.Struct("<8sIIQQQ16s")
_FLAGS = struct.Struct("<I")  # version 2: in the header's spare bytes, right after _HEAD
FLAG_MASKED = 1
HEADER_BYTES = 64
_CHUNK_BYTES = 1 << 22  # a multiple of 8, so chunks of any array region stay whole elements
# positioned reads where the OS has them: pages read this way are not mapped into the process, so its RSS
# stays flat however much of a large shard training and checks have touched (a memory map's touched pages
# all count, and a batch scheduler may kill a job by RSS)
_PREAD = hasattr(os, "preadv") and hasattr(os, "pread")


class ShardError(AuroramError, ValueError):
    """A shard file is missing, truncated, corrupt or not a shard; the message names the file."""


# (resolved path, bytes, mtime_ns) -> largest token id, for shards this process has checksummed already
_VERIFIED: dict[tuple[str, int, int], int] = {}


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def _layout(n_tokens: int, n_docs: int, itemsize: int, masked: bool = True) -> tuple[int, int, int, int]:
    # (mask offset, offsets offset, total file bytes, padding bytes before offsets)
    mask_at = HEADER_BYTES + n_tokens * itemsize
    end_mask = mask_at + (n_tokens if masked else 0)
    offsets_at = (end_mask + 7) // 8 * 8
    return mask_at, offsets_at, offsets_at + (n_docs + 1) * 8, offsets_at - end_mask


def _combine(h_tokens: "hashlib._Hash", h_mask: "hashlib._Hash", h_offsets: "hashlib._Hash") -> bytes:
    # one hash per array so the writer can stream all three at once and the reader can check them in file order;
    # an unmasked shard passes the hash of nothing for its mask
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


def _check_doc(path: Path, i: int, tokens, mask, vocab_size: int,
               masked: bool = True) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(tokens, 0/1 mask or None when the shard is unmasked, largest id or -1)."""
    tokens = np.asarray(tokens)
    where = f"{path}: document {i}"
    if tokens.ndim != 1:
        raise ShardError(f"{where}: tokens must be 1-D, got shape {tokens.shape}")
    hi = -1
    if tokens.size:
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= vocab_size:
            raise ShardError(f"{where}: token id {lo if lo < 0 else hi} outside the vocabulary (size {vocab_size})")
    if mask is None:
        return tokens, (np.ones(tokens.size, np.uint8) if masked else None), hi
    m = np.asarray(mask)
    if m.shape != tokens.shape:
        raise ShardError(f"{where}: loss mask shape {m.shape} != tokens shape {tokens.shape}")
    if not masked:
        if not m.all():
            raise ShardError(f"{where}: masks {int(m.size - np.count_nonzero(m))} tokens out of the loss, but the "
                             f"shard is written without a loss-mask channel (masked=False)")
        return tokens, None, hi
    return tokens, (m != 0).astype(np.uint8), hi


def write_shard(
    path: str | os.PathLike,
    docs: Iterable[tuple[np.ndarray, np.ndarray | None]],
    vocab_size: int,
    *,
    masked: bool = True,
) -> dict:
    """Write (tokens, loss mask or None for all-ones) per document; memory stays flat in the input size.

    masked=False writes no mask channel (plain text, where every token is a target); a document that masks
    a token out is then an error, not silently trained on."""
    return _write_shard(Path(path), docs, vocab_size, masked)[0]


def _write_shard(path: Path, docs: Iterable[tuple[np.ndarray, np.ndarray | None]], vocab_size: int,
                 masked: bool) -> tuple[dict, bytes, int]:
    """write_shard, also returning the checksum and the largest token id (-1 when empty), known for free here."""
    if vocab_size <= 0 or vocab_size > 2**32:
        raise ShardError(f"{path}: vocab_size must be in 1..2**32, got {vocab_size}")
    dtype = token_dtype(vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    h_tok, h_mask, h_off = _hasher(), _hasher(), _hasher()
    n_tokens = 0
    n_docs = 0
    max_id = -1
    with atomic_file(path, "wb") as out, _spill(path, "mask") as mask_tmp, _spill(path, "offsets") as off_tmp:
        with open(mask_tmp, "wb") as mask_fh, open(off_tmp, "wb") as off_fh:
            out.write(b"\0" * HEADER_BYTES)  # placeholder; the real header needs the final counts
            first = np.zeros(1, np.int64).tobytes()
            off_fh.write(first)
            h_off.update(first)
            for i, (tokens, mask) in enumerate(docs):
                tokens, m, hi = _check_doc(path, i, tokens, mask, vocab_size, masked)
                max_id = max(max_id, hi)
                tb = tokens.astype(dtype, copy=False).tobytes()
                out.write(tb)
                h_tok.update(tb)
                if m is not None:
                    mb = m.tobytes()
                    mask_fh.write(mb)
                    h_mask.update(mb)
                n_tokens += tokens.size
                n_docs += 1
                ob = np.array([n_tokens], np.int64).tobytes()
                off_fh.write(ob)
                h_off.update(ob)
        _copy_into(out, mask_tmp)  # empty when unmasked
        _, _, _, pad = _layout(n_tokens, n_docs, dtype.itemsize, masked)
        out.write(b"\0" * pad)
        _copy_into(out, off_tmp)
        out.seek(0)
        checksum = _combine(h_tok, h_mask, h_off)
        out.write(_pack_header(dtype.itemsize, n_tokens, n_docs, vocab_size, checksum, masked=masked))
    return {"documents": n_docs, "tokens": n_tokens}, checksum, max_id


def _pack_header(itemsize: int, n_tokens: int, n_docs: int, vocab_size: int, checksum: bytes,
                 *, masked: bool = True) -> bytes:
    head = _HEAD.pack(MAGIC, VERSION, itemsize, n_tokens, n_docs, vocab_size, checksum)
    head += _FLAGS.pack(FLAG_MASKED if masked else 0)
    return head + b"\0" * (HEADER_BYTES - len(head))


class Shard:
    """A shard opened read-only; arrays are memory maps, so opening costs nothing however large it is.

    windows() and the whole-file checks read with positioned reads instead of through the maps (where the
    OS has them), so they leave nothing mapped behind; doc() and the array attributes are the maps."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            mode = self.path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise ShardError(f"{self.path}: is a directory, not a shard file")
            if not stat.S_ISREG(mode):  # a FIFO would block the open below
                raise ShardError(f"{self.path}: not a regular file, not a shard file")
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise ShardError(f"{self.path}: shard file not found") from None
        except PermissionError:
            raise ShardError(f"{self.path}: cannot be read (permission denied)") from None
        # one descriptor for the header, the maps and the reads: a file renamed over this path later is not mixed in
        weakref.finalize(self, os.close, fd)
        self._fd = fd
        st = os.fstat(fd)
        size = st.st_size
        head = _read_at(fd, HEADER_BYTES, 0)
        if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
            raise ShardError(f"{self.path}: not an auroram shard (bad magic bytes)")
        if len(head) < HEADER_BYTES:
            raise ShardError(f"{self.path}: truncated: expected at least {HEADER_BYTES} header bytes, found {size}")
        _, version, itemsize, n_tokens, n_docs, vocab_size, checksum = _HEAD.unpack_from(head)
        if version not in _READS:
            raise ShardError(f"{self.path}: shard format version {version}, this auroram reads versions "
                             f"{', '.join(map(str, _READS))}")
        if itemsize not in (2, 4):
            raise ShardError(f"{self.path}: corrupt header: token size {itemsize} bytes (expected 2 or 4)")
        flags = FLAG_MASKED if version == 1 else _FLAGS.unpack_from(head, _HEAD.size)[0]
        if flags & ~FLAG_MASKED:
            raise ShardError(f"{self.path}: corrupt header: unknown flags {flags:#x}")
        self.masked = bool(flags & FLAG_MASKED)
        mask_at, offsets_at, total, _ = _layout(n_tokens, n_docs, itemsize, self.masked)
        if size != total:
            what = "truncated" if size < total else "corrupt: trailing bytes"
            raise ShardError(f"{self.path}: {what}: expected {total} bytes, found {size}")
        self.n_tokens = int(n_tokens)
        self.n_docs = int(n_docs)
        self.vocab_size = int(vocab_size)
        self.checksum = checksum
        self._stat = (str(self.path.resolve()), size, st.st_mtime_ns)
        self._max_token_id: int | None = None
        self._itemsize, self._mask_at, self._offsets_at, self._total = itemsize, mask_at, offsets_at, total
        self.token_dtype = np.dtype(np.uint16 if itemsize == 2 else np.uint32)
        self._maps: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None
        ends = np.frombuffer(_read_at(fd, 8, offsets_at) + _read_at(fd, 8, total - 8), np.int64)
        if ends[0] != 0 or ends[1] != self.n_tokens:
            raise ShardError(f"{self.path}: corrupt: document offsets do not span the {self.n_tokens} tokens")

    def _map(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        # made on first use: a shard set of many parts read only through windows() holds one descriptor a part
        if self._maps is None:
            with open(self._fd, "rb", closefd=False) as fh:
                buf = np.memmap(fh, dtype=np.uint8, mode="r")
            tokens = buf[HEADER_BYTES : self._mask_at].view(self.token_dtype)
            mask = buf[self._mask_at : self._mask_at + self.n_tokens] if self.masked else None
            self._maps = (tokens, mask, buf[self._offsets_at : self._total].view(np.int64))
        return self._maps

    @property
    def tokens(self) -> np.ndarray:
        return self._map()[0]

    @property
    def loss_mask(self) -> np.ndarray | None:
        """None when unmasked: every token is a target."""
        return self._map()[1]

    @property
    def doc_offsets(self) -> np.ndarray:
        return self._map()[2]

    def __reduce__(self):
        # reopened by path in the receiving process (a spawned worker): a descriptor number means nothing there
        return (type(self), (self.path,))

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return (f"Shard({str(self.path)!r}, docs={self.n_docs}, tokens={self.n_tokens}, vocab_size={self.vocab_size}"
                f"{'' if self.masked else ', unmasked'})")

    def doc(self, i: int) -> np.ndarray:
        if not -self.n_docs <= i < self.n_docs:
            raise IndexError(f"{self.path}: document {i} out of range ({self.n_docs} documents)")
        i %= self.n_docs
        return self.tokens[self.doc_offsets[i] : self.doc_offsets[i + 1]]

    def doc_mask(self, i: int) -> np.ndarray:
        """The document's loss mask; all ones in an unmasked shard."""
        if not -self.n_docs <= i < self.n_docs:
            raise IndexError(f"{self.path}: document {i} out of range ({self.n_docs} documents)")
        i %= self.n_docs
        lo, hi = int(self.doc_offsets[i]), int(self.doc_offsets[i + 1])
        return self.loss_mask[lo:hi] if self.loss_mask is not None else np.ones(hi - lo, np.uint8)

    def windows(self, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Tokens (int64) and loss mask (uint8, None when unmasked) of the windows tokens[s : s + length],
        as [len(starts), length] arrays: the one read the mixture makes per source and step."""
        starts = _check_windows(self, starts, length)
        if not _PREAD:
            idx = starts[:, None] + np.arange(length, dtype=np.int64)[None, :]
            return self.tokens[idx].astype(np.int64), (self.loss_mask[idx] if self.loss_mask is not None else None)
        # one read per row and array, the loop kept lean: this is the mixture's inner loop. About 3x the time
        # of fancy indexing the map (a syscall per row), bought for an RSS that does not grow with the data read
        toks = np.empty((starts.size, length), self.token_dtype)
        self._pread_rows(toks, (HEADER_BYTES + starts * self._itemsize).tolist())
        mask = None
        if self.masked:
            mask = np.empty((starts.size, length), np.uint8)
            self._pread_rows(mask, (self._mask_at + starts).tolist())
        return toks.astype(np.int64), mask

    def _pread_rows(self, out: np.ndarray, at: list[int]) -> None:
        fd, want, preadv = self._fd, out.shape[1] * out.itemsize, os.preadv
        for row, pos in zip(out, at):
            if preadv(fd, [row], pos) != want:
                raise ShardError(f"{self.path}: truncated while open: a read at byte {pos} came back short")

    def _read_into(self, toks: np.ndarray, mask: np.ndarray | None, start: int) -> None:
        """Fill toks (and mask, when the shard has one) with the tokens from `start` on: no bounds checks."""
        if not _PREAD:
            toks[:] = self.tokens[start : start + toks.size]
            if mask is not None:
                mask[:] = self.loss_mask[start : start + mask.size]
            return
        at = HEADER_BYTES + start * self._itemsize
        if os.preadv(self._fd, [toks], at) != toks.nbytes:
            raise ShardError(f"{self.path}: truncated while open: a read at byte {at} came back short")
        if mask is not None and os.preadv(self._fd, [mask], self._mask_at + start) != mask.nbytes:
            raise ShardError(f"{self.path}: truncated while open: a read at byte {self._mask_at + start} came back "
                             f"short")

    def _chunks(self, at: int, nbytes: int) -> Iterator[np.ndarray]:
        """The bytes [at, at + nbytes) in chunks of _CHUNK_BYTES; each chunk is valid until the next."""
        if not _PREAD:
            with open(self._fd, "rb", closefd=False) as fh:
                raw = np.memmap(fh, dtype=np.uint8, mode="r")
            for start in range(0, nbytes, _CHUNK_BYTES):
                yield raw[at + start : at + min(start + _CHUNK_BYTES, nbytes)]
            return
        buf = np.empty(min(nbytes, _CHUNK_BYTES), np.uint8)
        for start in range(0, nbytes, _CHUNK_BYTES):
            n = min(_CHUNK_BYTES, nbytes - start)
            if os.preadv(self._fd, [buf[:n]], at + start) != n:
                raise ShardError(f"{self.path}: truncated while open: a read at byte {at + start} came back short")
            yield buf[:n]

    def _token_chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first token's index, tokens) chunk by chunk."""
        pos = 0
        for raw in self._chunks(HEADER_BYTES, self.n_tokens * self._itemsize):
            toks = raw.view(self.token_dtype)
            yield pos, toks
            pos += toks.size

    def mtime_ns(self) -> int:
        """When the file last changed: a record kept beside it is trustworthy only if written after this."""
        return os.stat(self.path).st_mtime_ns

    def verify(self) -> None:
        """Recompute the checksum and check every offset; O(file size), so not done on open."""
        h_tok, h_mask, h_off = _hasher(), _hasher(), _hasher()
        top = -1
        for _, toks in self._token_chunks():
            h_tok.update(toks)
            if toks.size:
                top = max(top, int(toks.max()))
        for raw in self._chunks(self._mask_at, self.n_tokens if self.masked else 0):
            h_mask.update(raw)
        last, increasing = 0, True
        for raw in self._chunks(self._offsets_at, (self.n_docs + 1) * 8):
            h_off.update(raw)
            offs = raw.view(np.int64)
            increasing = increasing and bool(offs[0] >= last) and not np.any(np.diff(offs) < 0)
            last = int(offs[-1])
        if _combine(h_tok, h_mask, h_off) != self.checksum:
            raise ShardError(f"{self.path}: corrupt: checksum mismatch (the file changed after it was written)")
        if not increasing:
            raise ShardError(f"{self.path}: corrupt: document offsets are not increasing")
        self._max_token_id = top
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
            self._max_token_id = max((int(t.max()) for _, t in self._token_chunks() if t.size), default=-1)
        return self._max_token_id

    def check_vocab(self, vocab_size: int, what: str = "the model") -> None:
        """Raise ShardError naming the first token id a `vocab_size`-row embedding has no row for."""
        if self.max_token_id() < vocab_size:
            return
        for start, toks in self._token_chunks():  # chunked: no bool array the size of the shard
            hits = np.flatnonzero(toks >= vocab_size)
            if hits.size:
                off = start + int(hits[0])
                doc = int(np.searchsorted(self.doc_offsets, off, side="right")) - 1
                raise ShardError(f"{self.path}: token {off} (document {doc}) has id {int(self.tokens[off])}, "
                                 f"outside {what}'s vocabulary of {vocab_size}; the shard was made with another "
                                 f"tokenizer: delete it and run again")


def _read_at(fd: int, n: int, at: int) -> bytes:
    if _PREAD:
        return os.pread(fd, n, at)
    os.lseek(fd, at, os.SEEK_SET)
    return os.read(fd, n)


def _check_windows(src, starts, length: int) -> np.ndarray:
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    if length <= 0:
        raise ValueError(f"{src.path}: window length must be positive, got {length}")
    if starts.size and (int(starts.min()) < 0 or int(starts.max()) + length > src.n_tokens):
        bad = int(starts.min()) if int(starts.min()) < 0 else int(starts.max())
        raise IndexError(f"{src.path}: window [{bad}, {bad + length}) outside the {src.n_tokens} tokens")
    return starts


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    # verbose=False: documents longer than the model's context are fine, they are cut into windows later
    return tokenizer(texts, add_special_tokens=False, return_attention_mask=False, verbose=False)["input_ids"]


def _encode_batch(tokenizer, batch: list, eos_id: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
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
            mask = None  # every token a target: the writer adds the ones where the shard has a mask channel
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


class _Encoded:
    """The documents encoded batch by batch, (tokens, mask) each, counting the UTF-8 bytes of text read."""

    def __init__(self, tokenizer, docs: Iterable, where: Path, eos_id: int, batch_docs: int,
                 progress: Callable[[int], None] | None):
        vocab_size = len(tokenizer)
        if not 0 <= eos_id < vocab_size:
            raise ShardError(f"{where}: eos_id {eos_id} is outside the tokenizer's vocabulary (size {vocab_size})")
        if batch_docs <= 0:
            raise ValueError(f"batch_docs must be positive, got {batch_docs}")
        self.tokenizer, self.docs, self.where, self.eos_id = tokenizer, docs, where, eos_id
        self.batch_docs, self.progress = batch_docs, progress
        self.text_bytes = 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        done = 0
        batch: list = []
        for d in self.docs:
            size = _doc_bytes(d)
            if size is None:
                what = f"{type(d).__name__} of {len(d)}" if isinstance(d, (tuple, list)) else type(d).__name__
                i = done + len(batch)
                raise ShardError(f"{self.where}: document {i}: expected a string, (prompt, response) strings or a "
                                 f"non-empty list of (text, is_target) segments, got {what}")
            self.text_bytes += size
            batch.append(d)
            if len(batch) >= self.batch_docs:
                yield from _encode_batch(self.tokenizer, batch, self.eos_id)
                done += len(batch)
                batch = []
                if self.progress:
                    self.progress(done)
        if batch:
            yield from _encode_batch(self.tokenizer, batch, self.eos_id)
            done += len(batch)
            if self.progress:
                self.progress(done)


def tokenize_to_shard(
    tokenizer,
    docs: Iterable[str | tuple[str, str] | list[tuple[str, bool]]],
    path: str | os.PathLike,
    *,
    eos_id: int,
    batch_docs: int = 512,
    progress: Callable[[int], None] | None = None,
    masked: bool = True,
) -> dict:
    """Encode documents, EOS after each (a target too); a (prompt, response) pair masks the prompt out of the
    loss; a list of (text, is_target) segments (a rendered conversation) masks every non-target segment.
    masked=False writes no mask channel: for plain text only (a masked-out token is then an error)."""
    enc = _Encoded(tokenizer, docs, Path(path), eos_id, batch_docs, progress)
    stats = write_shard(path, enc, len(tokenizer), masked=masked)
    return {**stats, "bytes": enc.text_bytes}
