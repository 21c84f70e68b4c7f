"""A recipe as it will run: every virtual path (`demo:`, `demo-instruct:`, `safety:`) replaced once by the
concrete path where its data is or will be, and every user path checked to exist."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from auroram.config import ConfigError, Recipe
from auroram.data import virtual


def demo_dir(recipe: Recipe) -> Path:
    return Path(recipe.demo_dir).expanduser() if recipe.demo_dir else virtual.default_demo_dir()


def uses_demo(spec: Recipe) -> bool:
    paths = [s.path for s in spec.sources.values()] + list(spec.heldout.values())
    return any(virtual.scheme(p) in ("demo", "demo-instruct") for p in paths)


def uses_demo_instruct(spec: Recipe) -> bool:
    return any(virtual.scheme(s.path) == "demo-instruct" for s in spec.sources.values())


def curates(spec: Recipe) -> bool:
    """Curation applies to the demo corpus's own text sources."""
    return spec.curate is not None and any(virtual.scheme(s.path) == "demo" for s in spec.sources.values())


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
    curated = curates(spec)
    sources = {name: dataclasses.replace(src, path=virtual.resolve(src.path, split="train", curated=curated, **where))
               for name, src in spec.sources.items()}
    heldout = {d: virtual.resolve(p, split="val", **where) for d, p in spec.heldout.items()}
    return dataclasses.replace(spec, sources=sources, heldout=heldout)
