"""The offline demo corpus: text in en, fi, hi, ja, vi and code from Debian packages and the Python stdlib.

`auroram data demo` calls `build_demo_corpus`. It needs no internet, only a working apt (package lists
present) on a Debian or Ubuntu machine:

    download   `apt-get download PKG` into out_dir/debs/ (kept across attempts; no root needed)
    extract    `dpkg-deb -x` into out_dir/extract/PKG/
    collect    LibreOffice help pages, man pages, text books, .mo catalogues, stdlib .py files
    language   keep only the paragraphs fastText (lite model, bundled) assigns to the domain's language
    write      out_dir/corpus/<domain>/{train,val}.jsonl, then out_dir/manifest.json last

`collect` (apt and files) and `write_corpus` (split and output) are separate so the second is tested
on hand-made documents.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sysconfig
import tokenize
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from auroram.data import extract
from auroram.errors import AuroramError
from auroram.jsonl import read_records
from auroram.io import write_json
from auroram.outputs import Layout, claim_dir, replace_dir

DOMAINS = ("en", "fi", "hi", "ja", "vi", "code")
MANIFEST_FORMAT = 1
RERUN_HINT = "then rerun `auroram data demo`"
STDLIB_PACKAGE = "python-stdlib"


def _demo_dir(root: Path) -> bool:
    # a demo directory made before output markers: its package cache, or its manifest
    try:
        m = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        m = None
    return (root / "debs").is_dir() or (isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT and "domains" in m)


# the cache (debs/, extract/) and the corpus are reused by a rerun; a user's other files there are kept
OUTPUT = Layout("data demo", patterns=(
    "manifest.json", "corpus/", "corpus/*/", "corpus/*/train.jsonl", "corpus/*/val.jsonl", "debs/", "debs/*.deb",
    "debs/.incoming/", "debs/.incoming/**", "extract/", "extract/**", "instruct/", "instruct/**"), legacy=_demo_dir)


class DemoCorpusError(AuroramError, RuntimeError):
    """The demo corpus cannot be built on this machine; the message says what to run."""


@dataclass(frozen=True)
class Source:
    domain: str
    package: str
    kind: str  # help | man | book | mo
    path: str  # inside the package: the help language directory, man directory, book file or .mo directory


SOURCES = (
    Source("en", "libreoffice-help-en-us", "help", "usr/share/libreoffice/help/en-US"),
    Source("en", "debian-reference-en", "book", "usr/share/debian-reference/debian-reference.en.txt.gz"),
    Source("fi", "libreoffice-help-fi", "help", "usr/share/libreoffice/help/fi"),
    Source("fi", "manpages-fi", "man", "usr/share/man/fi"),
    Source("hi", "libreoffice-help-hi", "help", "usr/share/libreoffice/help/hi"),
    Source("hi", "libreoffice-l10n-hi", "mo", "usr/lib/libreoffice/program/resource/hi/LC_MESSAGES"),
    Source("ja", "manpages-ja", "man", "usr/share/man/ja"),
    Source("ja", "libreoffice-help-ja", "help", "usr/share/libreoffice/help/ja"),
    Source("vi", "libreoffice-help-vi", "help", "usr/share/libreoffice/help/vi"),
    Source("vi", "manpages-vi", "man", "usr/share/man/vi"),
    Source("vi", "maint-guide-vi", "book", "usr/share/doc/maint-guide-vi/maint-guide.vi.txt.gz"),
)
ENGLISH_HELP = SOURCES[0]  # translated pages are compared against it to drop untranslated fallbacks

MO_STRINGS_PER_DOC = 250  # a .mo catalogue holds thousands of UI strings; cut it into documents this size
DEVANAGARI_MIN_SHARE = 0.5  # Hindi help keeps many English paragraphs; keep those written mostly in Devanagari
STDLIB_SKIP_DIRS = frozenset({"test", "tests", "idlelib", "turtledemo", "site-packages", "__pycache__"})


@dataclass
class RawDoc:
    id: str
    source: str
    paragraphs: list[str]
    sep: str = "\n\n"
    filter_language: bool = True


@dataclass
class CollectStats:
    paragraphs: Counter = field(default_factory=Counter)
    paragraphs_kept: Counter = field(default_factory=Counter)
    untranslated_dropped: Counter = field(default_factory=Counter)
    man_render_failed: Counter = field(default_factory=Counter)
    duplicates_dropped: Counter = field(default_factory=Counter)


# ---------------------------------------------------------------- entry point


def build_demo_corpus(
    out_dir: Path,
    *,
    val_fraction: float = 0.05,
    min_val_docs: int = 20,
    seed: int = 0,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Build (or reuse) the demo corpus under out_dir; returns out_dir/corpus."""
    out_dir = Path(out_dir)
    if not force and manifest_complete(out_dir):
        return out_dir / "corpus"
    require_tools()
    claim_dir(out_dir, OUTPUT)
    with _ProgressBars(progress) as bars:
        docs_by_domain, sources, _stats = collect(out_dir, bars)
    return write_corpus(
        docs_by_domain, sources, out_dir, val_fraction=val_fraction, min_val_docs=min_val_docs, seed=seed
    )


def manifest_complete(out_dir: Path) -> bool:
    path = Path(out_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return False
    domains = manifest.get("domains") or {}
    corpus = Path(out_dir) / "corpus"
    return bool(domains) and all(
        (corpus / d / f"{split}.jsonl").is_file() for d in domains for split in ("train", "val")
    )


def require_tools() -> None:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise DemoCorpusError(
            "apt-get and dpkg-deb not found: the demo corpus is built from Debian packages, "
            "so build it on Debian or Ubuntu (or point the recipe at your own text)"
        )
    missing = [tool for tool in ("man", "groff", "col") if shutil.which(tool) is None]
    if missing:
        raise DemoCorpusError(
            f"{', '.join(missing)} not found (needed to render man pages): "
            f"run `apt-get install man-db groff-base bsdextrautils` as root, {RERUN_HINT}"
        )


# ---------------------------------------------------------------- progress


class _NoBars:
    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        pass

    def update(self, task: int, **kwargs: object) -> None:
        pass


class _ProgressBars:
    # rich's Progress is optional at call sites: tests and library users pass progress=False
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bars = None

    def __enter__(self):
        if not self.enabled:
            return _NoBars()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(
            TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        self._bars.__enter__()
        return self._bars

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.__exit__(*exc)


# ---------------------------------------------------------------- download and extract


def _run(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    # the one place the builder shells out for apt/dpkg; tests replace it
    return subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)


def _cached_deb(deb_dir: Path, package: str) -> Path | None:
    debs = sorted(deb_dir.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


def download_packages(packages: Sequence[str], deb_dir: Path, bars=None) -> dict[str, Path]:
    """Each package's .deb in deb_dir, downloading the missing ones with `apt-get download`."""
    bars = bars or _NoBars()
    deb_dir.mkdir(parents=True, exist_ok=True)
    found = {p: _cached_deb(deb_dir, p) for p in packages}
    missing = [p for p, deb in found.items() if deb is None]
    task = bars.add_task("download", total=len(packages))
    bars.advance(task, len(packages) - len(missing))
    if missing:
        # download into a scratch folder so deb_dir only ever holds whole, hash-checked files
        incoming = deb_dir / ".incoming"
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir()
        try:
            proc = _run(["apt-get", "download", *missing], cwd=incoming)
        except FileNotFoundError:
            raise DemoCorpusError("apt-get not found: build the demo corpus on Debian or Ubuntu") from None
        if proc.returncode != 0:
            raise _apt_error(proc.stdout + proc.stderr, missing)
        for deb in incoming.glob("*.deb"):
            os.replace(deb, deb_dir / deb.name)
        shutil.rmtree(incoming, ignore_errors=True)
        for p in missing:
            found[p] = _cached_deb(deb_dir, p)
            if found[p] is None:
                raise DemoCorpusError(f"apt-get download {p} reported success but wrote no .deb into {deb_dir}")
        bars.advance(task, len(missing))
    return found  # type: ignore[return-value]


def _apt_error(output: str, packages: Sequence[str]) -> DemoCorpusError:
    errors = [line for line in output.splitlines() if line.startswith("E:")]
    first = errors[0] if errors else (output.strip().splitlines() or ["no output"])[-1]
    if re.search(r"Unable to locate package|has no installation candidate|No packages found", output):
        return DemoCorpusError(
            f"apt does not know the packages the demo corpus needs ({first}); its package lists are "
            f"missing or stale: run `apt-get update` as root, {RERUN_HINT}"
        )
    if re.search(r"Failed to fetch|Temporary failure resolving|Could not resolve|Connection failed", output):
        return DemoCorpusError(
            f"apt-get could not reach its mirror ({first}); the demo corpus needs the packages "
            f"{' '.join(packages)} once: fix the network or apt sources (then `apt-get update` as root), {RERUN_HINT}"
        )
    return DemoCorpusError(f"apt-get download failed ({first}); run `apt-get update` as root, {RERUN_HINT}")


def extract_packages(debs: Mapping[str, Path], extract_dir: Path, bars=None) -> dict[str, Path]:
    """`dpkg-deb -x` each .deb into extract_dir/PKG/, reusing an extraction of the same .deb file."""
    bars = bars or _NoBars()
    extract_dir.mkdir(parents=True, exist_ok=True)
    task = bars.add_task("extract", total=len(debs))

    def one(package: str) -> Path:
        deb, root = debs[package], extract_dir / package
        marker = root / ".auroram-deb"
        if not (marker.is_file() and marker.read_text() == deb.name):
            tmp = extract_dir / f".{package}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            proc = _run(["dpkg-deb", "-x", str(deb), str(tmp)])
            if proc.returncode != 0:
                raise DemoCorpusError(
                    f"dpkg-deb -x {deb.name} failed ({proc.stderr.strip()}); delete {deb} {RERUN_HINT}"
                )
            (tmp / ".auroram-deb").write_text(deb.name)
            shutil.rmtree(root, ignore_errors=True)
            os.replace(tmp, root)
        bars.advance(task)
        return root

    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        return dict(zip(debs, pool.map(one, debs)))


def package_version(deb: Path) -> str:
    proc = _run(["dpkg-deb", "-f", str(deb), "Version"])
    if proc.returncode != 0:
        raise DemoCorpusError(f"dpkg-deb -f {deb.name} Version failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def package_license(root: Path, package: str) -> str:
    """The DEP-5 `License:` short names of a package's copyright file, unique, joined with " AND "."""
    try:
        text = (root / "usr/share/doc" / package / "copyright").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "see copyright file"
    names: list[str] = []
    for match in re.finditer(r"^License:[ \t]*(\S.*)$", text, re.MULTILINE):
        name = match.group(1).strip()
        if name not in names:
            names.append(name)
    return " AND ".join(names) if names else "see copyright file"


# ---------------------------------------------------------------- collect


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def collect(out_dir: Path, bars=None) -> tuple[dict[str, list[dict]], list[dict], CollectStats]:
    """Download, extract and read every source; returns documents per domain and the source records."""
    bars = bars or _NoBars()
    packages = [s.package for s in SOURCES]
    debs = download_packages(packages, out_dir / "debs", bars)
    roots = extract_packages(debs, out_dir / "extract", bars)
    stats = CollectStats()

    raw: dict[str, list[RawDoc]] = {d: [] for d in DOMAINS}
    help_sources = [s for s in SOURCES if s.kind == "help"]
    help_pages = _parse_help_pages(help_sources, roots, bars)
    english = help_pages[ENGLISH_HELP.package]
    for src in help_sources:
        raw[src.domain].extend(_help_docs(src, help_pages[src.package], english, stats))
    man_sources = [s for s in SOURCES if s.kind == "man"]
    for src, docs in zip(man_sources, _render_man_sources(man_sources, roots, bars, stats)):
        raw[src.domain].extend(docs)
    for src in SOURCES:
        if src.kind == "book":
            raw[src.domain].extend(_book_docs(src, roots[src.package]))
        elif src.kind == "mo":
            raw[src.domain].extend(_mo_docs(src, roots[src.package]))
    raw["code"].extend(stdlib_docs())

    docs_by_domain = filter_languages(raw, bars, stats)
    sources = [
        {
            "domain": s.domain,
            "package": s.package,
            "version": package_version(debs[s.package]),
            "license": package_license(roots[s.package], s.package),
        }
        for s in SOURCES
    ]
    sources.append(
        {"domain": "code", "package": STDLIB_PACKAGE, "version": platform.python_version(), "license": "PSF-2.0"}
    )
    return docs_by_domain, sources, stats


def _parse_help_file(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return extract.help_paragraphs(fh.read())


def _parse_help_pages(
    sources: Sequence[Source], roots: Mapping[str, Path], bars
) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """{package: {page path relative to the language directory: [(paragraph id, text)]}}."""
    jobs: list[tuple[str, str, Path]] = []
    for src in sources:
        base = roots[src.package] / src.path
        if not base.is_dir():
            raise DemoCorpusError(f"{src.package} has no {src.path}/: its layout changed; delete {roots[src.package]}")
        jobs += [(src.package, p.relative_to(base).as_posix(), p) for p in sorted(base.rglob("*.html"))]
    task = bars.add_task("parse help pages", total=len(jobs))
    pages: dict[str, dict[str, list[tuple[str, str]]]] = {s.package: {} for s in sources}
    paths = [str(p) for _, _, p in jobs]
    workers = _workers()
    if workers == 1:
        results: Iterable = map(_parse_help_file, paths)
        pool = None
    else:
        # html.parser is pure Python (~1.4 ms a page, 15k pages): spread it over the cores.
        # spawn, not fork: the caller may hold threads (torch, rich) that fork would copy mid-state
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_parse_help_file, paths, chunksize=64)
    try:
        for (package, rel, _), paragraphs in zip(jobs, results):
            pages[package][rel] = paragraphs
            bars.advance(task)
    finally:
        if pool is not None:
            pool.shutdown()
    return pages


def _help_docs(
    src: Source,
    pages: Mapping[str, list[tuple[str, str]]],
    english: Mapping[str, list[tuple[str, str]]],
    stats: CollectStats,
) -> Iterator[RawDoc]:
    for rel, paragraphs in pages.items():
        if src is not ENGLISH_HELP:
            kept = extract.drop_untranslated(paragraphs, dict(english.get(rel, ())))
            stats.untranslated_dropped[src.package] += len(paragraphs) - len(kept)
            paragraphs = kept
        if paragraphs:
            yield RawDoc(f"{src.package}:{rel}", src.package, [text for _, text in paragraphs])


def _is_so_redirect(path: Path) -> bool:
    # ".so man1/other.1" pages only include another page: rendering them would duplicate it
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read(4) == b".so "
    except OSError:
        return True


def render_man(path: Path) -> str:
    """A man page as plain UTF-8 text, one paragraph per line (MANWIDTH=2000 disables wrapping)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAN_KEEP_FORMATTING", "MANOPT", "MANROFFOPT")}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", MANWIDTH="2000")
    man = subprocess.Popen(
        ["man", "--nj", "--nh", "-E", "UTF-8", "-l", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        col = subprocess.run(["col", "-bx"], stdin=man.stdout, capture_output=True, env=env)
    finally:
        assert man.stdout is not None
        man.stdout.close()
        man.wait()
    if man.returncode != 0 or col.returncode != 0:
        raise RuntimeError(f"man -l {path} exited {man.returncode}, col exited {col.returncode}")
    return col.stdout.decode("utf-8", errors="replace")


def _render_man_sources(
    sources: Sequence[Source], roots: Mapping[str, Path], bars, stats: CollectStats
) -> list[list[RawDoc]]:
    jobs: list[tuple[Source, str, Path]] = []
    for src in sources:
        base = roots[src.package] / src.path
        for page in sorted(base.glob("man*/*")):
            if page.is_file() and not page.is_symlink() and not _is_so_redirect(page):
                jobs.append((src, page.relative_to(base).as_posix().removesuffix(".gz"), page))
    task = bars.add_task("render man pages", total=len(jobs))

    def one(job: tuple[Source, str, Path]) -> list[str] | None:
        try:
            return extract.man_paragraphs(render_man(job[2]))
        except (OSError, RuntimeError):
            return None
        finally:
            bars.advance(task)

    # each render is a man | preconv | tbl | groff | col pipeline in child processes: threads suffice
    with ThreadPoolExecutor(max_workers=_workers() + 1) as pool:
        rendered = list(pool.map(one, jobs))
    failed = sum(r is None for r in rendered)
    if jobs and failed == len(jobs):
        raise DemoCorpusError(
            f"man could not render any page (e.g. `man -l {jobs[0][2]}`); on a minimised image run "
            f"`unminimize` or `apt-get install --reinstall man-db groff-base bsdextrautils` as root, {RERUN_HINT}"
        )
    out: dict[str, list[RawDoc]] = {s.package: [] for s in sources}
    for (src, rel, _), paragraphs in zip(jobs, rendered):
        if paragraphs is None:
            stats.man_render_failed[src.package] += 1
        elif paragraphs:
            out[src.package].append(RawDoc(f"{src.package}:{rel}", src.package, paragraphs))
    return [out[s.package] for s in sources]


def _book_docs(src: Source, root: Path) -> Iterator[RawDoc]:
    with gzip.open(root / src.path, "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    seen: Counter = Counter()
    for heading, paragraphs in extract.book_sections(text):
        seen[heading] += 1
        suffix = f"#{seen[heading]}" if seen[heading] > 1 else ""
        yield RawDoc(f"{src.package}:{heading}{suffix}", src.package, paragraphs)


def _mo_docs(src: Source, root: Path) -> Iterator[RawDoc]:
    seen: set[str] = set()  # "OK", "Cancel" and friends recur in every catalogue
    for mo in sorted((root / src.path).glob("*.mo")):
        strings = []
        for s in extract.mo_strings(mo.read_bytes()):
            s = extract.clean_ui_string(s)
            if s and s not in seen:
                seen.add(s)
                strings.append(s)
        for i in range(0, len(strings), MO_STRINGS_PER_DOC):
            chunk = strings[i : i + MO_STRINGS_PER_DOC]
            yield RawDoc(f"{src.package}:{mo.name}#{i // MO_STRINGS_PER_DOC:03d}", src.package, chunk, sep="\n")


def stdlib_docs(stdlib: Path | None = None) -> Iterator[RawDoc]:
    """One document per .py file of the running interpreter's standard library, tests excluded."""
    base = Path(stdlib or sysconfig.get_paths()["stdlib"])
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_SKIP_DIRS)
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            path = Path(dirpath) / name
            try:
                with tokenize.open(path) as fh:  # honours PEP 263 coding cookies
                    text = fh.read()
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue
            if text.strip():
                rel = path.relative_to(base).as_posix()
                yield RawDoc(f"{STDLIB_PACKAGE}:{rel}", STDLIB_PACKAGE, [text], filter_language=False)


def filter_languages(
    raw: Mapping[str, Sequence[RawDoc]], bars=None, stats: CollectStats | None = None
) -> dict[str, list[dict]]:
    """Keep each document's paragraphs in its domain's language; drop empty and exactly repeated documents."""
    bars = bars or _NoBars()
    stats = stats or CollectStats()
    task = bars.add_task("language ID", total=sum(len(docs) for docs in raw.values()))
    lid = extract.LanguageFilter()
    out: dict[str, list[dict]] = {}
    for domain, docs in raw.items():
        seen: set[bytes] = set()
        kept_docs = []
        for doc in docs:
            paragraphs = doc.paragraphs
            if doc.filter_language:
                stats.paragraphs[doc.source] += len(paragraphs)
                paragraphs = lid.keep(paragraphs, domain)
                if domain == "hi":
                    paragraphs = [p for p in paragraphs if extract.devanagari_share(p) >= DEVANAGARI_MIN_SHARE]
                stats.paragraphs_kept[doc.source] += len(paragraphs)
            bars.advance(task)
            text = doc.sep.join(paragraphs)
            if not text.strip():
                continue
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            if digest in seen:
                stats.duplicates_dropped[doc.source] += 1
                continue
            seen.add(digest)
            kept_docs.append({"id": doc.id, "text": text, "source": doc.source})
        out[domain] = kept_docs
    return out


# ---------------------------------------------------------------- split and write


def val_ids(ids: Iterable[str], *, val_fraction: float, min_val_docs: int, seed: int) -> set[str]:
    """The ids that go to val: the lowest hashes of (seed, id), independent of input order."""
    ranked = sorted(set(ids), key=lambda i: hashlib.sha256(f"{seed}\x00{i}".encode("utf-8")).digest())
    n_val = max(min_val_docs, math.ceil(val_fraction * len(ranked)))
    # a domain too small for min_val_docs still keeps half its documents to train on
    n_val = min(n_val, len(ranked) // 2)
    return set(ranked[:n_val])


def write_corpus(
    docs_by_domain: Mapping[str, Iterable[Mapping[str, str]]],
    sources: Sequence[Mapping[str, str]],
    out_dir: Path,
    *,
    val_fraction: float = 0.05,
    min_val_docs: int = 20,
    seed: int = 0,
    python: str | None = None,
) -> Path:
    """Split documents into train/val per domain and write out_dir/corpus/ and then out_dir/manifest.json."""
    out_dir = claim_dir(out_dir, OUTPUT)
    manifest_path = out_dir / "manifest.json"
    # the manifest is the "complete" mark: remove it before touching the corpus it describes
    with suppress(FileNotFoundError):
        manifest_path.unlink()

    per_source: Counter = Counter()
    per_source_bytes: Counter = Counter()
    domains: dict[str, dict] = {}
    with replace_dir(out_dir / "corpus", OUTPUT, root=out_dir) as tmp:
        for domain, docs in docs_by_domain.items():
            docs = [{"id": str(d["id"]), "text": str(d["text"]), "source": str(d["source"])} for d in docs]
            ids = Counter(d["id"] for d in docs)
            repeated = [i for i, n in ids.items() if n > 1]
            if repeated:
                raise ValueError(f"domain {domain}: document ids must be unique; repeated: {repeated[:3]}")
            val = val_ids(ids, val_fraction=val_fraction, min_val_docs=min_val_docs, seed=seed)
            (tmp / domain).mkdir()
            domains[domain] = {}
            for split in ("train", "val"):
                n_docs = n_bytes = 0
                with open(tmp / domain / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                    for d in docs:
                        if (d["id"] in val) != (split == "val"):
                            continue
                        fh.write(json.dumps(d, ensure_ascii=False) + "\n")
                        size = len(d["text"].encode("utf-8"))
                        n_docs += 1
                        n_bytes += size
                        per_source[(domain, d["source"])] += 1
                        per_source_bytes[(domain, d["source"])] += size
                domains[domain][split] = {"documents": n_docs, "bytes": n_bytes}

    manifest = {
        "format": MANIFEST_FORMAT,
        "sources": [
            {
                "domain": s["domain"],
                "package": s["package"],
                "version": s["version"],
                "license": s["license"],
                "documents": per_source[(s["domain"], s["package"])],
                "bytes": per_source_bytes[(s["domain"], s["package"])],
            }
            for s in sources
        ],
        "domains": domains,
        "python": python or platform.python_version(),
        "split": {"seed": seed, "val_fraction": val_fraction, "min_val_docs": min_val_docs},
    }
    write_json(manifest_path, manifest)
    return out_dir / "corpus"


def load_split(corpus_dir: Path, domain: str, split: str) -> list[dict]:
    """The documents of one domain's train or val split, as written by `write_corpus`."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / domain).is_dir() and (corpus_dir / "corpus" / domain).is_dir():
        corpus_dir = corpus_dir / "corpus"  # accept the build's out_dir as well as its corpus/ folder
    path = corpus_dir / domain / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such split; build the demo corpus with `auroram data demo`")
    docs = []
    for lineno, doc in read_records(path):
        if not isinstance(doc.get("text"), str):
            raise ValueError(f"{path}: line {lineno}: expected an object with a string 'text'")
        docs.append(doc)
    return docs
