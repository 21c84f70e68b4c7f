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


def _stage2(tmp, docs, tasks: int, buckets: int, cfg):
    """Signatures of `docs` written by `tasks` input tasks into `buckets` buckets, then the three dedup stages."""
    import numpy as np

    from auroram.curate.dedup import DedupClusterStep, DedupExactStep, DedupNearStep, SigWriter, bucket_file

    work = tmp / f"w{tasks}-{buckets}"
    per = -(-len(docs) // tasks)
    for r in range(tasks):
        w = SigWriter(work / "sigs", r, cfg.dedup, buckets)
        for i, text in enumerate(docs[r * per:(r + 1) * per], start=r * per):
            w.add((7 << 32) | i, text, "en")
        w.close()
    rows = [np.fromfile(work / "sigs" / f"{r:05d}" / bucket_file("near", b), np.uint64).size // 3
            for r in range(tasks) for b in range(buckets)]
    for step in (DedupExactStep, DedupNearStep):
        for b in range(buckets):
            list(step(cfg, str(work), tasks, buckets).run(rank=b) or [])
    list(DedupClusterStep(cfg, str(work), tasks, buckets).run() or [])
    z = np.load(work / "dups" / "remove.npz")
    return {k: z[k] for k in z.files}, json.loads((work / "dups" / "summary.json").read_text()), rows


def test_the_dedup_result_does_not_depend_on_the_buckets_and_each_bucket_holds_its_share(tmp_path):
    from auroram.curate.config import dedup_buckets

    cfg = load_curate_config(data={})
    rng = random.Random(3)
    base = [" ".join(f"w{rng.randrange(400)}" for _ in range(60)) for _ in range(40)]
    docs = []
    for i, text in enumerate(base):
        docs += [text, text]  # an exact copy
        words = text.split()
        words[rng.randrange(60)] = "edited"
        docs.append(" ".join(words))  # a near copy
        if i % 7 == 0:
            docs.append("")  # no words: no band keys, never a near duplicate
    one, s1, _ = _stage2(tmp_path, docs, 1, 1, cfg)
    many, s2, rows = _stage2(tmp_path, docs, 3, 7, cfg)
    assert s1 == s2 and s1["removed"] > 0 and s1["verified_pairs"] > 0
    assert all((one[k] == many[k]).all() and len(one[k]) == s1["removed"] for k in one)
    assert set(one["reason"].tolist()) == {1, 2}  # exact and near copies both found
    # the band keys spread over the buckets: no bucket holds much more than its share
    total = sum(rows)
    per_bucket = [sum(rows[r * 7 + b] for r in range(3)) for b in range(7)]
    assert total == sum(per_bucket) and max(per_bucket) < 2 * total / 7
    assert dedup_buckets(cfg.dedup, 1) == cfg.dedup.bands and dedup_buckets(cfg.dedup, 100) == 100
