"""Curation tasks split large JSONL files by lines: every record read by exactly one task, in global order,
with the same keys, line numbers and rejects as one task reading everything."""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pytest

from auroram.curate import CurateConfig, curate
from auroram.curate.readers import list_inputs, read_file, task_spans

sys.path.insert(0, str(Path(__file__).parent))
from curate_data import en_doc, read_out  # noqa: E402


def _records(n: int, rng: random.Random) -> list[bytes]:
    lines = []
    for i in range(n):
        lines.append(json.dumps({"id": f"r{i}", "text": f"record {i} " + "word " * rng.randint(1, 40)}).encode())
    return lines


def make_files(root: Path) -> list[str]:
    rng = random.Random(1)
    root.mkdir(parents=True)
    big = _records(300, rng)
    big[0] = b"\xef\xbb\xbf" + big[0]  # a BOM on line 1
    big[17] = b""  # blank lines are skipped but counted
    big[18] = b"   "
    big[40] = b'{"id": "utf", "text": "caf\xe9"}'  # not UTF-8
    big[41] = b'{"id": "broken", "text": '  # not JSON
    big[42] = b"[1, 2]"  # not an object
    big[99] = json.dumps({"id": "huge", "text": "z" * 5000}).encode()  # over max_doc_bytes below
    big[150] = json.dumps({"id": "nul", "text": "tab\there"}).encode()
    (root / "a-big.jsonl").write_bytes(b"\n".join(big) + b"\n")
    (root / "b-nonl.jsonl").write_bytes(b"\n".join(_records(40, rng)))  # no newline at the end
    (root / "c-empty.jsonl").write_bytes(b"")
    (root / "d-blank.jsonl").write_bytes(b"\n   \n" * 800)  # large, but nothing in it
    (root / "e-binary.jsonl").write_bytes(b"\x00\x01\x02" * 3000)
    (root / "f.jsonl.gz").write_bytes(gzip.compress(b"\n".join(_records(30, rng)) + b"\n"))
    (root / "g.txt").write_text("a plain text file, read whole\n" * 20)
    (root / "h-tail.jsonl").write_bytes(b"\n".join(_records(120, rng)) + b"\n")
    return [str(root)]


def read_all(files, rc, world: int) -> list[list[tuple]]:
    per_rank = []
    for rank in range(world):
        docs = []
        for i, f, span in task_spans(files, rank, world):
            for d in read_file(f, i, rc, span=span):
                docs.append((tuple(d.metadata["key"]), d.text, tuple(d.metadata.get("rejected") or ())))
        per_rank.append(docs)
    return per_rank


@pytest.mark.parametrize("world", [2, 3, 5, 8, 64])
def test_tasks_read_each_record_once_in_global_order(tmp_path, world):
    cfg = CurateConfig()
    cfg.reader.max_doc_bytes = 2000
    files = list_inputs([(p, None) for p in make_files(tmp_path / "in")], cfg.reader)
    (one,) = read_all(files, cfg.reader, 1)
    split = read_all(files, cfg.reader, world)
    assert [d for docs in split for d in docs] == one  # rank order is the global order
    keys = [d[0] for d in one]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # the bad records keep the line numbers one task gives them
    reasons = {d[0][1]: d[2][2] for d in one if d[0][0] == 0 and d[2]}
    assert "not valid UTF-8" in reasons[41] and "not valid JSON" in reasons[42]
    assert "not a JSON object" in reasons[43] and "max_doc_bytes" in reasons[100]
    assert one[0][1].startswith("record 0")  # the BOM is gone
    # empty, blank-only and binary files: one reject each, whatever the split
    whole = [d for d in one if d[0][1] == 0]
    assert sorted(d[2][2] for d in whole) == ["binary file (NUL bytes), not JSONL", "empty file", "empty file"]
    if world <= 8:  # the big file keeps more than one task busy
        assert sum(any(d[0][0] == 0 for d in docs) for docs in split) >= 2


def test_one_large_file_curates_the_same_with_1_and_3_tasks(tmp_path):
    rng = random.Random(0)
    docs = [{"id": f"en-{i}", "text": en_doc(rng)} for i in range(60)]
    docs.append({"id": "en-exact", "text": docs[3]["text"]})  # a duplicate in the last task's share
    src = tmp_path / "web.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    s1 = curate([str(src)], tmp_path / "o1", tasks=1)
    s3 = curate([str(src)], tmp_path / "o3", tasks=3, workers=2)
    s1.pop("run_hash"), s3.pop("run_hash")
    assert s1 == s3
    kept1, kept3 = read_out(tmp_path / "o1", "kept"), read_out(tmp_path / "o3", "kept")
    assert kept1 == kept3  # the same documents in the same order, read in rank order
    assert "en-exact" not in {r["id"] for r in kept3}
    # every task had a share of the one file
    assert sum(1 for f in (tmp_path / "o3" / "kept").glob("*.jsonl") if f.stat().st_size) == 3
