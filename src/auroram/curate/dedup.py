"""Exact and near-duplicate removal across all input files, with signatures on disk, split into buckets.

Stage 1 (every task): each surviving document's key, shingle set and shingle count are appended to per-task
files, and its content hash and LSH band keys to one file per bucket (a hash modulo the bucket count, which
is at least the task count and the band count): equal hashes and equal band keys land in the same bucket.
Stage 2, exact (one task a bucket): equal content hashes in the bucket; every copy but the smallest global
(file, record) key is removed.
Stage 2, near (one task a bucket): equal (band, band key) pairs among the documents no exact copy removed
give candidate pairs.
Stage 2, clusters (one task): a candidate pair counts only when the exact Jaccard similarity of the two
shingle sets (read from disk) reaches `threshold`, so the MinHash estimate's sampling error cannot merge
pages below the threshold; verified pairs are merged into clusters that keep their document with the
smallest key, so the result does not depend on the task count.
A bucket task holds its bucket's rows: ~16 / buckets bytes a document for the hashes, ~24 x bands / buckets for
the band keys (about 24 with one bucket a band); the cluster task holds the pairs and one input task's keys
and shingle counts at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from auroram.curate.config import CurateConfig, DedupConfig
from auroram.curate.steps import CurateStep, nbytes
from auroram.curate.text import split_words

MERSENNE61 = np.uint64((1 << 61) - 1)
_MUL = np.uint64(1_000_003)
_MASK32 = np.uint64(0xFFFFFFFF)
EMPTY_BAND = np.uint64(0)  # never a band key (a computed 0 becomes 1), as when 0 marked a document without words
REASON_EXACT, REASON_NEAR = 1, 2


def make_key(file_idx: int, rec: int) -> int:
    return (file_idx << 32) | rec


def key_str(key: int) -> str:
    return f"{key >> 32}:{key & 0xFFFFFFFF}"


class MinHasher:
    def __init__(self, cfg: DedupConfig):
        self.n = cfg.n_grams
        self.bands = cfg.bands
        self.rows = cfg.rows_per_band
        self.num_perm = cfg.bands * cfg.rows_per_band
        rng = np.random.default_rng(cfg.seed)
        # a < 2^31 and shingles < 2^32 keep a*x + b inside uint64 before the modulo
        self.a = rng.integers(1, 1 << 31, self.num_perm, dtype=np.uint64)
        self.b = rng.integers(0, (1 << 61) - 1, self.num_perm, dtype=np.uint64)
        self._pow = np.array([pow(1_000_003, j, 1 << 64) for j in range(self.rows)][::-1], dtype=np.uint64)

    def shingles(self, text: str, lang: str) -> np.ndarray:
        words = split_words(text.lower(), lang)
        if not words:
            return np.zeros(0, np.uint64)
        th = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.uint64, count=len(words))
        n = min(self.n, len(th))
        m = len(th) - n + 1
        h = np.zeros(m, np.uint64)
        for j in range(n):
            h = h * _MUL + th[j: j + m]
        h = (h ^ (h >> np.uint64(32))) & _MASK32
        return np.unique(h)

    def signature(self, sh: np.ndarray) -> np.ndarray:
        mins = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        for s in range(0, len(sh), 4096):  # bounded temporaries for huge documents
            chunk = sh[s: s + 4096, None]
            mins = np.minimum(mins, ((chunk * self.a + self.b) % MERSENNE61).min(axis=0))
        return (mins & _MASK32).astype(np.uint32)

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        s = sig.reshape(self.bands, self.rows).astype(np.uint64)
        k = (s * self._pow).sum(axis=1, dtype=np.uint64) * _MUL + np.arange(1, self.bands + 1, dtype=np.uint64)
        k[k == EMPTY_BAND] = 1
        return k


def exact_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class SigWriter:
    """Appends each document's rows to the task's signature files (buffered, renamed whole at the end):
    keys.bin, shingles.bin and n_shingles.bin in document order; exact_NNNNN.bin (content hash, key) and
    near_NNNNN.bin (band, band key, key) one per bucket."""

    def __init__(self, sig_dir: Path, rank: int, cfg: DedupConfig, buckets: int = 1):
        self.dir = sig_dir / f"{rank:05d}"
        self.tmp = sig_dir / f".{rank:05d}.tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.hasher = MinHasher(cfg)
        self.cfg = cfg
        self.buckets = max(1, int(buckets))
        self.buf: dict[str, list[np.ndarray]] = {"keys": [], "exact": [], "bands": [], "shingles": [],
                                                 "n_shingles": []}
        self.files = {name: open(self.tmp / f"{name}.bin", "wb") for name in ("keys", "shingles", "n_shingles")}
        for b in range(self.buckets):  # every bucket file exists, empty or not
            for kind in ("exact", "near"):
                (self.tmp / bucket_file(kind, b)).touch()
        self.rows = 0
        self.buffered_shingles = 0

    def add(self, key: int, text: str, lang: str) -> None:
        self.buf["keys"].append(np.array([key], np.uint64))
        self.buf["exact"].append(np.array([exact_hash(text), key], np.uint64))
        if self.cfg.near:
            sh = self.hasher.shingles(text, lang)
            if sh.size:
                bands = self.hasher.band_keys(self.hasher.signature(sh))
                rows = np.stack([np.arange(self.hasher.bands, dtype=np.uint64), bands,
                                 np.full(self.hasher.bands, key, np.uint64)], axis=1)
                self.buf["bands"].append(rows)  # a document without a single word is left out of near-dup matching
            # the set itself, so the cluster stage can verify candidates by their exact Jaccard similarity
            self.buf["shingles"].append(sh.astype(np.uint32))
            self.buf["n_shingles"].append(np.array([sh.size], np.uint32))
            self.buffered_shingles += sh.size
        self.rows += 1
        if len(self.buf["keys"]) >= 4096 or self.buffered_shingles >= 1 << 18:  # memory flat for huge documents
            self.flush()

    def _spread(self, kind: str, rows: np.ndarray, col: int) -> None:
        """Rows appended to their bucket's file, the bucket being column `col` modulo the bucket count."""
        bucket = rows[:, col] % np.uint64(self.buckets)
        order = np.argsort(bucket, kind="stable")
        rows, bucket = rows[order], bucket[order]
        edges = np.searchsorted(bucket, np.arange(self.buckets + 1, dtype=np.uint64))
        for b in range(self.buckets):
            if edges[b + 1] > edges[b]:
                with open(self.tmp / bucket_file(kind, b), "ab") as fh:
                    fh.write(rows[edges[b]:edges[b + 1]].tobytes())

    def flush(self) -> None:
        for name, parts in self.buf.items():
            if not parts:
                continue
            if name == "exact":
                self._spread("exact", np.stack(parts), 0)
            elif name == "bands":
                self._spread("near", np.concatenate(parts), 1)
            else:
                self.files[name].write(np.concatenate(parts).tobytes())
            parts.clear()
        self.buffered_shingles = 0

    def close(self) -> None:
        import shutil

        self.flush()
        for fh in self.files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        (self.tmp / "meta.json").write_text(json.dumps({"rows": self.rows, "buckets": self.buckets}))
        if self.dir.exists():
            shutil.rmtree(self.dir)
        os.replace(self.tmp, self.dir)


def bucket_file(kind: str, bucket: int) -> str:
    return f"{kind}_{bucket:05d}.bin"


def _bucket_rows(sig_dir: Path, ranks: list[int], kind: str, bucket: int, cols: int) -> np.ndarray:
    """Every input task's rows of one bucket, one after another."""
    parts = [np.fromfile(sig_dir / f"{r:05d}" / bucket_file(kind, bucket), dtype=np.uint64).reshape(-1, cols)
             for r in ranks]
    return np.concatenate(parts) if parts else np.zeros((0, cols), np.uint64)


def _firsts(groups: list[np.ndarray], keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by the group columns, then by key: (each non-first row's key, its group's first key)."""
    order = np.lexsort((keys, *reversed(groups)))
    ks = keys[order]
    same = np.zeros(len(ks), bool)
    if len(ks):
        same[1:] = np.logical_and.reduce([g[order][1:] == g[order][:-1] for g in groups])
    first = np.maximum.accumulate(np.where(~same, np.arange(len(ks)), 0))
    dup = np.nonzero(same)[0]
    return ks[dup], ks[first[dup]]


class _DedupStage(PipelineStep):
    type = "auroram curate"

    def __init__(self, cfg: CurateConfig, work_dir: str, tasks: int, buckets: int):
        super().__init__()
        self.cfg = cfg
        self.work = Path(work_dir)
        self.tasks = tasks  # the input tasks whose signature files are read
        self.buckets = buckets

    @property
    def sigs(self) -> Path:
        return self.work / "sigs"


class DedupExactStep(_DedupStage):
    """Stage 2, one task a bucket: exact copies, every one but the smallest key removed."""

    name = "dedup exact"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from auroram.io import atomic_file

        removed = of = np.zeros(0, np.uint64)
        if self.cfg.dedup.exact:
            rows = _bucket_rows(self.sigs, list(range(self.tasks)), "exact", rank, 2)
            removed, of = _firsts([rows[:, 0]], rows[:, 1])
        out = self.work / "dups" / "exact"
        out.mkdir(parents=True, exist_ok=True)
        with atomic_file(out / f"{rank:05d}.npz", "wb") as fh:
            np.savez(fh, keys=removed, of=of)
        return
        yield  # a generator, as datatrove steps are


def _exact_removed(work: Path, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    z = [np.load(work / "dups" / "exact" / f"{b:05d}.npz") for b in range(buckets)]
    if not z:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    return np.concatenate([x["keys"] for x in z]), np.concatenate([x["of"] for x in z])


class DedupNearStep(_DedupStage):
    """Stage 2, one task a bucket: documents no exact copy removed that share a band key (in the same band)
    give candidate pairs (the group's smallest key, each other key)."""

    name = "dedup near candidates"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from auroram.io import atomic_file

        pairs = np.zeros((0, 2), np.uint64)
        if self.cfg.dedup.near:
            rows = _bucket_rows(self.sigs, list(range(self.tasks)), "near", rank, 3)
            rows = rows[~np.isin(rows[:, 2], _exact_removed(self.work, self.buckets)[0])]
            other, first = _firsts([rows[:, 0], rows[:, 1]], rows[:, 2])
            if len(other):
                pairs = np.unique(np.stack([first, other], axis=1), axis=0)
        out = self.work / "dups" / "near"
        out.mkdir(parents=True, exist_ok=True)
        with atomic_file(out / f"{rank:05d}.npy", "wb") as fh:
            np.save(fh, pairs)
        return
        yield


class DedupClusterStep(_DedupStage):
    """Stage 2, one task: verifies the candidate pairs, clusters them, and writes the removal list."""

    name = "dedup clusters"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        d = self.cfg.dedup
        ranks = list(range(self.tasks))
        documents = sum(os.path.getsize(self.sigs / f"{r:05d}" / "keys.bin") // 8 for r in ranks)
        ek, eof = _exact_removed(self.work, self.buckets)
        removed_keys, removed_of = [ek], [eof]
        removed_reason = [np.full(len(ek), REASON_EXACT, np.uint8)]
        removed_sim = [np.ones(len(ek), np.float32)]
        found = [np.load(self.work / "dups" / "near" / f"{b:05d}.npy") for b in range(self.buckets)]
        pairs = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, 2), np.uint64)
        n_candidates, n_verified = len(pairs), 0
        if d.near and len(pairs):
            sims = self._jaccard(pairs, ranks)
            keep = sims >= d.threshold
            pairs, sims = pairs[keep], sims[keep]
            n_verified = len(pairs)
            nk, nof, nsim = _clusters(pairs, sims)
            removed_keys.append(nk)
            removed_of.append(nof)
            removed_reason.append(np.full(len(nk), REASON_NEAR, np.uint8))
            removed_sim.append(nsim)
        rk = np.concatenate(removed_keys)
        order = np.argsort(rk, kind="stable")
        out = self.work / "dups"
        out.mkdir(parents=True, exist_ok=True)
        from auroram.io import atomic_file, write_json

        with atomic_file(out / "remove.npz", "wb") as fh:
            np.savez(fh, keys=rk[order], reason=np.concatenate(removed_reason)[order],
                     dup_of=np.concatenate(removed_of)[order], sim=np.concatenate(removed_sim)[order])
        write_json(out / "summary.json", {"documents": int(documents), "candidate_pairs": int(n_candidates),
                                          "verified_pairs": int(n_verified), "removed": int(len(rk))})
        return
        yield

    def _jaccard(self, pairs: np.ndarray, ranks: list[int]) -> np.ndarray:
        """Exact Jaccard similarity of each candidate pair's shingle sets, read from the disk one set at a time.
        Where each document's set lies is found one input task at a time (its keys and shingle counts), so only
        the pairs' documents are held, not every document's."""
        members = np.unique(pairs)
        owner = np.full(len(members), -1, np.int64)
        count = np.zeros(len(members), np.int64)
        start = np.zeros(len(members), np.int64)
        for r in ranks:
            keys = np.fromfile(self.sigs / f"{r:05d}" / "keys.bin", dtype=np.uint64)
            if not len(keys):
                continue
            by_key = np.argsort(keys, kind="stable")
            sorted_keys = keys[by_key]
            pos = np.minimum(np.searchsorted(sorted_keys, members), len(keys) - 1)
            hit = sorted_keys[pos] == members
            rows = by_key[pos[hit]]
            n = np.fromfile(self.sigs / f"{r:05d}" / "n_shingles.bin", dtype=np.uint32).astype(np.int64)
            owner[hit], count[hit] = r, n[rows]
            start[hit] = (np.cumsum(n) - n)[rows]
            del keys, by_key, sorted_keys, n
        # positioned reads, not a memmap: mapped pages would count towards the resident memory as they are touched
        fds = {r: os.open(self.sigs / f"{r:05d}" / "shingles.bin", os.O_RDONLY) for r in ranks}
        ia, ib = np.searchsorted(members, pairs[:, 0]), np.searchsorted(members, pairs[:, 1])
        sims = np.empty(len(pairs), np.float32)

        def read(i: int) -> np.ndarray:
            return np.frombuffer(os.pread(fds[int(owner[i])], 4 * int(count[i]), 4 * int(start[i])), dtype=np.uint32)

        try:
            for k, (a, b) in enumerate(zip(ia.tolist(), ib.tolist())):
                n1, n2 = int(count[a]), int(count[b])
                if not n1 or not n2:
                    sims[k] = 0.0
                    continue
                inter = np.intersect1d(read(a), read(b), assume_unique=True).size
                sims[k] = inter / (n1 + n2 - inter)
        finally:
            for fd in fds.values():
                os.close(fd)
        return sims


def _clusters(pairs: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union-find over verified pairs; every member but the smallest key is removed."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    best: dict[int, float] = {}
    for (a, b), s in zip(pairs.tolist(), sims.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            parent[hi] = lo
        best[b] = max(best.get(b, 0.0), s)
        best[a] = max(best.get(a, 0.0), s)
    members = [k for k in parent if find(k) != k]
    members.sort()
    return (np.array(members, np.uint64), np.array([find(k) for k in members], np.uint64),
            np.array([best.get(k, 0.0) for k in members], np.float32))


class DedupFilterStep(CurateStep):
    """Stage 3: drops what stage 2 listed, as `exact_duplicate` or `near_duplicate` of the kept copy."""

    def __init__(self, cfg: CurateConfig, run_id: str, work_dir: str, step: str, reason_code: int):
        super().__init__(cfg, run_id)
        self.work = work_dir
        self.step = self.name = step
        self.reason_code = reason_code
        self._remove: dict[int, tuple[int, float]] | None = None

    def _load(self) -> dict[int, tuple[int, float]]:
        z = np.load(Path(self.work) / "dups" / "remove.npz")
        m = z["reason"] == self.reason_code
        return {int(k): (int(o), float(s)) for k, o, s in zip(z["keys"][m], z["dup_of"][m], z["sim"][m])}

    def check(self, doc: Document, lang: str):
        if self._remove is None:
            self._remove = self._load()
        hit = self._remove.get(doc.metadata["gkey"])
        if hit is None:
            return None
        of, sim = hit
        doc.metadata["duplicate_of"] = key_str(of)
        kind = "exact_duplicate" if self.reason_code == REASON_EXACT else "near_duplicate"
        return kind, f"of {key_str(of)}" + ("" if self.reason_code == REASON_EXACT else f" (similarity {sim:.2f})")


def pending_doc(rec: dict[str, Any]) -> Document:
    meta = {k: v for k, v in rec.items() if k not in ("id", "text")}
    meta["gkey"] = make_key(*rec["key"])
    meta["bytes"] = nbytes(rec["text"])
    return Document(text=rec["text"], id=rec["id"], metadata=meta)
