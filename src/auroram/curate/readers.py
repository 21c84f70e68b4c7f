"""Input files as one global, ordered list of Documents; bad records become `unreadable` rejects.

Every input file gets an index in a sorted global list, and every record a (file, record) key; that key,
not the task layout, decides which copy of a duplicate survives, so results do not depend on `tasks`.
Tasks split the files as one stream of bytes (`task_spans`): an uncompressed JSONL file is cut at line
starts, so one large file keeps every task busy; any other file is read whole by one task.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from datatrove.data import Document

from auroram.curate.config import ReaderConfig
from auroram.data.ranges import count_lines
from auroram.errors import AuroramError
from auroram.faults import fault_point

UNREADABLE = "unreadable"
UNSUPPORTED = "unsupported"  # a file in an input directory whose type no reader handles
_BOM = b"\xef\xbb\xbf"
QUARANTINE_TEXT_CHARS = 4096  # of a bad record kept for inspection; the rest is noted, not stored

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl.zst", ".json.zst",
                  ".ndjson.zst")
SPLITTABLE_SUFFIXES = (".jsonl", ".json", ".ndjson")  # uncompressed: a task can seek to a line start
PARQUET_SUFFIXES = (".parquet",)
ARROW_SUFFIXES = (".arrow",)


class CurateInputError(AuroramError, ValueError):
    """Bad input under --strict; the message names the file and line."""


@dataclass(frozen=True)
class InputFile:
    path: str
    kind: str  # jsonl | parquet | arrow | text | code
    lang_hint: str | None = None
    size: int = -1  # bytes when listed, so every task cuts the same spans (-1: not known)


def _listed(path: Path, kind: str, hint: str | None) -> InputFile:
    try:
        size = path.stat().st_size
    except OSError:
        size = -1  # read_file names the problem
    return InputFile(str(path), kind, hint, size)


def parse_input(spec: str, known_langs: set[str]) -> tuple[str, str | None]:
    """`LANG:PATH` routes a whole input to a language (e.g. `code:src/`); a plain path is detected."""
    if ":" in spec:
        head, rest = spec.split(":", 1)
        if head in known_langs and rest:
            return rest, head
    return spec, None


def _kind(p: Path, rc: ReaderConfig) -> str | None:
    name = p.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(ARROW_SUFFIXES):
        return "arrow"
    if any(name.endswith(e) for e in rc.text_extensions):
        return "text"
    if any(name.endswith(e) for e in rc.code_extensions):
        return "code"
    return None


def list_inputs(inputs: list[tuple[str, str | None]], rc: ReaderConfig) -> list[InputFile]:
    """Expand files and directories into the global file list (input order, then sorted paths)."""
    out: list[InputFile] = []
    for path_str, hint in inputs:
        p = Path(path_str).expanduser()
        if p.is_dir():
            if (p / "state.json").is_file() or (p / "dataset_info.json").is_file():
                arrows = sorted(p.glob("*.arrow"))  # HF save_to_disk: data-0000x-of-0000n.arrow
                out += [_listed(a, "arrow", hint) for a in arrows]
                continue
            # hidden files and directories (.git, .cache) are not input; every other file is curated or,
            # when its type is unknown, accounted for as an unreadable record (nothing vanishes silently)
            files = (x for x in p.rglob("*") if x.is_file()
                     and not any(part.startswith(".") for part in x.relative_to(p).parts))
            for f in sorted(files):
                k = _kind(f, rc) or UNSUPPORTED
                out.append(_listed(f, k, hint or ("code" if k == "code" else None)))
        elif p.is_file():
            k = _kind(p, rc) or "jsonl"  # an unknown suffix named on purpose: try it as JSONL, quarantine if not
            out.append(_listed(p, k, hint or ("code" if k == "code" else None)))
        else:
            raise CurateInputError(f"{p}: no such file or directory")
    seen, unique = set(), []
    for f in out:
        if f.path not in seen:
            seen.add(f.path)
            unique.append(f)
    return unique


def splittable(f: InputFile) -> bool:
    return f.kind == "jsonl" and f.path.lower().endswith(SPLITTABLE_SUFFIXES) and f.size > 0


def task_spans(files: list[InputFile], rank: int, world_size: int) -> Iterator[tuple[int, InputFile,
                                                                                  tuple[int, int] | None]]:
    """What task `rank` of `world_size` reads: (global file index, file, byte span or None for all of it).

    The files, in global order, are one stream of bytes cut into world_size equal slices. A record of a
    splittable file belongs to the task whose slice holds its first byte, any other file (compressed,
    columnar, text) to the task whose slice holds the file's first byte; so every record is read by exactly
    one task, and the tasks' outputs in rank order are the global order."""
    sizes = [max(f.size, 0) for f in files]
    total = sum(sizes)
    lo, hi = total * rank // world_size, total * (rank + 1) // world_size
    last = rank == world_size - 1
    start = 0
    for i, (f, n) in enumerate(zip(files, sizes)):
        end = start + n
        if splittable(f):
            a, b = max(lo, start) - start, min(hi, end) - start
            if a < b:
                yield i, f, None if (a, b) == (0, n) else (a, b)
        elif lo <= start < hi or (last and start >= hi):
            yield i, f, None
        start = end


def _bad(f: InputFile, file_idx: int, line: int, detail: str, raw: bytes | str = b"", strict: bool = False) -> Document:
    where = f"{f.path}: line {line}" if line else f.path
    if strict:
        raise CurateInputError(f"{where}: {detail}")
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    meta = {"file": f.path, "line": line, "key": [file_idx, line], "rejected": ["read", UNREADABLE, detail],
            "bytes_in": len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))}
    if len(text) > QUARANTINE_TEXT_CHARS:
        meta["text_truncated_from_chars"] = len(text)
        text = text[:QUARANTINE_TEXT_CHARS]
    return Document(text=text, id=f"{f.path}:{line}", metadata=meta)


def _doc(f: InputFile, file_idx: int, rec: int, text: str, doc_id: Any, lang: str | None) -> Document:
    return Document(text=text, id=str(doc_id) if doc_id is not None else f"{f.path}:{rec}",
                    metadata={"file": f.path, "line": rec, "key": [file_idx, rec], "lang_hint": lang})


def _open_bytes(path: str) -> io.BufferedIOBase:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise CurateInputError(f"{path}: reading .zst needs the zstandard package (pip install zstandard)") from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb")


def _utf8_detail(raw: bytes, bad_at: int) -> str:
    col = bad_at - (raw.rfind(b"\n", 0, bad_at) + 1)
    return f"not valid UTF-8 (byte 0x{raw[bad_at]:02X} at offset {col} of the line)"


def _lone_surrogate_field(fields: dict[str, Any]) -> str | None:
    for name, value in fields.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return name
    return None


def first_unreadable(files: list[InputFile], rc: ReaderConfig) -> None:
    """Raise CurateInputError at the first bad record in global order (the `--strict` pre-pass): a read
    costs far less than the filters, and failing here leaves nothing half-written."""
    for i, f in enumerate(files):
        for _ in read_file(f, i, rc, strict=True):
            pass


def _looks_binary(head: bytes) -> bool:
    return b"\x00" in head


def read_file(f: InputFile, file_idx: int, rc: ReaderConfig, strict: bool = False,
              span: tuple[int, int] | None = None) -> Iterator[Document]:
    """The file's documents; with `span` (a splittable file's byte range, from task_spans) only the records
    whose first byte lies in it."""
    fault_point(f"curate-read:{file_idx}")  # kill tests: a task killed between its files, others' files done
    try:
        if f.kind == "jsonl":
            yield from _read_jsonl(f, file_idx, rc, strict, span)
        elif f.kind in ("text", "code"):
            yield from _read_text(f, file_idx, rc, strict)
        elif f.kind in ("parquet", "arrow"):
            yield from _read_table(f, file_idx, rc, strict)
        elif f.kind == UNSUPPORTED:
            suffix = Path(f.path).suffix or "(none)"
            yield _bad(f, file_idx, 0, f"unsupported file type {suffix}: not JSONL, Parquet, Arrow, or a text or code "
                       "extension of reader.text_extensions / reader.code_extensions", strict=strict)
    except OSError as e:  # permissions, vanished file, device errors
        yield _bad(f, file_idx, 0, f"cannot read ({e.strerror or e})", strict=strict)


def _skip_line(fh: io.BufferedIOBase) -> int:
    """Read to the end of the current line, in bounded chunks; the bytes skipped."""
    n = 0
    while chunk := fh.readline(1 << 24):
        n += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return n


def _read_jsonl(f: InputFile, file_idx: int, rc: ReaderConfig, strict: bool,
                span: tuple[int, int] | None = None) -> Iterator[Document]:
    lo, hi = span or (0, None)
    lineno = 0
    any_line = False
    try:
        with _open_bytes(f.path) as fh:
            head = fh.peek(8192)[:8192] if hasattr(fh, "peek") else b""
            if _looks_binary(head):
                if lo == 0:  # one record for the whole file, from the task that holds its first byte
                    yield _bad(f, file_idx, 0, "binary file (NUL bytes), not JSONL", head[:256], strict)
                return
            pos = lo
            if lo > 0:
                fh.seek(lo - 1)
                lineno = count_lines(f.path, lo)  # lines that start before lo
                if fh.read(1) != b"\n":  # lo falls inside a line: the task before reads it
                    pos += _skip_line(fh)
                    lineno += 1
            while hi is None or pos < hi:
                raw = fh.readline(rc.max_doc_bytes + 1)
                if not raw:
                    break
                pos += len(raw)
                lineno += 1
                if len(raw) > rc.max_doc_bytes and not raw.endswith(b"\n"):
                    size = len(raw) + _skip_line(fh)  # the rest of the oversized line
                    pos += size - len(raw)
                    yield _bad(f, file_idx, lineno, f"record larger than reader.max_doc_bytes "
                                                    f"({size:,} > {rc.max_doc_bytes:,} bytes)", raw[:256], strict)
                    continue
                if lineno == 1 and raw.startswith(_BOM):  # editors on Windows write one; it is not part of the record
                    raw = raw[len(_BOM):]
                if not raw.strip():
                    continue
                any_line = True
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield _bad(f, file_idx, lineno, _utf8_detail(raw, e.start), raw, strict)
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    yield _bad(f, file_idx, lineno, f"not valid JSON ({e.msg})", raw, strict)
                    continue
                if not isinstance(rec, dict):
                    yield _bad(f, file_idx, lineno, "not a JSON object", raw, strict)
                    continue
                text = rec.get(rc.text_field)
                if not isinstance(text, str):
                    what = "no" if text is None else "a non-string"
                    yield _bad(f, file_idx, lineno, f"{what} '{rc.text_field}' field", raw, strict)
                    continue
                doc_id = rec.get(rc.id_field)
                if b"\\u" in raw:  # only a JSON escape can smuggle a lone surrogate past the UTF-8 decode
                    bad_field = _lone_surrogate_field({rc.text_field: text, rc.id_field: doc_id})
                    if bad_field:
                        yield _bad(f, file_idx, lineno, f"'{bad_field}' holds a lone surrogate escape "
                                                        f"(not valid Unicode)", raw, strict)
                        continue
                lang = f.lang_hint or (rec.get(rc.lang_field) if rc.lang_field else None)
                yield _doc(f, file_idx, lineno, text, doc_id, lang if isinstance(lang, str) else None)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        yield _bad(f, file_idx, lineno + 1, f"compressed stream ends early or is corrupt ({e})", b"", strict)
        return
    except Exception as e:  # zstandard raises its own ZstdError
        if type(e).__name__ != "ZstdError":
            raise
        yield _bad(f, file_idx, lineno + 1, f"compressed stream ends early or is corrupt ({e})", b"", strict)
        return
    if not any_line and lo == 0 and (hi is None or _blank_rest(f.path, hi)):
        yield _bad(f, file_idx, 0, "empty file", b"", strict)


def _blank_rest(path: str, offset: int) -> bool:
    """Whether the file is whitespace only from `offset` on (a split file's first task saw only blank lines)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(1 << 22):
            if chunk.strip():
                return False
    return True


def _read_text(f: InputFile, file_idx: int, rc: ReaderConfig, strict: bool) -> Iterator[Document]:
    size = Path(f.path).stat().st_size
    if size > rc.max_doc_bytes:
        yield _bad(f, file_idx, 0, f"file larger than reader.max_doc_bytes ({size:,} > {rc.max_doc_bytes:,} bytes)",
                   b"", strict)
        return
    raw = Path(f.path).read_bytes()
    if not raw.strip():
        yield _bad(f, file_idx, 0, "empty file", raw, strict)
        return
    if _looks_binary(raw[:8192]):
        yield _bad(f, file_idx, 0, "binary file (NUL bytes)", raw[:256], strict)
        return
    raw = raw[len(_BOM):] if raw.startswith(_BOM) else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1  # the whole file is one document; name where it breaks
        yield _bad(f, file_idx, line, _utf8_detail(raw, e.start), raw, strict)
        return
    yield _doc(f, file_idx, 1, text, None, f.lang_hint)


def _read_table(f: InputFile, file_idx: int, rc: ReaderConfig, strict: bool) -> Iterator[Document]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CurateInputError(f"{f.path}: reading Parquet/Arrow needs the pyarrow package (pip install pyarrow)") \
            from None
    try:
        if f.kind == "parquet":
            pf = pq.ParquetFile(f.path)
            names = pf.schema_arrow.names
            batches = pf.iter_batches(batch_size=1024, columns=[c for c in (rc.text_field, rc.id_field, rc.lang_field)
                                                                 if c and c in names])
        else:
            src = pa.memory_map(f.path, "r")
            try:
                reader = pa.ipc.open_stream(src)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(src)
                reader = iter(reader.get_batch(i) for i in range(reader.num_record_batches))
                names = None
            else:
                names = reader.schema.names
            batches = reader
        row = 0
        for batch in batches:
            cols = batch.schema.names if names is None else names
            if rc.text_field not in cols:
                yield _bad(f, file_idx, 0, f"no '{rc.text_field}' column (has: {', '.join(cols)})", b"", strict)
                return
            d = batch.to_pydict()
            texts = d[rc.text_field]
            ids = d.get(rc.id_field) or [None] * len(texts)
            langs = d.get(rc.lang_field) if rc.lang_field else None
            for i, text in enumerate(texts):
                row += 1
                if not isinstance(text, str):
                    yield _bad(f, file_idx, row, f"'{rc.text_field}' is {'null' if text is None else 'not a string'}",
                               b"", strict)
                    continue
                lang = f.lang_hint or (langs[i] if langs else None)
                yield _doc(f, file_idx, row, text, ids[i], lang if isinstance(lang, str) else None)
        if row == 0:
            yield _bad(f, file_idx, 0, "empty table", b"", strict)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        yield _bad(f, file_idx, 0, f"not a readable {f.kind} file ({str(e).splitlines()[0]})", b"", strict)
