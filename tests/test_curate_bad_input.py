"""`auroram curate` on one corpus holding every kind of bad input README.md lists: each bad record is a
rejected record with reason `unreadable`, its file and line; the good records beside it survive; counts
stay exact; `--strict` stops at the first with one line and writes nothing."""

from __future__ import annotations

import gzip
import json
import random
import sys
import zlib
from pathlib import Path

from auroram.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from curate_data import en_doc, read_out  # noqa: E402

MAX_DOC_BYTES = 3000  # stands in for a 100 MB document


def _line(rec: dict) -> bytes:
    return json.dumps(rec).encode() + b"\n"


def make_corpus(root: Path) -> tuple[dict[tuple[str, int], str], set[str], Path]:
    """Returns {(file name, line): detail fragment} of the bad records, the ids of the good ones, and the root."""
    rng = random.Random(3)
    good = [{"id": f"g{i}", "text": en_doc(rng)} for i in range(3)]
    web, txt = root / "web", root / "txt"
    web.mkdir(parents=True)
    txt.mkdir(parents=True)
    (web / "mixed.jsonl").write_bytes(
        _line(good[0])
        + b'{"id": "latin1", "text": "caf\xe9 au lait"}\n'  # 2: invalid UTF-8
        + _line(good[1])
        + b'{"id": "cut", "text": "no closing quote}\n'  # 4: malformed JSON
        + b'{"id": "notext", "body": "the text is under another key"}\n'  # 5: missing text field
        + b'{"id": "surrogate", "text": "half a pair \\ud800 here"}\n'  # 6: escaped lone surrogate
        + _line({"id": "huge", "text": "word " * (MAX_DOC_BYTES // 4)})  # 7: over reader.max_doc_bytes
        + b"\n"  # a blank line is no record
        + _line(good[2]))  # 9
    bom = {"id": "bom", "text": en_doc(rng)}
    (web / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + _line(bom))  # a byte order mark is not a bad record
    (web / "empty.jsonl").write_bytes(b"")
    (web / "blob.jsonl").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    gz_docs = [{"id": f"z{i}", "text": en_doc(rng)} for i in range(40)]
    whole = gzip.compress(b"".join(_line(d) for d in gz_docs))
    cut = whole[: len(whole) // 2]
    (web / "cut.jsonl.gz").write_bytes(cut)
    complete_lines = zlib.decompressobj(31).decompress(cut).count(b"\n")
    (txt / "ok.txt").write_text(en_doc(rng), encoding="utf-8")
    (txt / "bad.txt").write_bytes(b"A first line of text.\nA second line.\nBroken \xff\xfe bytes here.\n")
    (txt / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 20)
    (txt / "huge.txt").write_text(en_doc(rng) * 20, encoding="utf-8")
    (txt / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # no reader for it: accounted for, not skipped
    (txt / ".git").mkdir()
    (txt / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # hidden directories are not input
    bad = {("mixed.jsonl", 2): "UTF-8", ("mixed.jsonl", 4): "JSON", ("mixed.jsonl", 5): "'text' field",
           ("mixed.jsonl", 6): "surrogate", ("mixed.jsonl", 7): "max_doc_bytes", ("empty.jsonl", 0): "empty",
           ("blob.jsonl", 0): "binary", ("cut.jsonl.gz", complete_lines + 1): "ends early",
           ("bad.txt", 3): "UTF-8", ("blob.txt", 0): "binary", ("huge.txt", 0): "max_doc_bytes",
           ("logo.png", 0): "unsupported file type .png"}
    good_ids = {d["id"] for d in good + gz_docs[:complete_lines] + [bom]} | {f"{txt / 'ok.txt'}:1"}
    assert 0 < complete_lines < len(gz_docs)
    return bad, good_ids, root


def test_every_bad_record_is_named_and_counted(tmp_path, capsys):
    bad, good_ids, root = make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["curate", str(root), "--out", str(out), "--quiet", "--set", f"reader.max_doc_bytes={MAX_DOC_BYTES}"])
    assert rc == 0
    assert "balanced" in capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    kept, rejected = read_out(out, "kept"), read_out(out, "rejected")
    unreadable = [r for r in rejected if r["reason"] == "unreadable"]
    got = {(Path(r["file"]).name, r["line"]): r["detail"] for r in unreadable}
    assert set(got) == set(bad)
    for where, fragment in bad.items():
        assert fragment in got[where], (where, got[where])
    assert all(r["step"] == "read" for r in unreadable)
    # the good records in the same files as the bad ones all pass the reader (later filters may drop some)
    out_by_id = {r["id"]: r for r in kept + rejected}
    assert all(i in out_by_id and out_by_id[i].get("step") != "read" for i in good_ids)
    assert {"g0", "g1", "g2", "bom", f"{root / 'txt' / 'ok.txt'}:1"} <= {r["id"] for r in kept}
    t = stats["totals"]
    assert t["balanced"] and t["docs_in"] == len(good_ids) + len(bad) == len(kept) + len(rejected)
    assert t["docs_kept"] == len(kept) and t["docs_dropped"] == len(rejected)
    assert stats["dropped_by_reason"]["read/unreadable"]["docs"] == len(bad)
    read = stats["per_step"]["read"]
    assert sum(c["dropped"].get("unreadable", {}).get("docs", 0) for c in read.values()) == len(bad)
    assert sum(c["docs_kept"] for c in read.values()) == len(good_ids)
    # kept/ is valid UTF-8 throughout (a lone surrogate would have been written as invalid bytes)
    for f in (out / "kept").glob("*.jsonl"):
        f.read_bytes().decode("utf-8")


def test_strict_names_the_first_bad_record_and_writes_nothing(tmp_path, capsys):
    _, _, root = make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    rc = main(["curate", str(root / "web" / "mixed.jsonl"), str(root), "--out", str(out), "--strict", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == [f"auroram: error: {root / 'web' / 'mixed.jsonl'}: line 2: not valid UTF-8 (byte 0xE9 at offset 29 of the line)"]
    assert not out.exists()
    rc = main(["curate", str(root / "txt"), "--out", str(out), "--strict", "--quiet"])
    assert rc == 2 and capsys.readouterr().err.strip() == (f"auroram: error: {root / 'txt' / 'bad.txt'}: line 3: "
                                                           f"not valid UTF-8 (byte 0xFF at offset 7 of the line)")
    assert not out.exists()
    # a clean input passes --strict and is curated
    rc = main(["curate", str(root / "txt" / "ok.txt"), "--out", str(out), "--strict", "--quiet"])
    assert rc == 0 and json.loads((out / "stats.json").read_text())["totals"]["docs_kept"] == 1
