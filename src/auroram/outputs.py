"""Where a command writes for the user: it never destroys what the toolkit did not make.

An output directory carries `.auroram-output.json`: the command that made it and the paths it wrote
(commands that write into place, like `auroram curate`, name their paths as patterns in a `Layout`).
A command writes into an existing directory only when everything there is its own earlier output, or
with `--force`; even then it replaces only its own paths and keeps every other file where it is.
A path that holds a file where a directory is expected (or the other way round) is a one-line error.

    check_out_dir(path, layout, force=...)   the CLI's check, before any work
    replace_dir(path, layout)                write a whole directory (atomic_dir), carrying the user's files over
    claim_dir(path, layout)                  mark a directory a command then fills in place; remove_owned() cleans it
    check_out_file(path, command, ...)       the same rule for one file; record_out_file() notes it (hidden, beside it)
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from auroram.errors import AuroramError
from auroram.io import atomic_dir, sha256_file, write_json

MARKER = ".auroram-output.json"
MARKER_FORMAT = 1


class OutputError(AuroramError, OSError):
    """An output path holds something the toolkit did not make (or a file where a folder belongs)."""


@dataclass(frozen=True)
class Layout:
    """What one command writes into its output directory."""

    command: str  # as the user types it after `auroram`, e.g. "safety build"; also the marker's name for it
    # relative paths it writes, one glob per path segment ("**" last: anything below); "x/" matches folders only
    patterns: tuple[str, ...] = ()
    # recognises this command's output made before markers existed, so a rerun into it keeps working
    legacy: Callable[[Path], bool] | None = None
    # a rerun into its own directory goes on whatever else is there (a run directory is a workspace)
    shared: bool = False


def read_marker(root: Path) -> dict | None:
    try:
        m = json.loads((Path(root) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _segments_match(parts: list[str], pat: list[str]) -> bool:
    if pat and pat[-1] == "**":
        head = pat[:-1]
        return len(parts) > len(head) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, head))
    return len(parts) == len(pat) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pat))


def matches(rel: str, pattern: str, is_dir: bool | None = None) -> bool:
    """`rel` matches `pattern` segment by segment (`*` never crosses a `/`); is_dir None: either kind."""
    if pattern.endswith("/"):
        if is_dir is False:
            return False
        pattern = pattern[:-1]
    return _segments_match(rel.split("/"), pattern.split("/"))


def _may_hold(rel: str, pattern: str) -> bool:
    # something below the folder rel could match the pattern, so the walk must look inside it
    parts, segs = rel.split("/"), pattern.rstrip("/").split("/")
    return len(parts) < len(segs) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, segs))


def _unpartial(rel: str) -> str:
    # atomic_file/atomic_dir write `.NAME.XXXX.tmp` and keep `.NAME.old-PID` while replacing: NAME's owner owns them
    head, _, name = rel.rpartition("/")
    if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:
        name = name[1:-4].rsplit(".", 1)[0]
    elif name.startswith(".") and ".old-" in name:
        name = name[1:].rsplit(".old-", 1)[0]
    else:
        return rel
    return f"{head}/{name}" if head else name


class _Owner:
    """Which paths under `root` the layout's command wrote."""

    def __init__(self, root: Path, layout: Layout):
        m = read_marker(root)
        self.layout = layout
        self.ours = m is not None and m.get("command") == layout.command
        self.legacy = m is None and layout.legacy is not None and (root.is_dir() and layout.legacy(root))
        self.listed = set(m.get("paths") or []) if self.ours else set()
        self.patterns_apply = self.ours or self.legacy

    def __call__(self, rel: str, is_dir: bool) -> bool:
        if rel == MARKER:
            return True
        rel = _unpartial(rel)
        if rel in self.listed:
            return True
        return self.patterns_apply and any(matches(rel, p, is_dir) for p in self.layout.patterns)

    def all_below(self, rel: str) -> bool:
        """Everything inside the folder rel is the command's (a `**` pattern covers it)."""
        return self.patterns_apply and any(p.endswith("/**") and matches(rel + "/x", p) for p in self.layout.patterns)

    def may_hold(self, rel: str) -> bool:
        """Something inside the folder rel may be the command's; if not, the folder is foreign as a whole."""
        return any(p.startswith(rel + "/") for p in self.listed) or self.patterns_apply and any(
            _may_hold(rel, p) for p in self.layout.patterns)


def _walk_foreign(d: Path, prefix: str, owned: _Owner, out: list[str]) -> bool:
    """Append the paths under d the layout does not own, a folder with nothing of its as one entry; True when
    nothing under d is owned."""
    all_foreign = True
    with os.scandir(d) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = prefix + e.name
        if not e.is_dir(follow_symlinks=False):
            if owned(rel, False):
                all_foreign = False
            else:
                out.append(rel)
            continue
        mine = owned(rel, True)
        if mine and owned.all_below(rel):
            all_foreign = False
            continue
        if not mine and not owned.may_hold(rel):  # nothing of the command's can be inside: no need to look
            out.append(rel)
            continue
        mark = len(out)
        inner = _walk_foreign(Path(e.path), rel + "/", owned, out)
        if mine or not inner:
            all_foreign = False
        else:
            del out[mark:]
            out.append(rel)
    return all_foreign


def foreign_paths(root: str | os.PathLike, layout: Layout, sub: str = "") -> list[str]:
    """Paths under root (or root/sub), relative to root, that the layout's command did not write; a folder
    that holds nothing of the command's is one entry."""
    root = Path(root)
    start = root / sub if sub else root
    if not start.is_dir():
        return []
    out: list[str] = []
    _walk_foreign(start, f"{sub.strip('/')}/" if sub else "", _Owner(root, layout), out)
    return out


def _conflicts(root: Path, layout: Layout) -> list[str]:
    """A user's file (in a folder not yet marked as the command's output) where the command writes its own."""
    if _Owner(root, layout).patterns_apply:
        return []  # every path the patterns name is the command's own here
    files = [p for p in layout.patterns if not p.endswith("/")]
    hits: list[str] = []

    def walk(d: Path, prefix: str) -> None:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            rel = prefix + e.name
            is_dir = e.is_dir(follow_symlinks=False)
            if any(matches(rel, p) for p in files) or not is_dir and any(matches(rel, p) for p in layout.patterns):
                hits.append(rel)
            elif is_dir and any(_may_hold(rel, p) for p in layout.patterns):
                walk(Path(e.path), rel + "/")

    walk(root, "")
    return hits


def _examples(paths: list[str]) -> str:
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(paths[:3]) + more


def _check_parents(path: Path) -> None:
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OutputError(f"{parent} is a file, not a directory, so {path} cannot be written")
            return


def _in_the_way(path: Path, rel: str, layout: Layout) -> OutputError:
    return OutputError(f"{path / rel} is in the way: auroram {layout.command} writes there but did not make it; "
                       f"move it away (--force keeps a user's files, it never replaces them)")


def check_out_dir(path: str | os.PathLike, layout: Layout, *, force: bool = False) -> None:
    """Raise OutputError unless `path` may take the command's output: missing, empty, its own earlier output,
    or (with force) a directory whose other files the command will leave alone."""
    path = Path(path)
    _check_parents(path)
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{path} is a broken symbolic link, not a directory")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"{path} is a file, not a directory (auroram {layout.command} writes a directory there)")
    owner = _Owner(path, layout)
    if layout.shared and owner.patterns_apply:
        return
    foreign = foreign_paths(path, layout)
    if foreign and not force:
        raise OutputError(f"{path} already holds files auroram {layout.command} did not write ({_examples(foreign)}): "
                          f"choose a new or empty directory, or pass --force to write beside them (they are kept)")
    for rel in _conflicts(path, layout):
        raise _in_the_way(path, rel, layout)


def _marker(layout: Layout, paths: list[str] | None = None) -> dict:
    m = {"format": MARKER_FORMAT, "command": layout.command, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if paths is not None:
        m["paths"] = paths
    return m


def claim_dir(path: str | os.PathLike, layout: Layout) -> Path:
    """Make `path` (if missing) and mark it as this command's output before the command fills it in place.
    A user's files there stay; one where the command would write its own is an error."""
    path = Path(path)
    check_out_dir(path, layout, force=True)
    m = read_marker(path)
    if not (m and m.get("command") == layout.command):
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / MARKER, _marker(layout))
    return path


def _all_paths(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out += [(rel / n).as_posix() for n in dirnames + filenames]
    return sorted(p for p in out if p != MARKER)


def _keeper(layout: Layout, root: Path | None = None, sub: str = "") -> Callable[[Path, Path], list[str]]:
    """For io.atomic_dir: the old directory's paths that are not the command's, checked against the new one."""

    def keep(old: Path, new: Path) -> list[str]:
        base = root if root is not None else old
        prefix = f"{sub.strip('/')}/" if sub else ""
        foreign = [f[len(prefix):] for f in foreign_paths(base, layout, sub)]
        written = set(_all_paths(new))
        for f in foreign:
            p = old / f
            if os.path.ismount(p) or p.is_dir() and not p.is_symlink() and not os.access(p, os.W_OK):
                raise OutputError(f"{p} cannot move into the new {old.name} (a mount point or a read-only folder): "
                                  f"move it away or choose another directory")
            ancestors = ["/".join(f.split("/")[:i]) for i in range(1, f.count("/") + 1)]
            if f in written or any(w.startswith(f + "/") for w in written) or any(
                    a in written and not (new / a).is_dir() for a in ancestors):
                raise _in_the_way(old, f, layout)
        return foreign

    return keep


@contextlib.contextmanager
def replace_dir(path: str | os.PathLike, layout: Layout, *, root: str | os.PathLike | None = None,
                like: str | os.PathLike | None = None) -> Iterator[Path]:
    """atomic_dir for a command's output: yields a temporary directory; on success it replaces `path`, the
    command's own earlier files go, everything else there is carried into the new directory, and the marker
    lists what was written. `root`: the output directory when `path` is one folder inside it. `like`: a
    directory the output will look like (a copy's source), to find a user's file in the way before the work."""
    path = Path(path)
    top = Path(root) if root is not None else path
    check_out_dir(top, layout, force=True)
    if root is None and path.is_symlink():  # write where the link points, so the link stays
        path = top = Path(os.path.realpath(path))
    here = Path.cwd().resolve()
    if path.exists() and (path.resolve() == here or path.resolve() in here.parents):
        # the directory is replaced by a new one: not under the feet of this process (or the user's shell)
        raise OutputError(f"{path} holds the current directory: choose a directory inside it")
    sub = path.relative_to(top).as_posix() if root is not None else ""
    keep = _keeper(layout, top if sub else None, sub)
    if like is not None and path.is_dir():
        keep(path, Path(like))
    with atomic_dir(path, keep=keep) as tmp:
        yield tmp
        if not sub:
            write_json(tmp / MARKER, _marker(layout, _all_paths(tmp)))


def remove_owned(root: str | os.PathLike, layout: Layout, under: str) -> None:
    """Delete what the layout's command wrote under root/under (a file or a folder), keeping a user's files."""
    root = Path(root)
    owned = _Owner(root, layout)
    target = root / under
    if target.is_symlink() or target.is_file():
        if owned(under, False):
            target.unlink()
        return
    if not target.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(target, topdown=False):
        d = Path(dirpath)
        for n in filenames:
            rel = (d / n).relative_to(root).as_posix()
            if owned(rel, False):
                (d / n).unlink()
        for n in dirnames:
            rel = (d / n).relative_to(root).as_posix()
            if (d / n).is_symlink():
                if owned(rel, False):
                    (d / n).unlink()
            elif owned(rel, True):
                with contextlib.suppress(OSError):  # not empty: a user's file is still in it
                    (d / n).rmdir()
    if owned(under, True):
        with contextlib.suppress(OSError):
            target.rmdir()


def _file_marker(path: Path) -> Path:
    return path.with_name(f".{path.name}{MARKER}")


def check_out_file(path: str | os.PathLike, command: str, *, force: bool = False) -> None:
    """Raise OutputError unless `path` may take the command's one output file: missing, empty, the file the
    command wrote there last time and nobody changed since, or any file with force. A directory is an error."""
    path = Path(path)
    _check_parents(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory, not a file (auroram {command} writes one file there)")
    if not (path.exists() or path.is_symlink()):
        return
    if not path.is_file():
        raise OutputError(f"{path} is not a regular file (auroram {command} writes one file there)")
    if force or path.stat().st_size == 0:
        return
    m = read_marker_file(path)
    if m and m.get("command") == command and m.get("sha256") == sha256_file(path):
        return
    raise OutputError(f"{path} exists and auroram {command} did not write it (or it was changed since): "
                      f"choose another path, or pass --force to replace it")


def read_marker_file(path: Path) -> dict | None:
    try:
        m = json.loads(_file_marker(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def record_out_file(path: str | os.PathLike, command: str) -> None:
    """Note beside `path` (a hidden file) that the command wrote it, with its hash, so a rerun may replace it."""
    path = Path(path)
    write_json(_file_marker(path), {"format": MARKER_FORMAT, "command": command, "sha256": sha256_file(path),
                                    "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
