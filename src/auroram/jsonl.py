"""Reading JSONL files record by record, with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def read_records(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; `error` is raised, naming file and line, for a line
    that is not a JSON object or a file that is not UTF-8."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise error(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
                if not isinstance(rec, dict):
                    raise error(f"{path}: line {lineno}: expected a JSON object, got {type(rec).__name__}")
                yield lineno, rec
    except UnicodeDecodeError as e:
        raise error(f"{path}: not valid UTF-8 (byte {e.start})") from None
