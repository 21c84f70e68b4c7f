"""Report sections as data. A part of the toolkit that has something to report (curation, the task suite,
safety, the training data) returns a section built from these blocks; report.json stores it as plain JSON,
and only auroram.report renders it (HTML now, anything later), so an old run re-renders with a new template.

A section is {"title": str, "blocks": [block, ...]}; a block is one of

    {"kind": "heading", "text": str}
    {"kind": "text", "text": str, "note": bool}          a paragraph; note: small print
    {"kind": "list", "items": [str, ...]}
    {"kind": "table", "head": [str, ...], "rows": [[cell, ...], ...], "note": str | None}
    {"kind": "plot", "title": str, "x": [label, ...], "series": {name: [y or null, ...]},
     "ylabel": str, "ylim": [lo, hi] | None, "styles": {name: "dashed"}}

and a table cell is a string, a number, null (shown as a dash), or {"text": str, "strong": bool,
"tone": "better" | "worse" | "warn" | None} for emphasis. Text is plain text everywhere: the renderer
escapes it. This module imports nothing heavy, so any package may build sections.
"""

from __future__ import annotations

from typing import Any

Cell = Any  # str | int | float | None | {"text", "strong", "tone"}


def section(title: str, *blocks: dict[str, Any] | None) -> dict[str, Any]:
    return {"title": title, "blocks": [b for b in blocks if b]}


def heading(text: str) -> dict[str, Any]:
    return {"kind": "heading", "text": text}


def text(body: str, *, note: bool = False) -> dict[str, Any]:
    return {"kind": "text", "text": body, "note": note}


def bullets(items: list[str]) -> dict[str, Any] | None:
    return {"kind": "list", "items": list(items)} if items else None


def table(head: list[str], rows: list[list[Cell]], *, note: str | None = None) -> dict[str, Any]:
    return {"kind": "table", "head": list(head), "rows": [list(r) for r in rows], "note": note}


def cell(value: Any, *, strong: bool = False, tone: str | None = None) -> dict[str, Any]:
    return {"text": "" if value is None else str(value), "strong": strong, "tone": tone}


def line_plot(title: str, x: list[Any], series: dict[str, list[float | None]], *, ylabel: str = "",
              ylim: tuple[float, float] | None = None, styles: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "plot", "title": title, "x": list(x), "series": {k: list(v) for k, v in series.items()},
            "ylabel": ylabel, "ylim": list(ylim) if ylim else None, "styles": dict(styles or {})}


def pct(x: float | None, digits: int = 0) -> str | None:
    """A rate as a percentage string; None stays None (a dash in the table)."""
    return None if x is None else f"{100 * x:.{digits}f}%"
