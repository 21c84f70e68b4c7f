"""Test data for the curate tests, written by the tests themselves (no real corpus)."""

from __future__ import annotations

import json
import random
from pathlib import Path

EN_WORDS = (
    "the of and to in that have with be for on it as at by from this they we say her she or an will my one all "
    "would there their what so up out if about who get which go me when make can like time no just him know take "
    "people into year your good some could them see other than then now look only come its over think also back "
    "after use two how our work first well way even new want because any these give day most us river garden "
    "village morning teacher window market bridge letter summer winter mountain kitchen doctor station language "
    "student library history music family friend animal forest island engine harbour painting weather evening "
    "question answer journey story table paper orange yellow gentle quiet careful simple bright ancient modern"
).split()
JA_SENTENCES = [
    "私は毎朝駅まで歩いて行きます。", "この町には古い図書館があります。", "先生は学生に新しい言葉を教えました。",
    "夏になると山の上はとても涼しいです。", "友達と一緒に市場で野菜を買いました。", "昨日の夜は雨が静かに降っていました。",
    "彼女は台所で朝ご飯を作っています。", "子供たちは公園で元気に遊んでいます。", "この本の物語はとても面白いと思います。",
    "私たちは週末に海へ行く予定です。", "父は新しい自転車を買ってくれました。", "冬の朝は空気が冷たくて澄んでいます。",
]


def en_doc(rng: random.Random, sentences: int = 8) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(EN_WORDS) for _ in range(rng.randint(8, 14))]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + ".")
    # several lines, each a few sentences, as web text comes
    lines = [" ".join(out[i: i + 2]) for i in range(0, len(out), 2)]
    return "\n".join(lines)


def ja_doc(rng: random.Random, sentences: int = 8) -> str:
    picks = [rng.choice(JA_SENTENCES) for _ in range(sentences)]
    return "\n".join("".join(picks[i: i + 2]) for i in range(0, len(picks), 2))


def edit_words(text: str, fraction: float, rng: random.Random) -> str:
    words = text.split(" ")
    n = max(1, round(len(words) * fraction))
    for i in rng.sample(range(len(words)), n):
        words[i] = rng.choice(EN_WORDS)
    return " ".join(words)


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


def read_out(out: Path, sub: str) -> list[dict]:
    recs = []
    for f in sorted((out / sub).glob("*.jsonl")):
        recs += [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
    return recs
