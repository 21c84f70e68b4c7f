"""Report sections (auroram.report.sections) to HTML: the one place the report escapes text and builds
tables. A section's `plot` blocks become PNG files written next to the page.

Besides the format in auroram.report.sections, the report's own pages use three extras: an
{"kind": "image", "src", "alt"} block for a PNG drawn already, a cell's "href" (a relative or http(s)
link), and a list's "tone" (a CSS class for every item).

Sections written by versions before sections were data are {"title", "html"}: their HTML is inserted as
it is (legacy, see `render_section`).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DASH = "–"
TONES = ("better", "worse", "warn")

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta { color: #666; font-size: 0.9rem; }
p.note { color: #555; font-size: 0.85rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
td.worse { color: #b00020; } td.better { color: #1b7f3b; }
td.warn, li.warn { background: #fff4e0; color: #8a4b00; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt_value(value: Any) -> str:
    """A cell's value as text: null and NaN are a dash, integers get thousands separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def _href(value: Any) -> str | None:
    # a report.json is data from anywhere: no javascript: or data: links out of it
    link = str(value or "")
    return link if link and urlsplit(link).scheme in ("", "http", "https") else None


def cell_html(cell: Any) -> str:
    if not isinstance(cell, dict):
        return f"<td>{esc(fmt_value(cell))}</td>"
    text = cell.get("text")
    body = esc(text if text is None or isinstance(text, str) else fmt_value(text))
    link = _href(cell.get("href"))
    if link:
        body = f'<a href="{esc(link)}">{body}</a>'
    if cell.get("strong"):
        body = f"<b>{body}</b>"
    tone = cell.get("tone")
    return f'<td class="{tone}">{body}</td>' if tone in TONES else f"<td>{body}</td>"


def table_html(head: list[Any] | None, rows: list[list[Any]], note: str | None = None) -> str:
    """The report's one table: head and cells are plain values or cell dicts, escaped here."""
    out = ["<table>"]
    if head:
        out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(cell_html(c) for c in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    if note:
        out.append(f'<p class="note">{esc(note)}</p>')
    return "\n".join(out)


def image_html(src: str, alt: str) -> str:
    return f'<img src="{esc(src)}" alt="{esc(alt)}">'


def block_html(block: dict, out_dir: Path, name: str) -> str:
    """One block; a plot block is drawn to out_dir/<name>.png."""
    kind = block.get("kind")
    if kind == "heading":
        return f"<h3>{esc(block.get('text'))}</h3>"
    if kind == "text":
        tag = '<p class="note">' if block.get("note") else "<p>"
        return f"{tag}{esc(block.get('text'))}</p>"
    if kind == "list":
        tone = block.get("tone")
        li = f'<li class="{tone}">' if tone in TONES else "<li>"
        return "<ul>" + "".join(f"{li}{esc(item)}</li>" for item in block.get("items") or []) + "</ul>"
    if kind == "table":
        return table_html(block.get("head"), block.get("rows") or [], block.get("note"))
    if kind == "plot":
        from auroram.report.plots import draw_plot_block  # matplotlib only when a section has a plot

        draw_plot_block(block, out_dir / f"{name}.png")
        return image_html(f"{name}.png", block.get("title") or "plot")
    if kind == "image":
        return image_html(block.get("src", ""), block.get("alt", ""))
    # a report.json from a newer version: say what is missing rather than fail the whole page
    return f'<p class="note">(a "{esc(kind)}" block that this version cannot show)</p>'


def render_section(section: dict, out_dir: Path, key: str) -> str:
    """A section as an <h2> and its blocks; `key` names its plot files (<key>-plot<j>.png) in out_dir."""
    title = f"<h2>{esc(section.get('title'))}</h2>"
    if "blocks" not in section and "html" in section:
        # legacy: report.json written before sections were data holds HTML made by its producer, kept as is
        return title + "\n" + str(section.get("html") or "")
    parts = [title]
    plots = 0
    for block in section.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        parts.append(block_html(block, out_dir, f"{key}-plot{plots}"))
        plots += block.get("kind") == "plot"
    return "\n".join(parts)


def page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )
