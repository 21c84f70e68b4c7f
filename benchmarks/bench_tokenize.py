"""Tokenization MB/s: auroram's path (text -> packed shard on disk) against raw `tokenizers` encode_batch.

    OMP_NUM_THREADS=1 python benchmarks/bench_tokenize.py [--corpus DIR] [--max-mb 8] [--repeats 5]

DIR is a demo corpus (DIR/corpus/<domain>/train.jsonl, built by `auroram data demo`); without one the text is
synthetic. Both sides encode the same documents in batches of the same size with the same BPE (trained here
on part of the text, 4,096 tokens, as the demo does) and the same thread count; the raw side only collects
the ids, auroram's side also appends EOS, builds the loss mask, hashes and writes the shard. The sides take
turns within each repeat; the ratio is taken within a repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _threads_from_argv() -> str:
    # rayon reads its pool size once, at the first parallel call: set it before tokenizers is imported
    if "--threads" in sys.argv:
        return sys.argv[sys.argv.index("--threads") + 1]
    return "1"


os.environ["RAYON_NUM_THREADS"] = _threads_from_argv()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402

from auroram.tokenize.bpe import eos_id, train_bpe  # noqa: E402
from auroram.tokenize.shards import tokenize_to_shard  # noqa: E402

DOMAINS = ("en", "fi", "hi", "ja", "vi", "code")


def demo_texts(corpus_dir: Path, max_bytes: int) -> list[str]:
    """Up to max_bytes of training text, an equal share from each domain present."""
    present = [d for d in DOMAINS if (corpus_dir / "corpus" / d / "train.jsonl").is_file()]
    per = max_bytes // max(len(present), 1)
    texts: list[str] = []
    for d in present:
        used = 0
        with open(corpus_dir / "corpus" / d / "train.jsonl", encoding="utf-8") as f:
            for line in f:
                t = json.loads(line)["text"]
                texts.append(t)
                used += len(t.encode("utf-8"))
                if used >= per:
                    break
    return texts


def synthetic_texts(max_bytes: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabets = ["abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyzäö", "अआइईउऊकखगघचछजझटठडढणतथदधनपफबभमयरलवशसह",
                 "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオ日本語", "aăâbcdđeêghiklmnoôơpqrstuưvxy"]
    texts, used = [], 0
    while used < max_bytes:
        a = alphabets[int(rng.integers(len(alphabets)))]
        words = ["".join(rng.choice(list(a), int(rng.integers(1, 9)))) for _ in range(int(rng.integers(50, 400)))]
        t = " ".join(words)
        texts.append(t)
        used += len(t.encode("utf-8"))
    return texts


def raw_encode(backend, texts: list[str], batch_docs: int) -> int:
    n = 0
    for i in range(0, len(texts), batch_docs):
        ids = [e.ids for e in backend.encode_batch(texts[i : i + batch_docs], add_special_tokens=False)]
        n += sum(map(len, ids))
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="", help="demo corpus directory (holds corpus/<domain>/train.jsonl)")
    ap.add_argument("--max-mb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-docs", type=int, default=512, help="auroram's default batch")
    ap.add_argument("--threads", default="1", help="tokenizers (rayon) threads; read before import")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()

    max_bytes = int(args.max_mb * 1e6)
    corpus = Path(args.corpus) if args.corpus else None
    texts = demo_texts(corpus, max_bytes) if corpus and corpus.is_dir() else synthetic_texts(max_bytes)
    source = f"demo corpus ({len(texts)} documents)" if corpus and corpus.is_dir() else "synthetic text"
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        sample = texts[:: max(len(texts) // 2000, 1)]
        tokenizer = train_bpe(sample, 4096, tmp / "tok")
        eos = eos_id(tokenizer)
        backend = tokenizer.backend_tokenizer
        raw_encode(backend, texts[:200], args.batch_docs)  # warm the pool
        raw_mb_s, ours_mb_s = [], []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            n_raw = raw_encode(backend, texts, args.batch_docs)
            raw_mb_s.append(total_bytes / 1e6 / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            stats = tokenize_to_shard(tokenizer, texts, tmp / f"shard-{r}.bin", eos_id=eos, batch_docs=args.batch_docs)
            ours_mb_s.append(total_bytes / 1e6 / (time.perf_counter() - t0))
            (tmp / f"shard-{r}.bin").unlink()
            print(f"  repeat {r + 1}: raw {raw_mb_s[-1]:.2f} MB/s, auroram {ours_mb_s[-1]:.2f} MB/s", flush=True)
    if stats["tokens"] != n_raw + len(texts):
        print(f"warning: token counts differ: raw {n_raw} + {len(texts)} EOS, shard {stats['tokens']}")
    ratios = [o / r for o, r in zip(ours_mb_s, raw_mb_s)]
    print(f"\n{source}, {total_bytes / 1e6:.2f} MB, {n_raw:,} tokens ({total_bytes / n_raw:.2f} bytes/token), "
          f"batch {args.batch_docs} docs, {os.environ['RAYON_NUM_THREADS']} tokenizer thread(s)")
    print(f"raw tokenizers encode_batch: {statistics.median(raw_mb_s):.2f} MB/s (median; {min(raw_mb_s):.2f}-{max(raw_mb_s):.2f})")
    print(f"auroram tokenize_to_shard:   {statistics.median(ours_mb_s):.2f} MB/s (median; {min(ours_mb_s):.2f}-{max(ours_mb_s):.2f})")
    print(f"ratio auroram/raw within a repeat: {statistics.median(ratios):.3f} (median; {min(ratios):.3f}-{max(ratios):.3f})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "source": source, "bytes": total_bytes, "tokens": n_raw, "threads": os.environ["RAYON_NUM_THREADS"],
            "raw_mb_s": raw_mb_s, "auroram_mb_s": ours_mb_s, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
