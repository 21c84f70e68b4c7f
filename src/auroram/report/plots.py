"""Every PNG of the report, drawn with matplotlib's Agg canvas (no pyplot, so no global figure state): the
run's own plots, a section's `plot` block, and the comparison of runs. Each run plot writes one PNG and
returns True, or returns False when the report has nothing to draw."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, BinaryIO, Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from auroram.report.reading import (
    bpb_series,
    forgetting,
    mixture_shares,
    report_domains,
    shift,
    stage_offsets,
    stage_tokens,
)

_LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-."}


def _figure(width: float = 9.0, height: float = 4.2) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # draw with Agg, without pyplot's global state
    return fig


def _save(fig: Figure, path: Path | BinaryIO) -> None:
    fig.savefig(path, format="png", dpi=100)


def _colors(names: list[str], cmap: str = "tab10") -> dict[str, Any]:
    import matplotlib

    palette = matplotlib.colormaps[cmap]
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def _number(v: Any) -> float:
    # null, text and booleans in a series are gaps in the line, not errors
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v)


# ----------------------------------------------------------------------------------------------------
# a section's plot block


def draw_plot_block(block: dict, path: Path) -> None:
    """A `plot` block (see auroram.report.sections) as a line plot; labels that are not all numbers become
    evenly spaced ticks, and a series shorter or longer than x is padded with gaps or cut."""
    labels = list(block.get("x") or [])
    series = {str(k): list(v or []) for k, v in (block.get("series") or {}).items()}
    styles = block.get("styles") or {}
    numeric = bool(labels) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels)
    xs = [float(v) for v in labels] if numeric else list(range(len(labels)))
    fig = _figure(8.0, 3.6)
    ax = fig.add_subplot()
    colors = _colors(list(series), "tab10" if len(series) <= 10 else "tab20")
    for name, values in series.items():
        ys = [_number(v) for v in values[: len(xs)]] + [math.nan] * (len(xs) - len(values))
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=colors[name], label=name,
                linestyle=_LINESTYLES.get(str(styles.get(name)), "-"))
    if not numeric:
        ax.set_xticks(xs, [str(v) for v in labels])
    if block.get("title"):
        ax.set_title(str(block["title"]), fontsize=10)
    ax.set_ylabel(str(block.get("ylabel") or ""))
    ylim = block.get("ylim")
    if ylim and len(ylim) == 2:
        ax.set_ylim(_number(ylim[0]), _number(ylim[1]))
    if series:
        ax.legend(fontsize=8, ncols=min(len(series), 6))
    ax.grid(alpha=0.3)
    _save(fig, path)


# ----------------------------------------------------------------------------------------------------
# the run's plots


def _mark_stages(ax: Any, stages: list[dict], offsets: list[float]) -> None:
    for stage, offset in zip(stages, offsets):
        if stage_tokens(stage) <= 0:
            continue
        if offset > 0:
            ax.axvline(offset, color="#888", linestyle="--", linewidth=0.8)
        ax.text(offset, 1.01, f" {stage.get('name', '')}", transform=ax.get_xaxis_transform(), fontsize=8,
                color="#555", va="bottom")


def plot_loss(report: dict, path: Path) -> bool:
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
            dx = shift(points, offset)
            ax.plot([dx + p.get("tokens", 0) for p in points], [p.get("loss") for p in points],
                    color=colors[stage.get("name", str(i))], linewidth=1.0, label=stage.get("name"))
    _mark_stages(ax, stages, offsets)
    ax.set_xlabel("tokens (cumulative)")
    ax.set_ylabel("training loss (nats/token)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def plot_bpb_curves(report: dict, path: Path) -> bool:
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


def plot_bpb_stages(report: dict, path: Path) -> bool:
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


def plot_forgetting(report: dict, path: Path) -> bool:
    stages = report.get("stages", [])[1:]
    domains = report_domains(report)
    forg = forgetting(report)
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


def plot_mixture(report: dict, path: Path) -> bool:
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
        shares = [100 * mixture_shares(s["mixture"]).get(source, 0.0) for s in stages]
        ax.barh(names, shares, left=left, color=colors[source], label=source)
        left = [a + b for a, b in zip(left, shares)]
    ax.invert_yaxis()  # first stage on top
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the stage's training tokens (%)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)
    return True


def run_plots() -> list[tuple[str, str, Callable[[dict, Path], bool]]]:
    """(key, file name, draw) of each run plot; looked up at call time so a test can replace one."""
    return [
        ("loss", "loss.png", plot_loss),
        ("bpb_curves", "bpb_curves.png", plot_bpb_curves),
        ("bpb_stages", "bpb_stages.png", plot_bpb_stages),
        ("forgetting", "forgetting.png", plot_forgetting),
        ("mixture", "mixture.png", plot_mixture),
    ]


# ----------------------------------------------------------------------------------------------------
# runs compared


def plot_compare(reports: list[dict], names: list[str], domains: list[str], fh: BinaryIO) -> None:
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
    _save(fig, fh)
