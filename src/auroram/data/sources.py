"""Reading a recipe's sources and held-out sets as streams of document texts.

A source path is a JSONL file (optionally .gz), a JSON array file, a text file, or a directory of those
(virtual paths such as `demo:fi` are resolved to these before they get here: auroram.data.virtual).
Errors name the file and line; nothing is dropped silently: a source in an instruction format
quarantines its bad records with the reason instead.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

from auroram.config import SourceConfig
from auroram.data.instruct import Conversation, Quarantine, RecordError, parse_record
from auroram.errors import AuroramError
from auroram.io import hash_obj, sha256_file


class SourceError(AuroramError, ValueError):
    """A source cannot be read; the message names the file and line."""


def _files(path: str) -> list[Path]:
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(
            f for f in p.rglob("*") if f.is_file() and f.name.endswith((".jsonl", ".jsonl.gz", ".json", ".txt"))
        )
        if not files:
            raise SourceError(f"{p}: directory holds no .jsonl, .jsonl.gz or .txt files")
        return files
    if not p.is_file():
        raise SourceError(f"{p}: no such file or directory")
    return [p]


def _records(f: Path, fh) -> Iterator[tuple[int, str]]:
    """(line number, raw JSON) per record: one a line, or the items of a file holding one JSON array."""
    head = fh.read(1)
    while head and head.isspace():
        head = fh.read(1)
    if head == "[":  # Alpaca and ShareGPT dumps are often one JSON array
        try:
            items = json.loads(head + fh.read())
        except json.JSONDecodeError as e:
            raise SourceError(f"{f}: line {e.lineno}: not valid JSON ({e.msg})") from None
        for i, item in enumerate(items, 1):
            yield i, item
        return
    first = True
    for lineno, line in enumerate(fh, 1):
        if first:
            line, first = head + line, False
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, SourceError(f"{f}: line {lineno}: not valid JSON ({e.msg})")


def _read_file(f: Path, text_field: str, pairs: bool = False, fmt: str = "text",
               quarantine: Quarantine | None = None) -> Iterator[Any]:
    opener = gzip.open if f.name.endswith(".gz") else open
    try:
        with opener(f, "rt", encoding="utf-8") as fh:
            if f.name.endswith(".txt"):
                if fmt != "text":
                    raise SourceError(f"{f}: format '{fmt}' needs JSONL records, not a .txt file")
                text = fh.read()
                if text.strip():
                    yield text
                return
            for lineno, rec in _records(f, fh):
                if fmt != "text":
                    # instruction data: a bad record is quarantined (or, with no quarantine, stops the read)
                    if quarantine is not None:
                        quarantine.records += 1
                    try:
                        if isinstance(rec, SourceError):
                            raise RecordError(str(rec).split(": ", 2)[-1])
                        turns = parse_record(fmt, rec)
                    except RecordError as e:
                        if quarantine is None:
                            raise SourceError(f"{f}: line {lineno}: {e}") from None
                        quarantine.reject(f, lineno, str(e))
                        continue
                    yield Conversation(turns, str(f), lineno)
                    continue
                if isinstance(rec, SourceError):
                    raise rec
                if pairs:  # response-only training: the prompt is context, not a target
                    if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str) \
                            or not isinstance(rec.get("response"), str):
                        raise SourceError(f"{f}: line {lineno}: loss_on 'response' needs string fields "
                                          "'prompt' and 'response'")
                    yield rec["prompt"], rec["response"]
                    continue
                if not isinstance(rec, dict) or text_field not in rec:
                    raise SourceError(f"{f}: line {lineno}: no '{text_field}' field")
                text = rec[text_field]
                if not isinstance(text, str):
                    raise SourceError(f"{f}: line {lineno}: '{text_field}' is not a string")
                if text:
                    yield text
    except UnicodeDecodeError as e:
        raise SourceError(f"{f}: not valid UTF-8 (byte {e.start})") from None
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise SourceError(f"{f}: no such file") from None
        raise SourceError(f"{f}: unreadable ({e})") from None


def iter_source(src: SourceConfig, quarantine: Quarantine | None = None) -> Iterator[str | tuple[str, str] | Conversation]:
    """Documents of a source: strings; (prompt, response) for format 'text' with loss_on 'response';
    Conversation objects for the instruction formats (render them with auroram.tokenize.render)."""
    n = 0
    pairs = src.format == "text" and src.loss_on == "response"
    for f in _files(src.path):
        if pairs and f.name.endswith(".txt"):
            raise SourceError(f"{f}: loss_on 'response' needs JSONL records with 'prompt' and 'response'")
        for text in _read_file(f, src.text_field, pairs=pairs, fmt=src.format, quarantine=quarantine):
            yield text
            n += 1
            if src.max_docs is not None and n >= src.max_docs:
                return


def read_heldout(path: str, *, max_docs: int, max_bytes: int) -> list[str]:
    """The held-out documents of one domain: the first ones up to the doc and byte caps (stable order)."""
    docs, size = [], 0
    for f in _files(path):
        for text in _read_file(f, "text"):
            b = len(text.encode("utf-8"))
            if docs and size + b > max_bytes:
                # clip the last document rather than skip: keeps the byte budget exact and stable
                remaining = max_bytes - size
                if remaining > 200:
                    docs.append(text.encode("utf-8")[:remaining].decode("utf-8", "ignore"))
                return docs
            docs.append(text)
            size += b
            if len(docs) >= max_docs or size >= max_bytes:
                return docs
    if not docs:
        raise SourceError(f"{path}: held-out set is empty")
    return docs


CONTENT_HASH_MAX_BYTES = 256 << 20


def input_fingerprint(path: str) -> str:
    """Identity of a source's input files: their content hash up to 256 MB each (a file rewritten with the
    same content, such as a re-exported safety set, is the same input), size and mtime above that
    (hashing terabytes on every run would cost more than it protects)."""
    items = []
    for f in _files(path):
        st = f.stat()
        if st.st_size <= CONTENT_HASH_MAX_BYTES:
            items.append([f.name, sha256_file(f)])
        else:
            items.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return hash_obj(items)
