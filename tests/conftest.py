"""Shared fixtures: a tiny corpus in the demo corpus's layout, written by the tests themselves."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

# tiny models gain nothing from threads, and on a shared 2-core machine threads stall each other
torch.set_num_threads(1)

# a few words per language, written for these tests; documents are random sentences over them
WORDS = {
    "en": "the model learns new languages without forgetting what it knew before and keeps its code".split(),
    "fi": "malli oppii uusia kieliä unohtamatta sitä mitä se tiesi ennen ja säilyttää koodinsa".split(),
    "hi": "मॉडल नई भाषाएँ सीखता है और जो पहले जानता था उसे नहीं भूलता तथा अपना कोड रखता है".split(),
    "ja": "モデル は 新しい 言語 を 学び 以前 の 知識 を 忘れず コード も 保つ".split(),
    "vi": "mô hình học ngôn ngữ mới mà không quên những gì nó đã biết và giữ được mã".split(),
}
CODE = [
    "def add(a, b):\n    return a + b\n",
    "def scale(values, factor):\n    return [v * factor for v in values]\n",
    "class Counter:\n    def __init__(self):\n        self.n = 0\n\n    def bump(self):\n        self.n += 1\n",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
    # documented functions: the demo instruction builder turns these into "write a function" tasks
    'def clamp(x, low, high):\n    """Limit x to the range from low to high.\n\n    Values below low become low and values above\n'
    '    high become high.\n    """\n    if x < low:\n        return low\n    if x > high:\n        return high\n    return x\n',
    'def mean(values):\n    """Return the arithmetic mean of the values.\n\n    An empty sequence gives zero, so callers\n'
    '    need not check first.\n    """\n    total = sum(values)\n    count = len(values)\n    return total / count if count else 0\n',
]


def make_doc(domain: str, rng: random.Random) -> str:
    if domain == "code":
        return "\n\n".join(rng.choice(CODE) for _ in range(rng.randint(2, 6)))
    sep = "" if domain == "ja" else " "

    def paragraph() -> str:
        sentences = []
        for _ in range(rng.randint(2, 5)):
            words = [rng.choice(WORDS[domain]) for _ in range(rng.randint(5, 12))]
            sentences.append(sep.join(words) + ("。" if domain == "ja" else "."))
        return sep.join(sentences)

    # shaped like a help page: a title, then paragraphs (the instruction builder asks about the title)
    title = sep.join(rng.choice(WORDS[domain]) for _ in range(3))
    return "\n\n".join([title] + [paragraph() for _ in range(rng.randint(1, 3))])


def write_corpus(root: Path, n_train: int = 120, n_val: int = 12, seed: int = 0) -> Path:
    rng = random.Random(seed)
    domains = {}
    for d in ["en", "fi", "hi", "ja", "vi", "code"]:
        base = root / "corpus" / d
        base.mkdir(parents=True, exist_ok=True)
        stats = {}
        for split, n in (("train", n_train), ("val", n_val)):
            pkg = "python-stdlib" if d == "code" else f"libreoffice-help-{'en-us' if d == 'en' else d}"
            docs = [{"id": f"{pkg}:{split}/{i}.html", "text": make_doc(d, rng), "source": pkg} for i in range(n)]
            (base / f"{split}.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in docs),
                                                 encoding="utf-8")
            stats[split] = {"documents": n, "bytes": sum(len(x["text"].encode()) for x in docs)}
        domains[d] = stats
    manifest = {"format": 1, "sources": [{"domain": d, "package": "tests", "version": "0", "license": "test data",
                                          "documents": v["train"]["documents"], "bytes": v["train"]["bytes"]}
                                         for d, v in domains.items()], "domains": domains}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("demo"))
