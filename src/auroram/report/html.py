"""The run report as one self-contained HTML page with PNG plots, and a side-by-side comparison of runs.

The page is built from report.json alone: the report package's own sections (overview, bits per byte,
forgetting, mixture, data, tokenizer, warnings) are made here as data, the `sections` other parts of the
toolkit stored are taken as they are, and auroram.report.render turns all of them into HTML. So
`auroram report RUN` re-renders any finished run with the current template.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from auroram.io import atomic_dir, atomic_file, read_json
from auroram.outputs import Layout, replace_dir
from auroram.report import plots
from auroram.report import sections as rs
from auroram.report.reading import (
    all_domains,
    final_bpb,
    forgetting,
    mixture_shares,
    report_domains,
    stage_tokens,
    vs_start,
)
from auroram.report.render import DASH, esc, page, render_section, table_html

# a source repeated more than ~4 times stops adding value and starts to be memorised (Muennighoff et al. 2023);
# the same default as the recipe's train.max_epochs_warning
EPOCHS_WARN = 4.0


# ----------------------------------------------------------------------------------------------------
# formatting numbers into cells


def _num(value: Any, digits: int = 4, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, int) and not signed:
        return f"{value:,}"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _tokens(n: Any) -> str:
    if n is None:
        return DASH
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def _delta_cell(value: float | None, digits: int = 4, suffix: str = "") -> Any:
    if value is None:
        return None
    tone = "worse" if value > 0 else "better" if value < 0 else None
    return rs.cell(_num(value, digits, signed=True) + suffix, tone=tone)


def _image(images: dict[str, str], key: str, alt: str) -> dict | None:
    return {"kind": "image", "src": images[key], "alt": alt} if key in images else None


# ----------------------------------------------------------------------------------------------------
# the run's own sections, as data


def _overview(report: dict) -> dict:
    rows = [
        ["recipe", report.get("recipe")],
        ["created", report.get("created")],
        ["config hash", report.get("config_hash")],
        ["domains", ", ".join(report_domains(report))],
    ]
    if "use_replay" in report:
        rows.append(["replay", "on" if report["use_replay"] else "off"])
    stage_rows = [
        [s.get("name"), _tokens(s.get("tokens")), _tokens(s.get("bytes")), _flops(s.get("flops")),
         _num(s.get("steps")), _num(s.get("seconds"), 1), _tokens(s.get("tokens_per_s")),
         _tokens(s.get("bytes_per_s"))]
        for s in report.get("stages", [])
    ]
    note = ("bytes: UTF-8 bytes of text in the tokens trained on, at each source's bytes per token; FLOPs: "
            "6 per weight per token (the LM head included) plus attention, forward and backward")
    return rs.section("Overview", rs.table([], rows), rs.heading("Stages"),
                      rs.table(["stage", "tokens", "bytes of text", "training FLOPs", "steps", "seconds", "tokens/s",
                                "bytes/s"], stage_rows, note=note))


def _flops(v: Any) -> str:
    return DASH if v is None else f"{v:.3g}"


def _loss(report: dict, images: dict[str, str]) -> dict:
    return rs.section("Training loss", _image(images, "loss", "training loss over cumulative tokens")
                      or rs.text("No loss recorded."))


def _bpb(report: dict, images: dict[str, str]) -> dict:
    stages = report.get("stages", [])
    rows = [[d] + [_num(s.get("eval", {}).get(d, {}).get("bpb")) for s in stages] for d in report_domains(report)]
    return rs.section(
        "Bits per byte",
        _image(images, "bpb_curves", "bits per byte per domain over cumulative tokens"),
        _image(images, "bpb_stages", "bits per byte per domain at the end of each stage"),
        rs.table(["domain"] + [s.get("name") for s in stages], rows),
    )


def _forgetting(report: dict, images: dict[str, str]) -> dict:
    stages = report.get("stages", [])[1:]
    forg = forgetting(report)
    image = _image(images, "forgetting", "change in bits per byte against the start, per domain and stage")
    if not stages or not forg:
        return rs.section("Forgetting", image, rs.text("Only one stage: nothing to compare."))
    head = ["domain"]
    for s in stages:
        name = s.get("name")
        head += [f"{name}: Δ previous", f"{name}: Δ start", f"{name}: Δ start %"]
    rows = []
    for d in report_domains(report):
        entry = forg.get(d, {})
        row: list = [d]
        for s in stages:
            name = s.get("name")
            row += [
                _delta_cell(entry.get("vs_previous", {}).get(name)),
                _delta_cell(entry.get("vs_start", {}).get(name)),
                _delta_cell(entry.get("vs_start_pct", {}).get(name), 2, "%"),
            ]
        rows.append(row)
    why = "Change in bits per byte; positive (red) means the domain got worse, i.e. was forgotten."
    return rs.section("Forgetting", image, rs.text(why), rs.table(head, rows))


def _mixture(report: dict, images: dict[str, str]) -> tuple[dict | None, list[str]]:
    blocks: list[dict] = []
    warnings: list[str] = []
    for stage in report.get("stages", []):
        mixture = stage.get("mixture")
        if not mixture:
            continue
        stage_warnings = " ".join(stage.get("warnings") or [])
        shares = mixture_shares(mixture)
        rows = []
        for source, m in mixture.items():
            epochs = m.get("epochs")
            epochs_cell: Any = _num(epochs, 2)
            if epochs is not None and epochs > EPOCHS_WARN:
                epochs_cell = rs.cell(f"{_num(epochs, 2)} ⚠ repeated", tone="warn")
                if source not in stage_warnings:  # the pipeline may have warned about it already
                    warnings.append(
                        f"{stage.get('name')}: source {source} is repeated {epochs:.1f} times (over {EPOCHS_WARN:g})"
                    )
            rows.append([source, m.get("domain"), _num(m.get("weight"), 3), _num(m.get("sequences")),
                         _tokens(m.get("tokens")), _tokens(m.get("bytes")), f"{100 * shares.get(source, 0.0):.1f}%",
                         epochs_cell])
        blocks += [rs.heading(str(stage.get("name"))),
                   rs.table(["source", "domain", "weight", "sequences", "tokens", "bytes of text", "token share",
                             "epochs"], rows)]
    if not blocks:
        return None, warnings
    return rs.section("Data mixture", _image(images, "mixture", "token share of each source per stage"),
                      *blocks), warnings


def _data_sources(report: dict) -> dict | None:
    sources = (report.get("data") or {}).get("sources") or []
    if not sources:
        return None
    rows = [[s.get("domain"), s.get("package"), s.get("version"), s.get("license"), _num(s.get("documents")),
             _num(s.get("bytes"))] for s in sources]
    return rs.section("Data sources", rs.table(["domain", "package", "version", "license", "documents", "bytes"], rows))


def _tokenizer(report: dict) -> dict | None:
    tok = report.get("tokenizer")
    if not tok:
        return None
    fert = tok.get("fertility") or {}
    base = (tok.get("base") or {}).get("fertility")
    if not base:
        rows = [[d, _num(f.get("tokens_per_byte"), 3), _num(f.get("tokens_per_word"), 2)] for d, f in fert.items()]
        return rs.section("Tokenizer", rs.text(f"Vocabulary: {_num(tok.get('vocab_size'))} tokens."),
                          rs.table(["domain", "tokens per byte", "tokens per word"], rows) if rows else None)
    rows = []
    for d, f in fert.items():
        b = base.get(d) or {}
        before, after = b.get("tokens_per_byte"), f.get("tokens_per_byte")
        ratio = before / after if before and after else None
        gain = rs.cell(f"{ratio:.2f}x", tone="better" if ratio > 1.001 else None) if ratio else None
        rows.append([d, _num(before, 3), _num(after, 3), gain, _num(b.get("tokens_per_word"), 2),
                     _num(f.get("tokens_per_word"), 2)])
    return rs.section(
        "Tokenizer", *_extension_blocks(tok),
        rs.heading("Fertility on the held-out text, base tokenizer and extended"),
        rs.table(["domain", "tokens/byte base", "tokens/byte extended", "base / extended", "tokens/word base",
                  "tokens/word extended"], rows,
                 note="tokens per word only where spaces separate words; bits per byte compare across tokenizers"))


def _extension_blocks(tok: dict) -> list[dict]:
    ext = tok.get("extension") or {}
    base = ext.get("base") or {}
    init = ext.get("init")
    learnt = ", ".join(f"{u.get('name')} ({_tokens(u.get('bytes'))}B)" for u in ext.get("learnt_from") or [])
    keep = ", ".join(str(u.get("name")) for u in ext.get("keep") or [])
    rows = [["base", f"{_num(base.get('vocab_size'))} tokens ({base.get('kind')}), "
                     f"tokenizer {base.get('tokenizer_hash')}"],
            ["added", f"{_num(ext.get('added'))} of {_num(ext.get('requested'))} requested, ids from "
                      f"{_num(ext.get('first_new_id'))} ({_num(ext.get('added_characters'))} characters, "
                      f"{_num(ext.get('added_merges'))} merges)"],
            ["learnt from", learnt or DASH],
            ["kept unchanged", keep or DASH],
            ["dropped", f"{_num(ext.get('dropped_unreachable'))} unreachable, {_num(ext.get('dropped_for_keep'))} "
                        f"for keep texts"],
            ["new rows", (init.get("method") if isinstance(init, dict) else init) or DASH],
            ["vocabulary", f"{_num(tok.get('vocab_size'))} tokens"]]
    if ext.get("examples"):
        rows.append(["examples", " ".join(str(x) for x in ext["examples"])])
    return [rs.heading("Vocabulary extension"), rs.table([], rows)]


def run_sections(report: dict, images: dict[str, str]) -> list[dict]:
    """The report package's own sections of the run page, before the `sections` stored in report.json;
    `images` maps a run plot's key to its PNG file name (absent plots are left out)."""
    mixture, mixture_warnings = _mixture(report, images)
    warnings = [
        f"{stage.get('name')}: {w}" for stage in report.get("stages", []) for w in stage.get("warnings") or []
    ] + mixture_warnings
    warn_block = {**rs.bullets(warnings), "tone": "warn"} if warnings else rs.text("None.")
    found = [_overview(report), _loss(report, images), _bpb(report, images), _forgetting(report, images),
             mixture, _data_sources(report), _tokenizer(report), rs.section("Warnings", warn_block)]
    return [s for s in found if s]


def render_html(report: dict, images: dict[str, str], out_dir: Path) -> str:
    """The page for `report`; plot blocks of its sections are drawn into out_dir."""
    body = [
        f"<h1>auroram run: {esc(report.get('recipe', 'report'))}</h1>",
        f'<p class="meta">{esc(report.get("description"))}</p>',
    ]
    body += [render_section(s, out_dir, f"run{i}") for i, s in enumerate(run_sections(report, images))]
    for i, section in enumerate(report.get("sections") or []):
        if isinstance(section, dict):
            body.append(render_section(section, out_dir, f"section{i}"))
    return page(f"auroram: {report.get('recipe', 'report')}", body)


def write_html_report(run_dir: Path, report: dict) -> Path:
    """Write run_dir/report/ (index.html and its PNGs) whole or not at all; returns the index.html path."""
    out = Path(run_dir) / "report"
    with atomic_dir(out) as tmp:
        images = {key: name for key, name, draw in plots.run_plots() if draw(report, tmp / name)}
        (tmp / "index.html").write_text(render_html(report, images, tmp), encoding="utf-8")
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
    for d in all_domains(reports):
        row = [d]
        for report in reports:
            delta, pct = vs_start(report, d)
            change = DASH if delta is None else f"{delta:+.4f}" + ("" if pct is None else f" ({pct:+.1f}%)")
            row += [_num(final_bpb(report, d)), change]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


COMPARE_TITLE = "auroram: runs compared"


def _comparison(root: Path) -> bool:
    # a comparison written before output markers: recognised by its page title
    try:
        return f"<title>{COMPARE_TITLE}</title>" in (root / "index.html").read_text(encoding="utf-8")[:4096]
    except (OSError, UnicodeDecodeError):
        return False


# a rerun replaces its own earlier comparison; a user's other files in the directory are kept
COMPARE_OUTPUT = Layout("report", patterns=("index.html", "compare_bpb.png", "compare*-plot*.png"),
                        legacy=_comparison)


def compare_runs(run_dirs: list[Path], out_dir: Path) -> Path:
    """Write out_dir/index.html (and its plot) comparing the runs side by side, whole or not at all; returns
    the index.html path."""
    run_dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out_dir)
    reports = [load_report(d) for d in run_dirs]
    with replace_dir(out_dir, COMPARE_OUTPUT) as tmp:
        _write_comparison(run_dirs, reports, out_dir, tmp)
    return out_dir / "index.html"


def _write_comparison(run_dirs: list[Path], reports: list[dict], out_dir: Path, tmp: Path) -> None:
    """Write the page into tmp; links are relative to out_dir, where tmp goes."""
    names = _run_labels(run_dirs)
    domains = all_domains(reports)
    with atomic_file(tmp / "compare_bpb.png", "wb") as fh:
        plots.plot_compare(reports, names, domains, fh)

    runs_rows = [
        [{"text": name, "href": os.path.relpath(d / "report" / "index.html", out_dir)}, r.get("recipe"),
         " → ".join(str(s.get("name")) for s in r.get("stages", [])),
         _tokens(sum(stage_tokens(s) for s in r.get("stages", []))), r.get("config_hash")]
        for d, r, name in zip(run_dirs, reports, names)
    ]
    final_rows = [[d] + [_num(final_bpb(r, d)) for r in reports] for d in domains]
    change_rows = []
    for d in domains:
        row: list = [d]
        for r in reports:
            delta, pct = vs_start(r, d)
            row += [_delta_cell(delta), _delta_cell(pct, 2, "%")]
        change_rows.append(row)
    change_head = ["domain"]
    for name in names:
        change_head += [f"{name}: Δ bpb", f"{name}: Δ %"]
    body = [
        f"<h1>{COMPARE_TITLE}</h1>",
        table_html(["run", "recipe", "stages", "tokens", "config hash"], runs_rows),
        render_section(rs.section(
            "Bits per byte over training",
            {"kind": "image", "src": "compare_bpb.png",
             "alt": "bits per byte per domain over cumulative tokens, runs overlaid"}), tmp, "compare0"),
        render_section(rs.section("Final bits per byte", rs.table(["domain", *names], final_rows)),
                       tmp, "compare1"),
        render_section(rs.section(
            "Change against the start (last stage vs first)",
            rs.text("Positive (red) means the domain got worse over the run, i.e. was forgotten."),
            rs.table(change_head, change_rows)), tmp, "compare2"),
    ]
    with atomic_file(tmp / "index.html", "w") as fh:
        fh.write(page(COMPARE_TITLE, body))
