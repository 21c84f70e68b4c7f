"""Near-duplicate candidates are verified by the exact Jaccard similarity of their shingle sets."""

from __future__ import annotations

import json
import random

from auroram.curate import curate, load_curate_config
from auroram.curate.dedup import MinHasher

OFF = {k: {"enabled": False} for k in ("gopher_quality", "gopher_repetition", "c4", "fineweb", "toxicity", "cat")}


def _pair(seed: int, edits: int) -> tuple[str, str]:
    rng = random.Random(seed)
    a = [f"w{rng.randrange(10**6)}" for _ in range(120)]
    b = list(a)
    for i in rng.sample(range(120), edits):
        b[i] = f"x{rng.randrange(10**6)}"
    return " ".join(a), " ".join(b)


def _jaccard(h: MinHasher, x: str, y: str) -> float:
    a, b = set(h.shingles(x, "en").tolist()), set(h.shingles(y, "en").tolist())
    return len(a & b) / len(a | b)


def test_pair_below_threshold_is_kept_even_when_its_minhash_estimate_is_above(tmp_path):
    cfg = load_curate_config(data={"default": OFF, "languages": {"en": {}}, "keep_other_languages": True,
                                   "langid": {"min_score": 0.0}, "pii": {"enabled": False}})
    h = MinHasher(cfg.dedup)
    far_a, far_b = _pair(31, 22)  # seed picked so the 72-hash estimate overshoots the threshold
    near_a, near_b = _pair(5, 8)
    j_far, j_near = _jaccard(h, far_a, far_b), _jaccard(h, near_a, near_b)
    est_far = float((h.signature(h.shingles(far_a, "en")) == h.signature(h.shingles(far_b, "en"))).mean())
    assert j_far < cfg.dedup.threshold <= est_far and j_near >= cfg.dedup.threshold
    with open(tmp_path / "d.jsonl", "w") as fh:
        for i, t in [("far_a", far_a), ("near_a", near_a), ("far_b", far_b), ("near_b", near_b)]:
            fh.write(json.dumps({"id": i, "text": t}) + "\n")
    curate([tmp_path / "d.jsonl"], tmp_path / "out", config=cfg)
    rej = [json.loads(x) for f in (tmp_path / "out" / "rejected").glob("*.jsonl") for x in open(f)]
    near = {r["id"]: r for r in rej if r["reason"] == "near_duplicate"}
    assert set(near) == {"near_b"}
    assert near["near_b"]["detail"] == f"of 0:2 (similarity {j_near:.2f})"  # the exact similarity is reported
