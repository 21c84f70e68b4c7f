"""The run report as one self-contained HTML page with PNG plots, and a side-by-side comparison of runs.

Token positions on the plots are cumulative over the run: each stage starts where the one before it
ended. The pipeline records `curve` and `loss` points in run tokens already; points counted from the
start of their own stage are recognised (they lie before the stage's start) and shifted.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any, Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from auroram.eval.forgetting import forgetting as compute_forgetting
from auroram.io import atomic_dir, atomic_file, read_json

# a source repeated more than ~4 times stops adding value and starts to be memorised (Muennighoff et al. 2023);
# the same default as the recipe's train.max_epochs_warning
EPOCHS_WARN = 4.0

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
td.worse { color: #b00020; } td.better { color: #1b7f3b; }
td.warn, li.warn { background: #fff4e0; color: #8a4b00; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""


# ----------------------------------------------------------------------------------------------------
# formatting


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 4, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) and not signed:
        return f"{value:,}"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _tokens(n: Any) -> str:
    if n is None:
        return "–"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def _table(header: list[str] | None, rows: list[list]) -> str:
    """Cells are HTML already (escaped by the caller); a cell given as (html, css_class) gets that class."""
    out = ["<table>"] + (["<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"] if header else [])
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                cells.append(f'<td class="{cell[1]}">{cell[0]}</td>' if cell[1] else f"<td>{cell[0]}</td>")
            else:
                cells.append(f"<td>{cell}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _delta_cell(value: float | None, digits: int = 4, suffix: str = "") -> tuple[str, str]:
    if value is None:
        return ("–", "")
    return (_num(value, digits, signed=True) + suffix, "worse" if value > 0 else "better" if value < 0 else "")


# ----------------------------------------------------------------------------------------------------
# reading the report


def report_domains(report: dict) -> list[str]:
    """The recipe's domains, or every domain any stage evaluated, in first-seen order."""
    if report.get("domains"):
        return list(report["domains"])
    seen: dict[str, None] = {}
    for stage in report.get("stages", []):
        for domain in stage.get("eval", {}):
            seen.setdefault(domain, None)
    return list(seen)


def _stage_tokens(stage: dict) -> float:
    if stage.get("tokens") is not None:
        return float(stage["tokens"])
    points = [p.get("tokens", 0) for p in stage.get("curve", []) + stage.get("loss", [])]
    return float(max(points, default=0))


def stage_offsets(stages: list[dict]) -> list[float]:
    """Cumulative tokens at the start of each stage."""
    offsets, total = [], 0.0
    for stage in stages:
        offsets.append(total)
        total += _stage_tokens(stage)
    return offsets


def _shift(points: list[dict], offset: float) -> float:
    """What to add to the points' `tokens` to place them on the run's axis."""
    if offset > 0 and points and min(p.get("tokens", 0) for p in points) < offset:
        return offset  # counted from the stage's own start
    return 0.0


def bpb_series(stages: list[dict], domain: str) -> tuple[list[float], list[float]]:
    """(cumulative tokens, bpb) of one domain over the run: each stage's curve, then its final eval."""
    xs: list[float] = []
    ys: list[float] = []
    for stage, offset in zip(stages, stage_offsets(stages)):
        curve = stage.get("curve", [])
        shift = _shift(curve, offset)
        for point in curve:
            value = point.get("bpb", {}).get(domain)
            if value is not None:
                xs.append(shift + point.get("tokens", 0))
                ys.append(value)
        final = stage.get("eval", {}).get(domain, {}).get("bpb")
        end = offset + _stage_tokens(stage)
        if final is not None and xs and xs[-1] == end:
            ys[-1] = final  # the stage's eval is the number the tables show, so the curve ends on it
        elif final is not None:
            xs.append(end)
            ys.append(final)
    return xs, ys


def _forgetting(report: dict) -> dict:
    if report.get("forgetting"):
        return report["forgetting"]
    return compute_forgetting(report.get("stages", []), report_domains(report)) if report.get("stages") else {}


def _final_bpb(report: dict, domain: str) -> float | None:
    for stage in reversed(report.get("stages", [])):
        value = stage.get("eval", {}).get(domain, {}).get("bpb")
        if value is not None:
            return value
    return None


def _vs_start(report: dict, domain: str) -> tuple[float | None, float | None]:
    """(delta bpb, delta %) of the last stage against the start."""
    stages = report.get("stages", [])
    if len(stages) < 2:
        return None, None
    entry = _forgetting(report).get(domain, {})
    last = stages[-1].get("name")
    return entry.get("vs_start", {}).get(last), entry.get("vs_start_pct", {}).get(last)


# ----------------------------------------------------------------------------------------------------
# plots: each writes one PNG and returns True, or returns False when the report has nothing to draw


def _figure(width: float = 9.0, height: float = 4.2) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # draw with Agg, without pyplot's global state
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=100)


def _colors(names: list[str], cmap: str = "tab10") -> dict[str, Any]:
    import matplotlib

    palette = matplotlib.colormaps[cmap]
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def _mark_stages(ax: Any, stages: list[dict], offsets: list[float]) -> None:
    for stage, offset in zip(stages, offsets):
        if _stage_tokens(stage) <= 0:
            continue
        if offset > 0:
            ax.axvline(offset, color="#888", linestyle="--", linewidth=0.8)
        ax.text(offset, 1.01, f" {stage.get('name', '')}", transform=ax.get_xaxis_transform(), fontsize=8,
                color="#555", va="bottom")


def _plot_loss(report: dict, path: Path) -> bool:
    stages = report.get("stages", [])
    if not any(stage.get("loss") for stage in stages):
        return False
    fig = _figure()
    ax = fig.add_subplot()
    offsets = stage_offsets(stages)
    colors = _colors([s.get("name", str(i)) for i, s in enumerate(stages)], "Dark2")
    for i, (stage, offset) in enumerate(zip(stages, offsets)):
        points = stage.get("loss", [])
        if points:
            shift = _shift(points, offset)
            ax.plot([shift + p.get("tokens", 0) for p in points], [p.get("loss") for p in points],
                    color=colors[stage.get("name", str(i))], linewidth=1.0, label=stage.get("name"))
    _mark_stages(ax, stages, offsets)
    ax.set_xlabel("tokens (cumulative)")
    ax.set_ylabel("training loss (nats/token)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def _plot_bpb_curves(report: dict, path: Path) -> bool:
    stages = report.get("stages", [])
    domains = report_domains(report)
    series = {d: bpb_series(stages, d) for d in domains}
    if not any(xs for xs, _ in series.values()):
        return False
    fig = _figure()
    ax = fig.add_subplot()
    colors = _colors(domains)
    for domain, (xs, ys) in series.items():
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=colors[domain], label=domain)
    _mark_stages(ax, stages, stage_offsets(stages))
    ax.set_xlabel("tokens (cumulative)")
    ax.set_ylabel("bits per byte (held-out)")
    ax.legend(fontsize=8, ncols=min(len(domains), 6))
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def _plot_bpb_stages(report: dict, path: Path) -> bool:
    stages = [s for s in report.get("stages", []) if s.get("eval")]
    domains = report_domains(report)
    if not stages or not domains:
        return False
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / len(stages)
    colors = _colors([s.get("name", str(i)) for i, s in enumerate(stages)], "Set2")
    for i, stage in enumerate(stages):
        values = [stage["eval"].get(d, {}).get("bpb", math.nan) for d in domains]
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(domains))]
        ax.bar(xs, values, width, label=stage.get("name"), color=colors[stage.get("name", str(i))])
    ax.set_xticks(range(len(domains)), domains)
    ax.set_ylabel("bits per byte")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
    return True


def _plot_forgetting(report: dict, path: Path) -> bool:
    stages = report.get("stages", [])[1:]
    domains = report_domains(report)
    forg = _forgetting(report)
    if not stages or not forg:
        return False
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.8 / len(stages)
    colors = _colors([s.get("name", str(i)) for i, s in enumerate(stages)], "Set1")
    for i, stage in enumerate(stages):
        name = stage.get("name")
        values = [forg.get(d, {}).get("vs_start_pct", {}).get(name) for d in domains]
        values = [math.nan if v is None else v for v in values]
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(domains))]
        ax.bar(xs, values, width, label=f"after {name}", color=colors[stage.get("name", str(i))])
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_xticks(range(len(domains)), domains)
    ax.set_ylabel("bpb change vs start (%)  — above 0: forgotten")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
    return True


def _mixture_shares(mixture: dict) -> dict[str, float]:
    """Token share of each source; the weights where token counts are missing."""
    tokens = {s: float(m.get("tokens") or 0) for s, m in mixture.items()}
    if sum(tokens.values()) <= 0:
        tokens = {s: float(m.get("weight") or 0) for s, m in mixture.items()}
    total = sum(tokens.values())
    return {s: (v / total if total > 0 else 0.0) for s, v in tokens.items()}


def _plot_mixture(report: dict, path: Path) -> bool:
    stages = [s for s in report.get("stages", []) if s.get("mixture")]
    if not stages:
        return False
    sources: dict[str, None] = {}
    for stage in stages:
        for source in stage["mixture"]:
            sources.setdefault(source, None)
    colors = _colors(list(sources), "tab10" if len(sources) <= 10 else "tab20")
    fig = _figure(width=9.0, height=max(3.0, 1.0 + 0.6 * len(stages)))
    ax = fig.add_subplot()
    names = [s.get("name", str(i)) for i, s in enumerate(stages)]
    left = [0.0] * len(stages)
    for source in sources:
        shares = [100 * _mixture_shares(s["mixture"]).get(source, 0.0) for s in stages]
        ax.barh(names, shares, left=left, color=colors[source], label=source)
        left = [a + b for a, b in zip(left, shares)]
    ax.invert_yaxis()  # first stage on top
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the stage's training tokens (%)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return True


# ----------------------------------------------------------------------------------------------------
# sections


def _overview(report: dict) -> str:
    rows = [
        ["recipe", _e(report.get("recipe"))],
        ["created", _e(report.get("created"))],
        ["config hash", f"<code>{_e(report.get('config_hash'))}</code>"],
        ["domains", _e(", ".join(report_domains(report)))],
    ]
    if "use_replay" in report:
        rows.append(["replay", "on" if report["use_replay"] else "off"])
    stage_rows = [
        [
            _e(s.get("name")),
            _e(_tokens(s.get("tokens"))),
            _num(s.get("steps")),
            _num(s.get("seconds"), 1),
            _e(_tokens(s.get("tokens_per_s"))),
        ]
        for s in report.get("stages", [])
    ]
    return (
        _table(None, rows)
        + "\n<h3>Stages</h3>\n"
        + _table(["stage", "tokens", "steps", "seconds", "tokens/s"], stage_rows)
    )


def _eval_section(report: dict) -> str:
    stages = report.get("stages", [])
    header = ["domain"] + [_e(s.get("name")) for s in stages]
    rows = [
        [_e(d)] + [_num(s.get("eval", {}).get(d, {}).get("bpb")) for s in stages] for d in report_domains(report)
    ]
    return _table(header, rows)


def _forgetting_section(report: dict) -> str:
    stages = report.get("stages", [])[1:]
    forg = _forgetting(report)
    if not stages or not forg:
        return "<p>Only one stage: nothing to compare.</p>"
    header = ["domain"]
    for s in stages:
        name = _e(s.get("name"))
        header += [f"{name}: Δ previous", f"{name}: Δ start", f"{name}: Δ start %"]
    rows = []
    for d in report_domains(report):
        entry = forg.get(d, {})
        row: list = [_e(d)]
        for s in stages:
            name = s.get("name")
            row += [
                _delta_cell(entry.get("vs_previous", {}).get(name)),
                _delta_cell(entry.get("vs_start", {}).get(name)),
                _delta_cell(entry.get("vs_start_pct", {}).get(name), 2, "%"),
            ]
        rows.append(row)
    return (
        "<p>Change in bits per byte; positive (red) means the domain got worse, i.e. was forgotten.</p>\n"
        + _table(header, rows)
    )


def _mixture_section(report: dict) -> tuple[str, list[str]]:
    parts, warnings = [], []
    for stage in report.get("stages", []):
        mixture = stage.get("mixture")
        if not mixture:
            continue
        stage_warnings = " ".join(stage.get("warnings") or [])
        shares = _mixture_shares(mixture)
        rows = []
        for source, m in mixture.items():
            epochs = m.get("epochs")
            cell: tuple[str, str] = (_num(epochs, 2), "")
            if epochs is not None and epochs > EPOCHS_WARN:
                cell = (f"{_num(epochs, 2)} ⚠ repeated", "warn")
                if source not in stage_warnings:  # the pipeline may have warned about it already
                    warnings.append(
                        f"{stage.get('name')}: source {source} is repeated {epochs:.1f} times (over {EPOCHS_WARN:g})"
                    )
            rows.append(
                [
                    _e(source),
                    _e(m.get("domain")),
                    _num(m.get("weight"), 3),
                    _num(m.get("sequences")),
                    _e(_tokens(m.get("tokens"))),
                    f"{100 * shares.get(source, 0.0):.1f}%",
                    cell,
                ]
            )
        parts.append(
            f"<h3>{_e(stage.get('name'))}</h3>\n"
            + _table(["source", "domain", "weight", "sequences", "tokens", "token share", "epochs"], rows)
        )
    return "\n".join(parts), warnings


def _data_section(report: dict) -> str:
    sources = (report.get("data") or {}).get("sources") or []
    if not sources:
        return ""
    rows = [
        [
            _e(s.get("domain")),
            _e(s.get("package")),
            _e(s.get("version")),
            _e(s.get("license")),
            _num(s.get("documents")),
            _num(s.get("bytes")),
        ]
        for s in sources
    ]
    return _table(["domain", "package", "version", "license", "documents", "bytes"], rows)


def _tokenizer_section(report: dict) -> str:
    tok = report.get("tokenizer")
    if not tok:
        return ""
    out = f"<p>Vocabulary: {_num(tok.get('vocab_size'))} tokens.</p>\n"
    fert = tok.get("fertility") or {}
    if fert:
        rows = [
            [_e(d), _num(f.get("tokens_per_byte"), 3), _num(f.get("tokens_per_word"), 2)] for d, f in fert.items()
        ]
        out += _table(["domain", "tokens per byte", "tokens per word"], rows)
    return out


def _page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def render_html(report: dict, images: dict[str, str]) -> str:
    """The page for `report`; `images` maps a plot key to its PNG file name (absent plots are left out)."""

    def img(key: str, alt: str) -> str:
        return f'<img src="{_e(images[key])}" alt="{_e(alt)}">' if key in images else ""

    mixture_html, mixture_warnings = _mixture_section(report)
    warnings = [
        f"{stage.get('name')}: {w}" for stage in report.get("stages", []) for w in stage.get("warnings") or []
    ] + mixture_warnings
    body = [
        f"<h1>auroram run: {_e(report.get('recipe', 'report'))}</h1>",
        f"<p class=\"meta\">{_e(report.get('description'))}</p>",
        "<h2>Overview</h2>",
        _overview(report),
        "<h2>Training loss</h2>",
        img("loss", "training loss over cumulative tokens") or "<p>No loss recorded.</p>",
        "<h2>Bits per byte</h2>",
        img("bpb_curves", "bits per byte per domain over cumulative tokens"),
        img("bpb_stages", "bits per byte per domain at the end of each stage"),
        _eval_section(report),
        "<h2>Forgetting</h2>",
        img("forgetting", "change in bits per byte against the start, per domain and stage"),
        _forgetting_section(report),
    ]
    if mixture_html:
        body += ["<h2>Data mixture</h2>", img("mixture", "token share of each source per stage"), mixture_html]
    data_html = _data_section(report)
    if data_html:
        body += ["<h2>Data sources</h2>", data_html]
    tok_html = _tokenizer_section(report)
    if tok_html:
        body += ["<h2>Tokenizer</h2>", tok_html]
    body.append("<h2>Warnings</h2>")
    if warnings:
        body.append("<ul>" + "".join(f'<li class="warn">{_e(w)}</li>' for w in warnings) + "</ul>")
    else:
        body.append("<p>None.</p>")
    for section in report.get("sections") or []:
        # sections are HTML made by other parts of the toolkit, so only their titles are escaped
        body += [f"<h2>{_e(section.get('title'))}</h2>", section.get("html", "")]
    return _page(f"auroram: {report.get('recipe', 'report')}", body)


def _plots() -> list[tuple[str, str, Callable[[dict, Path], bool]]]:
    # looked up at call time so a test can replace one plot
    return [
        ("loss", "loss.png", _plot_loss),
        ("bpb_curves", "bpb_curves.png", _plot_bpb_curves),
        ("bpb_stages", "bpb_stages.png", _plot_bpb_stages),
        ("forgetting", "forgetting.png", _plot_forgetting),
        ("mixture", "mixture.png", _plot_mixture),
    ]


def write_html_report(run_dir: Path, report: dict) -> Path:
    """Write run_dir/report/ (index.html and its PNGs) whole or not at all; returns the index.html path."""
    out = Path(run_dir) / "report"
    with atomic_dir(out) as tmp:
        images = {key: name for key, name, plot in _plots() if plot(report, tmp / name)}
        (tmp / "index.html").write_text(render_html(report, images), encoding="utf-8")
    return out / "index.html"


# ----------------------------------------------------------------------------------------------------
# comparing runs


def load_report(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / "report.json")


def _run_labels(run_dirs: list[Path]) -> list[str]:
    labels = [Path(d).resolve().name for d in run_dirs]
    if len(set(labels)) < len(labels):  # same leaf name in different folders
        labels = [f"{i + 1}:{name}" for i, name in enumerate(labels)]
    return labels


def _all_domains(reports: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for report in reports:
        for d in report_domains(report):
            seen.setdefault(d, None)
    return list(seen)


def compare_table(reports: list[dict], names: list[str] | None = None) -> str:
    """Plain-text table: per domain, each run's final bpb and its change against the start."""
    if names is None:
        names = [r.get("recipe") or f"run{i + 1}" for i, r in enumerate(reports)]
        if len(set(names)) < len(names) and all("use_replay" in r for r in reports):
            # the usual pair: one recipe run with replay on and off
            by_replay = [f"{n} ({'replay' if r['use_replay'] else 'no replay'})" for n, r in zip(names, reports)]
            names = by_replay if len(set(by_replay)) == len(by_replay) else names
        if len(set(names)) < len(names):
            names = [f"{i + 1}:{name}" for i, name in enumerate(names)]
    header = ["domain"]
    for name in names:
        header += [f"{name} bpb", f"{name} vs start"]
    rows = []
    for d in _all_domains(reports):
        row = [d]
        for report in reports:
            delta, pct = _vs_start(report, d)
            change = "–" if delta is None else f"{delta:+.4f}" + ("" if pct is None else f" ({pct:+.1f}%)")
            row += [_num(_final_bpb(report, d)), change]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _plot_compare(reports: list[dict], names: list[str], domains: list[str], fh: Any) -> None:
    cols = min(3, max(1, len(domains)))
    rows = math.ceil(len(domains) / cols) if domains else 1
    fig = _figure(width=4.0 * cols, height=3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = _colors(names)
    for k, domain in enumerate(domains):
        ax = axes[k // cols][k % cols]
        for report, name in zip(reports, names):
            xs, ys = bpb_series(report.get("stages", []), domain)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.1, color=colors[name], label=name)
        ax.set_title(domain, fontsize=10)
        ax.set_xlabel("tokens (cumulative)", fontsize=8)
        ax.set_ylabel("bits per byte", fontsize=8)
        ax.grid(alpha=0.3)
    for k in range(len(domains), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(names), 4), fontsize=8)
    fig.savefig(fh, format="png", dpi=100)


def compare_runs(run_dirs: list[Path], out_dir: Path) -> Path:
    """Write out_dir/index.html (and its plot) comparing the runs side by side; returns the index.html path."""
    run_dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out_dir)
    reports = [load_report(d) for d in run_dirs]
    names = _run_labels(run_dirs)
    domains = _all_domains(reports)

    # the plot goes first, so an index.html never points at a picture that is not there
    with atomic_file(out_dir / "compare_bpb.png", "wb") as fh:
        _plot_compare(reports, names, domains, fh)

    runs_rows = []
    for d, r, name in zip(run_dirs, reports, names):
        link = os.path.relpath(d / "report" / "index.html", out_dir)
        runs_rows.append(
            [
                f'<a href="{_e(link)}">{_e(name)}</a>',
                _e(r.get("recipe")),
                _e(" → ".join(str(s.get("name")) for s in r.get("stages", []))),
                _e(_tokens(sum(_stage_tokens(s) for s in r.get("stages", [])))),
                _e(r.get("config_hash")),
            ]
        )
    final_rows = [[_e(d)] + [_num(_final_bpb(r, d)) for r in reports] for d in domains]
    change_rows = []
    for d in domains:
        row: list = [_e(d)]
        for r in reports:
            delta, pct = _vs_start(r, d)
            row += [_delta_cell(delta), _delta_cell(pct, 2, "%")]
        change_rows.append(row)
    change_header = ["domain"]
    for name in names:
        change_header += [f"{_e(name)}: Δ bpb", f"{_e(name)}: Δ %"]
    body = [
        "<h1>auroram: runs compared</h1>",
        _table(["run", "recipe", "stages", "tokens", "config hash"], runs_rows),
        "<h2>Bits per byte over training</h2>",
        '<img src="compare_bpb.png" alt="bits per byte per domain over cumulative tokens, runs overlaid">',
        "<h2>Final bits per byte</h2>",
        _table(["domain"] + [_e(n) for n in names], final_rows),
        "<h2>Change against the start (last stage vs first)</h2>",
        "<p>Positive (red) means the domain got worse over the run, i.e. was forgotten.</p>",
        _table(change_header, change_rows),
    ]
    index = out_dir / "index.html"
    with atomic_file(index, "w") as fh:
        fh.write(_page("auroram: runs compared", body))
    return index
