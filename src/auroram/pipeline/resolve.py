"""A recipe as it will run: every virtual path (`demo:`, `demo-instruct:`, `safety:`) replaced once by the
concrete path where its data is or will be, and every user path checked to exist."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from auroram.config import ConfigError, Recipe
from auroram.data import virtual
from auroram.data.virtual import source_curated


def demo_dir(recipe: Recipe) -> Path:
    return Path(recipe.demo_dir).expanduser() if recipe.demo_dir else virtual.default_demo_dir()


def uses_demo(spec: Recipe) -> bool:
    paths = [s.path for s in spec.sources.values()] + list(spec.heldout.values())
    return any(virtual.scheme(p) in ("demo", "demo-instruct") for p in paths)


def uses_demo_instruct(spec: Recipe) -> bool:
    return any(virtual.scheme(s.path) == "demo-instruct" for s in spec.sources.values())


def demo_curated(spec: Recipe) -> bool:
    """The demo corpus's train splits are curated (once, for every demo source that reads them)."""
    return any(virtual.scheme(s.path) == "demo" and source_curated(spec, n) for n, s in spec.sources.items())


def curated_sources(spec: Recipe) -> list[str]:
    """A user's own sources curated into the run (each on its own: `curate/sources/<name>/`)."""
    return [n for n, s in spec.sources.items() if virtual.scheme(s.path) is None and source_curated(spec, n)]


def curates(spec: Recipe) -> bool:
    """Anything of the recipe is curated (the curate extra is needed)."""
    return demo_curated(spec) or bool(curated_sources(spec))


def curated_dir(run_dir: Path, name: str) -> Path:
    """Where a user's source is curated: kept/, rejected/ and stats.json, as `auroram curate` writes them."""
    return Path(run_dir) / "curate" / "sources" / name


def check_paths(r: Recipe, where: str = "recipe") -> None:
    """Fail early, naming the key, when a source or held-out path does not exist (checked at run time,
    not at load, so recipes for other machines still load)."""
    items = [(f"sources.{n}.path", s.path) for n, s in r.sources.items()]
    items += [(f"heldout.{d}", p) for d, p in r.heldout.items()]
    if r.model.base:
        items.append(("model.base", r.model.base))
    for key, p in items:
        if virtual.scheme(p) is None and not Path(p).expanduser().exists():
            raise ConfigError(f"{where}: key '{key}': '{p}' does not exist")


def resolve(spec: Recipe, run_dir: Path) -> Recipe:
    """The recipe with concrete paths (sources read train splits, held-out sets val splits)."""
    check_paths(spec)
    where = dict(demo_dir=demo_dir(spec), run_dir=Path(run_dir))
    sources = {}
    for name, src in spec.sources.items():
        curated = source_curated(spec, name)
        if curated and virtual.scheme(src.path) is None:  # what curation kept, in its own record format
            sources[name] = dataclasses.replace(src, path=str(curated_dir(run_dir, name) / "kept"), text_field="text")
        else:
            sources[name] = dataclasses.replace(src, path=virtual.resolve(src.path, split="train", curated=curated,
                                                                          **where))
    heldout = {d: virtual.resolve(p, split="val", **where) for d, p in spec.heldout.items()}
    return dataclasses.replace(spec, sources=sources, heldout=heldout)
