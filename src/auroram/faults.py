"""Named fault points for crash tests, test-only: with the variables unset each point is one lookup.

`AURORAM_FAULT=NAME` kills the process with SIGKILL at the point NAME. NAME may be a glob
(`write:*/shards/en/tokens.bin`) and may end in `@N` to kill at the Nth time a matching point is reached
in this process (`checkpoint:after-model@2`: during the second checkpoint).
`AURORAM_FAULT_LOG=FILE` appends every point reached to FILE (how the soak run learns the points).
`AURORAM_ENOSPC=GLOB` makes io.atomic_file fail with ENOSPC for paths matching GLOB (disk-full tests).
`AURORAM_POISON=GLOB` makes `poisoned(name)` true at matching points (a NaN loss, for example).
"""

from __future__ import annotations

import fnmatch
import os
import signal

_hits: dict[str, int] = {}


def _split(spec: str) -> tuple[str, int]:
    name, sep, n = spec.rpartition("@")
    if sep and n.isdigit():
        return name, int(n)
    return spec, 1


def _matches(pattern: str, name: str) -> bool:
    return pattern == name or fnmatch.fnmatchcase(name, pattern)


def _reached(spec: str, name: str) -> bool:
    pattern, nth = _split(spec)
    if not _matches(pattern, name):
        return False
    _hits[spec] = _hits.get(spec, 0) + 1
    return _hits[spec] == nth


def fault_point(name: str) -> None:
    log = os.environ.get("AURORAM_FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
    want = os.environ.get("AURORAM_FAULT")
    if want and _reached(want, name):
        os.kill(os.getpid(), signal.SIGKILL)


def poisoned(name: str) -> bool:
    """True where AURORAM_POISON asks for a corrupted value at `name` (test-only)."""
    want = os.environ.get("AURORAM_POISON")
    return bool(want) and _reached("poison:" + want, "poison:" + name)


def disk_full(path: str) -> bool:
    want = os.environ.get("AURORAM_ENOSPC")
    return bool(want) and _matches(want, path)
