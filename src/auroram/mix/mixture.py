"""The per-stage data mixture: which training windows make up each global step.

A batch is a pure function of (seed, stage_index, step), so a run resumed at any step, on any number of
processes, sees exactly the batches an unbroken run would have seen.

How a step is filled: each source gets floor(weight * B) of the B sequences, and the r leftover slots go
by a multinomial draw over the fractional parts. Proportions are therefore exact up to less than one
sequence per source per step, with no state carried from step to step except the running count of
sequences each source has given (a cumulative table, cheap to rebuild up to any step).

Which windows: source s (a Shard, or a ShardSet read as the concatenation of its parts: the same stream
gives the same windows however it was split) is cut into n_s windows of seq_len + 1 tokens with stride seq_len. The k-th
sequence ever drawn from s is window perm(s, e)[k % n_s] with epoch e = k // n_s, where perm is a fresh
permutation per epoch, so a repeated source is revisited in a new order each time.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from auroram.errors import AuroramError
from auroram.tokenize.shards import Shard
from auroram.tokenize.shardset import ShardSet

IGNORE_INDEX = -100  # label value torch's cross-entropy skips
_CUM_CHUNK_STEPS = 1024  # the cumulative table grows by at least this many steps at a time
_EPOCHS_CACHED = 2  # permutations kept per source; a step spans at most two epochs of a source


class MixtureError(AuroramError, ValueError):
    """The mixture cannot be built (unknown source, too little data, bad batch shape)."""


@dataclass
class Batch:
    input_ids: torch.Tensor  # [rows, seq_len] int64
    labels: torch.Tensor  # [rows, seq_len] int64, IGNORE_INDEX where the target is masked out of the loss
    sources: list[str]  # source name of each row


class Mixture:
    def __init__(
        self,
        shards: dict[str, Shard | ShardSet],
        weights: dict[str, float],
        *,
        seq_len: int,
        global_batch_seqs: int,
        seed: int,
        stage_index: int = 0,
        vocab_size: int | None = None,
    ):
        """`vocab_size`: the model's embedding rows; a shard holding a larger id is an error naming it.
        An unmasked source (no loss-mask channel) counts every target in the loss."""
        if seq_len <= 0:
            raise MixtureError(f"seq_len must be positive, got {seq_len}")
        if global_batch_seqs <= 0:
            raise MixtureError(f"global_batch_seqs must be positive, got {global_batch_seqs}")
        for name, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
                raise MixtureError(f"source '{name}': weight must be a finite number >= 0, got {w!r}")
            if w > 0 and name not in shards:
                have = ", ".join(sorted(shards)) or "none"
                raise MixtureError(f"source '{name}' has a weight but no shard (shards: {have})")
        # sorted names give every source a stable index whatever order the dicts were built in
        self.sources = sorted(n for n, w in weights.items() if w > 0)
        if not self.sources:
            raise MixtureError("the mixture has no source with a positive weight")
        total = float(sum(weights[n] for n in self.sources))
        self.weights = {n: weights[n] / total for n in self.sources}
        self.seq_len = seq_len
        self.global_batch_seqs = global_batch_seqs
        self.seed = seed
        self.stage_index = stage_index
        self._shards = [shards[n] for n in self.sources]
        self.n_windows = {}
        for name, sh in zip(self.sources, self._shards):
            n = (sh.n_tokens - 1) // seq_len if sh.n_tokens > 0 else 0
            if n <= 0:
                raise MixtureError(
                    f"source '{name}' has {sh.n_tokens} tokens, fewer than one training window of "
                    f"seq_len + 1 = {seq_len + 1}; add data or lower train.seq_len"
                )
            self.n_windows[name] = n
            if vocab_size is not None:  # checked here, not as an IndexError deep inside the embedding
                sh.check_vocab(vocab_size)
        self._n = np.array([self.n_windows[n] for n in self.sources], np.int64)
        exact = np.array([self.weights[n] for n in self.sources]) * global_batch_seqs
        # the epsilon keeps 0.3 * 10 = 2.9999... from losing a whole sequence to float rounding
        self._floors = np.floor(exact + 1e-9).astype(np.int64)
        self._fracs = np.clip(exact - self._floors, 0.0, None)
        self._remainder = int(global_batch_seqs - self._floors.sum())
        if self._remainder > 0:
            self._p = self._fracs / self._fracs.sum()
        self._cum = np.zeros((1, len(self.sources)), np.int64)  # _cum[t]: sequences per source before step t
        self._perms: list[OrderedDict[int, np.ndarray]] = [OrderedDict() for _ in self.sources]

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch_seqs * self.seq_len

    # ---- which source fills each slot of a step ----

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stage_index, step])

    def _counts(self, rng: np.random.Generator | None, step: int) -> np.ndarray:
        if self._remainder == 0:
            return self._floors
        rng = rng if rng is not None else self._rng(step)
        return self._floors + rng.multinomial(self._remainder, self._p)

    def _cum_at(self, step: int) -> np.ndarray:
        if step < 0:
            raise MixtureError(f"step must be >= 0, got {step}")
        have = len(self._cum) - 1
        if step > have:
            if self._remainder == 0:
                # no random leftovers: every step draws the same counts, so the table is a product
                upto = max(step, have + _CUM_CHUNK_STEPS)
                self._cum = np.arange(upto + 1, dtype=np.int64)[:, None] * self._floors[None, :]
            else:
                upto = max(step, have + _CUM_CHUNK_STEPS, 2 * have)
                counts = np.stack([self._counts(None, t) for t in range(have, upto)])
                self._cum = np.concatenate([self._cum, self._cum[-1] + np.cumsum(counts, axis=0)])
        return self._cum[step]

    def _perm(self, s: int, epoch: int) -> np.ndarray:
        cache = self._perms[s]
        p = cache.get(epoch)
        if p is None:
            n = int(self._n[s])
            rng = np.random.default_rng([self.seed, self.stage_index, s, epoch])
            # int32 halves the memory of the permutation of a large source
            p = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
            rng.shuffle(p)
            cache[epoch] = p
            while len(cache) > _EPOCHS_CACHED:
                cache.popitem(last=False)
        else:
            cache.move_to_end(epoch)
        return p

    def _plan(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(source index, draw number k of that source) for every row of the global batch, in batch order."""
        rng = self._rng(step)
        counts = self._counts(rng, step)
        start = self._cum_at(step)
        src = np.repeat(np.arange(len(self.sources)), counts)
        k = np.concatenate([np.arange(start[s], start[s] + counts[s]) for s in range(len(self.sources))])
        order = rng.permutation(self.global_batch_seqs)
        return src[order], k[order]

    # ---- building rows ----

    def _build(self, src: np.ndarray, k: np.ndarray) -> Batch:
        rows = len(src)
        input_ids = np.empty((rows, self.seq_len), np.int64)
        labels = np.empty((rows, self.seq_len), np.int64)
        for s in np.unique(src):
            sel = np.nonzero(src == s)[0]
            ks = k[sel]
            n = int(self._n[s])
            epochs = ks // n
            win = np.empty(len(ks), np.int64)
            for e in np.unique(epochs):
                m = epochs == e
                win[m] = self._perm(int(s), int(e))[ks[m] % n]
            toks, mask = self._shards[s].windows(win * self.seq_len, self.seq_len + 1)
            input_ids[sel] = toks[:, :-1]
            lab = toks[:, 1:]
            if mask is not None:  # None: an unmasked source, every target counts
                lab[mask[:, 1:] == 0] = IGNORE_INDEX
            labels[sel] = lab
        return Batch(
            input_ids=torch.from_numpy(input_ids),
            labels=torch.from_numpy(labels),
            sources=[self.sources[s] for s in src],
        )

    def batch(self, step: int) -> Batch:
        src, k = self._plan(step)
        return self._build(src, k)

    def rank_batch(self, step: int, rank: int, world_size: int) -> Batch:
        if world_size <= 0 or not 0 <= rank < world_size:
            raise MixtureError(f"rank {rank} is not within world_size {world_size}")
        if self.global_batch_seqs % world_size:
            raise MixtureError(
                f"global batch of {self.global_batch_seqs} sequences does not split evenly over {world_size} processes"
            )
        per = self.global_batch_seqs // world_size
        src, k = self._plan(step)
        return self._build(src[rank * per : (rank + 1) * per], k[rank * per : (rank + 1) * per])

    def usage(self, steps: int) -> dict[str, dict]:
        cum = self._cum_at(steps)
        out = {}
        for i, name in enumerate(self.sources):
            seqs = int(cum[i])
            out[name] = {
                "weight": self.weights[name],
                "sequences": seqs,
                "tokens": seqs * self.seq_len,
                "epochs": seqs / self.n_windows[name],
                "windows": self.n_windows[name],
            }
        return out
