"""Exact and near-duplicate removal across all input files, with signatures on disk.

Stage 1 (every task): each surviving document's content hash, MinHash signature, LSH band keys and its
shingle set are appended to per-task files. Stage 2 (one task): band by band, equal keys give candidate
pairs; a pair counts only when the exact Jaccard similarity of the two shingle sets (read from disk)
reaches `threshold`, so the MinHash estimate's sampling error cannot merge pages below the threshold.
Verified pairs are merged into clusters that keep their document with the smallest
global (file, record) key, so the result does not depend on the task count. Memory in stage 2 is ~24
bytes per document for one band at a time, the pairs, and one chunk of shingle sets.
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
EMPTY_BAND = np.uint64(0)  # documents without a single word are left out of near-dup matching
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
    """Appends one row per document to the task's signature files (buffered, renamed whole at the end)."""

    def __init__(self, sig_dir: Path, rank: int, cfg: DedupConfig):
        self.dir = sig_dir / f"{rank:05d}"
        self.tmp = sig_dir / f".{rank:05d}.tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.hasher = MinHasher(cfg)
        self.cfg = cfg
        self.buf: dict[str, list[np.ndarray]] = {"keys": [], "exact": [], "sig": [], "bands": [], "shingles": [],
                                                 "n_shingles": []}
        names = ["keys", "exact", "sig", "shingles", "n_shingles"] + [f"band_{b:03d}" for b in range(cfg.bands)]
        self.files = {name: open(self.tmp / f"{name}.bin", "wb") for name in names}
        self.rows = 0
        self.buffered_shingles = 0

    def add(self, key: int, text: str, lang: str) -> None:
        self.buf["keys"].append(np.array([key], np.uint64))
        self.buf["exact"].append(np.array([exact_hash(text)], np.uint64))
        if self.cfg.near:
            sh = self.hasher.shingles(text, lang)
            if sh.size:
                sig = self.hasher.signature(sh)
                bands = self.hasher.band_keys(sig)
            else:
                sig = np.zeros(self.hasher.num_perm, np.uint32)
                bands = np.zeros(self.hasher.bands, np.uint64)
            self.buf["sig"].append(sig)
            self.buf["bands"].append(bands)
            # the set itself, so stage 2 can verify candidates by their exact Jaccard similarity
            self.buf["shingles"].append(sh.astype(np.uint32))
            self.buf["n_shingles"].append(np.array([sh.size], np.uint32))
            self.buffered_shingles += sh.size
        self.rows += 1
        if len(self.buf["keys"]) >= 4096 or self.buffered_shingles >= 1 << 18:  # memory flat for huge documents
            self.flush()

    def flush(self) -> None:
        for name, parts in self.buf.items():
            if not parts:
                continue
            if name == "bands":  # one file per band, so stage 2 reads one band at a time
                cols = np.stack(parts)
                for b in range(cols.shape[1]):
                    self.files[f"band_{b:03d}"].write(cols[:, b].tobytes())
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
        (self.tmp / "meta.json").write_text(json.dumps({"rows": self.rows}))
        if self.dir.exists():
            shutil.rmtree(self.dir)
        os.replace(self.tmp, self.dir)


def _load(sig_dir: Path, rank: int, name: str, dtype, cols: int = 1) -> np.ndarray:
    a = np.fromfile(sig_dir / f"{rank:05d}" / f"{name}.bin", dtype=dtype)
    return a.reshape(-1, cols) if cols > 1 else a


class DedupClusterStep(PipelineStep):
    """Stage 2: one task finds every duplicate and writes the removal list."""

    type = "auroram curate"
    name = "dedup clusters"

    def __init__(self, cfg: CurateConfig, work_dir: str, tasks: int):
        super().__init__()
        self.cfg = cfg
        self.work = Path(work_dir)
        self.tasks = tasks

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        d = self.cfg.dedup
        sig_dir = self.work / "sigs"
        ranks = list(range(self.tasks))
        keys = np.concatenate([_load(sig_dir, r, "keys", np.uint64) for r in ranks] or [np.zeros(0, np.uint64)])
        removed_keys, removed_reason, removed_of, removed_sim = [], [], [], []
        alive = np.ones(len(keys), bool)
        if d.exact and len(keys):
            ex = np.concatenate([_load(sig_dir, r, "exact", np.uint64) for r in ranks])
            order = np.lexsort((keys, ex))
            se, sk = ex[order], keys[order]
            same = np.zeros(len(se), bool)
            same[1:] = se[1:] == se[:-1]
            first = np.maximum.accumulate(np.where(~same, np.arange(len(se)), 0))
            dup = np.nonzero(same)[0]
            removed_keys.append(sk[dup])
            removed_of.append(sk[first[dup]])
            removed_reason.append(np.full(len(dup), REASON_EXACT, np.uint8))
            removed_sim.append(np.ones(len(dup), np.float32))
            alive[order[dup]] = False
            del ex, order, se, sk, same, first
        pairs = np.zeros((0, 2), np.uint64)
        n_candidates = n_verified = 0
        if d.near and len(keys):
            found = []
            for b in range(d.bands):
                band = np.concatenate([_load(sig_dir, r, f"band_{b:03d}", np.uint64) for r in ranks])
                ok = alive & (band != EMPTY_BAND)
                bk, kk = band[ok], keys[ok]
                order = np.lexsort((kk, bk))
                bs, ks = bk[order], kk[order]
                same = np.zeros(len(bs), bool)
                same[1:] = bs[1:] == bs[:-1]
                first = np.maximum.accumulate(np.where(~same, np.arange(len(bs)), 0))
                idx = np.nonzero(same)[0]
                if len(idx):
                    found.append(np.stack([ks[first[idx]], ks[idx]], axis=1))
                del band, ok, bk, kk, order, bs, ks, same, first
            if found:
                pairs = np.unique(np.concatenate(found), axis=0)
            n_candidates = len(pairs)
            if len(pairs):
                sims = self._jaccard(pairs, sig_dir, ranks)
                keep = sims >= d.threshold
                pairs, sims = pairs[keep], sims[keep]
                n_verified = len(pairs)
                nk, nof, nsim = _clusters(pairs, sims)
                removed_keys.append(nk)
                removed_of.append(nof)
                removed_reason.append(np.full(len(nk), REASON_NEAR, np.uint8))
                removed_sim.append(nsim)
        rk = np.concatenate(removed_keys) if removed_keys else np.zeros(0, np.uint64)
        order = np.argsort(rk, kind="stable")
        out = self.work / "dups"
        out.mkdir(parents=True, exist_ok=True)
        from auroram.io import atomic_file, write_json

        with atomic_file(out / "remove.npz", "wb") as fh:
            np.savez(fh, keys=rk[order],
                     reason=(np.concatenate(removed_reason) if removed_reason else np.zeros(0, np.uint8))[order],
                     dup_of=(np.concatenate(removed_of) if removed_of else np.zeros(0, np.uint64))[order],
                     sim=(np.concatenate(removed_sim) if removed_sim else np.zeros(0, np.float32))[order])
        write_json(out / "summary.json", {"documents": int(len(keys)), "candidate_pairs": int(n_candidates),
                                          "verified_pairs": int(n_verified), "removed": int(len(rk))})
        return
        yield  # a generator, as datatrove steps are

    def _jaccard(self, pairs: np.ndarray, sig_dir: Path, ranks: list[int]) -> np.ndarray:
        """Exact Jaccard similarity of each candidate pair's shingle sets, read from the disk one chunk at a time."""
        per_rank_keys = {r: _load(sig_dir, r, "keys", np.uint64) for r in ranks}
        counts = {r: _load(sig_dir, r, "n_shingles", np.uint32).astype(np.int64) for r in ranks}
        starts = {r: np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) for r, c in counts.items()}
        # positioned reads, not a memmap: mapped pages would count towards the resident memory as they are touched
        fds = {r: os.open(sig_dir / f"{r:05d}" / "shingles.bin", os.O_RDONLY) for r in ranks if counts[r].sum()}

        def read(r: int, row: int, n: int) -> np.ndarray:
            return np.frombuffer(os.pread(fds[r], 4 * n, 4 * int(starts[r][row])), dtype=np.uint32)

        # which task wrote a document, and its row there: every task's keys in one sorted index (a task's
        # share of the input is not a function of the key: readers.task_spans splits files by bytes)
        all_keys = np.concatenate([per_rank_keys[r] for r in ranks])
        order = np.argsort(all_keys, kind="stable")
        sorted_keys = all_keys[order]
        owner = np.concatenate([np.full(len(per_rank_keys[r]), r, np.int64) for r in ranks])[order]
        rows = np.concatenate([np.arange(len(per_rank_keys[r]), dtype=np.int64) for r in ranks])[order]

        def where(ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            i = np.searchsorted(sorted_keys, ks)
            return owner[i], rows[i]

        sims = np.empty(len(pairs), np.float32)
        try:
            for s in range(0, len(pairs), 65536):
                ta, ra = where(pairs[s: s + 65536, 0])
                tb, rb = where(pairs[s: s + 65536, 1])
                for i, (t1, r1, t2, r2) in enumerate(zip(ta.tolist(), ra.tolist(), tb.tolist(), rb.tolist())):
                    n1, n2 = int(counts[t1][r1]), int(counts[t2][r2])
                    if not n1 or not n2:
                        sims[s + i] = 0.0
                        continue
                    inter = np.intersect1d(read(t1, r1, n1), read(t2, r2, n2), assume_unique=True).size
                    sims[s + i] = inter / (n1 + n2 - inter)
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
