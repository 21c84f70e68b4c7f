"""Tokenization on datatrove's executors into shard sets (auroram.tokenize.shardset): one part per task,
never merged.

`auroram curate --tokenize`: each output set is a named group of JSONL files (e.g. all of `kept/`, or one
language of it) read as one stream in file order. Task r of N takes the records whose first byte lies in the
r-th of N equal byte ranges of that stream and tokenizes them into `<name>/parts/part-<r>.bin`; a last task
writes each set's `index.json`. The parts read in order are what `tokenize_to_shard` writes for the whole
stream in one process. `ShardTask` is the same for a run's sources (auroram.tokenize.tasks).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from auroram.curate.executors import QuietLocalExecutor, quiet_loguru
from auroram.data.ranges import count_lines
from auroram.errors import AuroramError
from auroram.faults import fault_point
from auroram.io import hash_obj, mark_step_done, read_json, sha256_file, step_done, write_json
from auroram.tokenize.tasks import run_task


class TokenizeInputError(AuroramError, ValueError):
    """A record that cannot be tokenized; the message names the file and line."""


def _sizes(files: Sequence[str]) -> list[int]:
    return [os.path.getsize(f) for f in files]


def task_byte_range(total_bytes: int, rank: int, world_size: int) -> tuple[int, int]:
    return total_bytes * rank // world_size, total_bytes * (rank + 1) // world_size


def iter_range_texts(files: Sequence[str], lo: int, hi: int, *, text_field: str = "text",
                     lang: str | None = None) -> Iterator[str]:
    """Texts of the records whose first byte lies in [lo, hi) of the files read as one stream."""
    start = 0
    for f, size in zip(files, _sizes(files)):
        end = start + size
        if end <= lo or start >= hi:
            start = end
            continue
        local_lo, local_hi = max(lo - start, 0), min(hi - start, size)
        with open(f, "rb") as fh:
            pos = local_lo
            if local_lo > 0:
                fh.seek(local_lo - 1)
                if fh.read(1) != b"\n":  # the line under local_lo started in the range before: skip its rest
                    pos += len(fh.readline())
            first_pos, nth = pos, 0
            while pos < local_hi:
                raw = fh.readline()
                if not raw:
                    break
                pos += len(raw)
                nth += 1
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    line = count_lines(f, first_pos) + nth  # counted only when it has to be named
                    raise TokenizeInputError(f"{f}: line {line}: not a JSON record ({e})") from None
                text = rec.get(text_field) if isinstance(rec, dict) else None
                if not isinstance(text, str):
                    line = count_lines(f, first_pos) + nth
                    raise TokenizeInputError(f"{f}: line {line}: no string '{text_field}' field")
                if lang is not None and rec.get("lang") != lang:
                    continue
                yield text
        start = end


class TokenizeShardStep(PipelineStep):
    type = "auroram tokenize"
    name = "tokenize into shard set parts"

    def __init__(self, groups: Mapping[str, Mapping[str, Any]], tokenizer_dir: str, out_dir: str,
                 text_field: str = "text", batch_docs: int = 512):
        super().__init__()
        self.groups = {k: {"files": list(v["files"]), "lang": v.get("lang")} for k, v in groups.items()}
        self.tokenizer_dir, self.out, self.text_field, self.batch_docs = tokenizer_dir, Path(out_dir), \
            text_field, batch_docs

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from auroram.tokenize.bpe import eos_id, load_tokenizer
        from auroram.tokenize.shardset import tokenize_part

        tok = load_tokenizer(self.tokenizer_dir)
        eos = eos_id(tok)
        for name, g in self.groups.items():
            lo, hi = task_byte_range(sum(_sizes(g["files"])), rank, world_size)
            texts = iter_range_texts(g["files"], lo, hi, text_field=self.text_field, lang=g["lang"])
            with self.track_time():
                rec = tokenize_part(tok, texts, self.out / name, rank, eos_id=eos, masked=False,
                                    batch_docs=self.batch_docs)
            self.stat_update("documents", value=rec["documents"], unit="task")
            self.stat_update("tokens", value=rec["tokens"], unit="task")
            fault_point(f"tokenize-part:{name}:rank{rank}")
        return
        yield


class FinalizeSetsStep(PipelineStep):
    type = "auroram tokenize"
    name = "index the shard sets"

    def __init__(self, names: Sequence[str], out_dir: str, tasks: int, run_hash: str):
        super().__init__()
        self.names, self.out, self.tasks, self.run_hash = list(names), Path(out_dir), tasks, run_hash

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from auroram.tokenize.shardset import finalize

        summary = {}
        for name in self.names:
            index = finalize(self.out / name, self.tasks, meta={"group": name})
            summary[name] = {"documents": index["documents"], "tokens": index["tokens"],
                             "bytes": index.get("bytes_text", 0), "parts": self.tasks}
        write_json(self.out / "shards.json", summary)
        mark_step_done(self.out, "tokenize", self.run_hash, shards=summary)
        return
        yield


def _parts_done(out: Path, names: Sequence[str], rank: int) -> bool:
    """Part `rank` of every set is on disk at the size its record says (a deleted part is redone)."""
    from auroram.tokenize.shardset import part_path

    for name in names:
        p = part_path(out / name, rank)
        try:
            if p.stat().st_size != read_json(p.with_suffix(".json"))["bytes"]:
                return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
    return True


def _executor(pipeline: list, tasks: int, workers: int, logs: Path, quiet: bool) -> LocalPipelineExecutor:
    return QuietLocalExecutor(pipeline, tasks=tasks, workers=max(1, min(workers, tasks)), logging_dir=str(logs),
                              skip_completed=True, quiet=quiet)


def tokenize_groups(groups: Mapping[str, Mapping[str, Any]], tokenizer_dir: str | os.PathLike,
                    out_dir: str | os.PathLike, *, tasks: int = 1, workers: int = 1, text_field: str = "text",
                    batch_docs: int = 512, quiet: bool = True) -> dict[str, dict[str, int]]:
    """Tokenize each group {"files": [...JSONL...], "lang": None or a `lang` value to keep} into the shard set
    out_dir/<name>/ on datatrove's local executor with `tasks` parts; returns per-set stats.

    A rerun skips finished tasks (datatrove's completion markers under out_dir/work/logs); other inputs,
    another tokenizer or another task count start over."""
    from auroram.tokenize.bpe import TokenizerError

    if tasks < 1 or workers < 1:
        raise ValueError(f"tasks and workers must be >= 1, got tasks={tasks} workers={workers}")
    tdir = Path(tokenizer_dir)
    tok_files = sorted(p for p in tdir.glob("*") if p.is_file()) if tdir.is_dir() else []
    if not tok_files:
        raise TokenizerError(f"{tdir}: tokenizer directory not found or empty")
    out = Path(out_dir)
    ident = {"groups": {n: {"lang": g.get("lang"), "files": [[str(f), os.path.getsize(f), os.stat(f).st_mtime_ns]
                                                              for f in g["files"]]} for n, g in groups.items()},
             "tokenizer": {p.name: sha256_file(p) for p in tok_files}, "tasks": tasks, "text_field": text_field,
             "layout": "shardset"}  # outputs of the merged single-file layout are redone
    run_hash = hash_obj(ident)
    if step_done(out, run_hash) and (out / "shards.json").is_file():
        return read_json(out / "shards.json")
    work = out / "work"
    marker = work / "run.json"
    if not (marker.is_file() and read_json(marker).get("hash") == run_hash):
        # partial results of other inputs or another task layout cannot be reused
        shutil.rmtree(work, ignore_errors=True)
        for name in groups:
            shutil.rmtree(out / name, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out / "step.json")
        write_json(marker, {"hash": run_hash, "tasks": tasks})
    names = list(groups)
    logs = work / "logs" / "1-tokenize"
    for r in range(tasks):  # datatrove's markers follow the parts on disk: a deleted part is redone
        if not _parts_done(out, names, r):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(logs / "completions" / f"{r:05d}")
    with contextlib.suppress(FileNotFoundError):  # not done (checked above): the index is written again
        os.unlink(work / "logs" / "2-index" / "completions" / "00000")
    step = TokenizeShardStep(groups, str(tdir), str(out), text_field, batch_docs)
    execs = [_executor([step], tasks, workers, logs, quiet),
             _executor([FinalizeSetsStep(names, str(out), tasks, run_hash)], 1, 1, work / "logs" / "2-index",
                       quiet)]
    with quiet_loguru(quiet):
        for ex in execs:
            ex.run()
            left = ex.get_incomplete_ranks(skip_completed=True)
            if left:
                raise RuntimeError(f"tokenize: {len(left)} task(s) did not complete (logs in {ex.logging_dir.path}); "
                                   f"rerun to continue")
    return read_json(out / "shards.json")


def kept_groups(curate_out: str | os.PathLike, by_lang: bool = True) -> dict[str, dict[str, Any]]:
    """Groups for a curated directory: one per language in stats.json (documents kept > 0), or one `all`."""
    from auroram.curate.run import KEPT_GLOB

    root = Path(curate_out)
    files = [str(p) for p in sorted((root / "kept").glob(KEPT_GLOB))]  # a user's own file in kept/ is not curated
    if not files:
        raise FileNotFoundError(f"{root / 'kept'}: no curated JSONL files (run auroram curate first)")
    if not by_lang:
        return {"all": {"files": files, "lang": None}}
    stats = read_json(root / "stats.json")
    langs = [lang for lang, v in stats.get("by_language", {}).items() if v.get("docs_kept", 0) > 0]
    return {lang: {"files": files, "lang": lang} for lang in langs}


def tokenize_kept(curate_out: str | os.PathLike, tokenizer_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  *, by_lang: bool = True, **kw: Any) -> dict[str, dict[str, int]]:
    """Tokenize a curated directory's kept/ into the shard sets out_dir/<lang>/ (or out_dir/all/)."""
    return tokenize_groups(kept_groups(curate_out, by_lang), tokenizer_dir, out_dir, **kw)


class ShardTask(PipelineStep):
    """One task of a run's shard set (auroram.tokenize.tasks): the part file and its record are the output."""

    type = "auroram prepare"
    name = "tokenize one part of a source's shard set"

    def __init__(self, set_dir: str):
        super().__init__()
        self.set_dir = set_dir

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from loguru import logger

        with contextlib.suppress(ValueError):  # a fresh worker's console handler: task logs go to its log file
            logger.remove(0)
        with self.track_time():
            rec = run_task(Path(self.set_dir), rank)
        if rec is not None:
            self.stat_update("documents", value=rec["documents"], unit="task")
            self.stat_update("tokens", value=rec["tokens"], unit="task")
        return
        yield
