"""The curation filters: one class per file, run in the order of `FILTERS`.

This list is the one place a filter is named. It gives the per-language settings (`LangConfig` has a field
per filter, under the filter's name: `languages.<lang>.<name>` in a curate config), the order the filters
run in (after language ID, which picks each document's settings, and before PII replacement), and the step
names in stats.json. Nothing here imports datatrove: the config and the command's parser load without it.
"""

from __future__ import annotations

import dataclasses

from auroram.curate.filters.base import DatatroveFilter, Filter, Verdict
from auroram.curate.filters.c4 import C4Filter
from auroram.curate.filters.cat import CatFilter
from auroram.curate.filters.code import CodeFilter
from auroram.curate.filters.fineweb import FineWebFilter
from auroram.curate.filters.gopher_quality import GopherQualityFilter
from auroram.curate.filters.gopher_repetition import GopherRepetitionFilter
from auroram.curate.filters.quality import QualityFilter
from auroram.curate.filters.toxicity import ToxicityFilter

__all__ = ["FILTERS", "DatatroveFilter", "Filter", "Verdict", "register", "unregister"]

# cheap, document-dropping rules first; the classifier last, on what the rules left
FILTERS: list[type[Filter]] = [
    CatFilter,
    CodeFilter,
    ToxicityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    C4Filter,
    FineWebFilter,
    QualityFilter,
]

# step names and LangConfig fields a filter cannot take
RESERVED = {"read", "langid", "pii", "exact_dedup", "near_dedup", "keep"}


def register(cls: type[Filter], *, before: str | None = None, after: str | None = None) -> type[Filter]:
    """Add a filter outside this package (a plugin, a test): last unless placed before or after a named one."""
    names = [f.name for f in FILTERS]
    if not getattr(cls, "name", "").isidentifier() or cls.name in RESERVED or cls.name in names:
        raise ValueError(f"filter name {getattr(cls, 'name', None)!r}: taken or not an identifier")
    if not (dataclasses.is_dataclass(cls.Config) and "enabled" in {f.name for f in dataclasses.fields(cls.Config)}):
        raise ValueError(f"filter '{cls.name}': Config must be a dataclass with an `enabled` field")
    if before is not None and after is not None:
        raise ValueError("register: give `before` or `after`, not both")
    for other in (before, after):
        if other is not None and other not in names:
            raise ValueError(f"register: no filter named '{other}' (known: {', '.join(names)})")
    pos = names.index(before) if before else names.index(after) + 1 if after else len(FILTERS)
    FILTERS.insert(pos, cls)
    _changed()
    return cls


def unregister(name: str) -> None:
    FILTERS[:] = [f for f in FILTERS if f.name != name]
    _changed()


def _changed() -> None:
    from auroram.curate import config  # the per-language settings class follows the list

    config.rebuild_lang_config()
