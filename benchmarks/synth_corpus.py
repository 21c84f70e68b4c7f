"""A synthetic multilingual corpus of any size, grown from the demo corpus, for data-scale benchmarks.

    python benchmarks/synth_corpus.py --demo DEMO_DIR --out OUT_DIR --mb 400 [--seed 0] [--file-mb 64]

Each language's documents are rebuilt from the demo's own train paragraphs: a document takes 1-8
paragraphs drawn at random from its language, and every paragraph is perturbed (a few words swapped for
other words of the same language, or for Japanese a few characters), so that exact and near-duplicate
removal does not collapse the copies while language ID, the quality heuristics and the tokenizer still
see text of the right language and shape. Sizes per language follow the demo's own mix. Output: one
directory per language of JSONL files of about --file-mb MB each ({"id", "text"}), plus manifest.json
(bytes and documents per language, the seed, the demo manifest's license records).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

LANGS = ("en", "fi", "hi", "ja", "vi", "code")
EDITS_PER_PARAGRAPH = 3


def paragraphs(path: Path) -> list[str]:
    out: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            out += [p for p in text.split("\n\n") if p.strip()]
    return out


def perturb(par: str, lang: str, rng: random.Random, vocab: list[str]) -> str:
    if lang == "ja":
        chars = list(par)
        for _ in range(EDITS_PER_PARAGRAPH):
            chars[rng.randrange(len(chars))] = rng.choice(vocab)
        return "".join(chars)
    words = par.split(" ")
    for _ in range(EDITS_PER_PARAGRAPH):
        words[rng.randrange(len(words))] = rng.choice(vocab)
    return " ".join(words)


def build(demo: Path, out: Path, mb: float, seed: int = 0, file_mb: float = 64.0) -> dict:
    corpus = demo / "corpus"
    pools = {lang: paragraphs(corpus / lang / "train.jsonl") for lang in LANGS}
    demo_bytes = {lang: (corpus / lang / "train.jsonl").stat().st_size for lang in LANGS}
    total = sum(demo_bytes.values())
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"seed": seed, "target_mb": mb, "languages": {}}
    for li, lang in enumerate(LANGS):
        rng = random.Random(seed * 1000 + li)
        pool = pools[lang]
        if lang == "ja":
            vocab = sorted({c for p in pool[:2000] for c in p if not c.isspace()})
        else:
            vocab = sorted({w for p in pool[:2000] for w in p.split() if w.isalpha()}) or ["x"]
        budget = mb * 1e6 * demo_bytes[lang] / total
        (out / lang).mkdir(exist_ok=True)
        written, docs, part = 0, 0, 0
        fh = None
        part_bytes = 0
        while written < budget:
            if fh is None or part_bytes >= file_mb * 1e6:
                if fh is not None:
                    fh.close()
                fh = open(out / lang / f"part-{part:04d}.jsonl", "w", encoding="utf-8")
                part, part_bytes = part + 1, 0
            n = rng.randint(1, 8)
            text = "\n\n".join(perturb(rng.choice(pool), lang, rng, vocab) for _ in range(n))
            line = json.dumps({"id": f"synth-{lang}-{docs}", "text": text}, ensure_ascii=False) + "\n"
            fh.write(line)
            size = len(line.encode("utf-8"))
            written += size
            part_bytes += size
            docs += 1
        if fh is not None:
            fh.close()
        summary["languages"][lang] = {"bytes": written, "documents": docs, "files": part}
    manifest = demo / "manifest.json"
    if manifest.is_file():
        summary["demo_sources"] = json.loads(manifest.read_text(encoding="utf-8")).get("sources")
    (out / "manifest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, required=True, help="the demo corpus directory (auroram data demo)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mb", type=float, required=True, help="total size of the JSONL to write, in MB")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--file-mb", type=float, default=64.0)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    s = build(a.demo, a.out, a.mb, a.seed, a.file_mb)
    got = sum(v["bytes"] for v in s["languages"].values())
    print(f"wrote {got / 1e6:.1f} MB in {sum(v['documents'] for v in s['languages'].values()):,} documents "
          f"to {a.out} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
