"""Numbers read from a run's report.json for its tables and plots: the domains, the cumulative token axis,
forgetting, final bits per byte, mixture shares.

Token positions are cumulative over the run: each stage starts where the one before it ended. The
pipeline records `curve` and `loss` points in run tokens already; points counted from the start of their
own stage are recognised (they lie before the stage's start) and shifted.
"""

from __future__ import annotations

from auroram.eval.forgetting import forgetting as compute_forgetting


def report_domains(report: dict) -> list[str]:
    """The recipe's domains, or every domain any stage evaluated, in first-seen order."""
    if report.get("domains"):
        return list(report["domains"])
    seen: dict[str, None] = {}
    for stage in report.get("stages", []):
        for domain in stage.get("eval", {}):
            seen.setdefault(domain, None)
    return list(seen)


def all_domains(reports: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for report in reports:
        for d in report_domains(report):
            seen.setdefault(d, None)
    return list(seen)


def stage_tokens(stage: dict) -> float:
    if stage.get("tokens") is not None:
        return float(stage["tokens"])
    points = [p.get("tokens", 0) for p in stage.get("curve", []) + stage.get("loss", [])]
    return float(max(points, default=0))


def stage_offsets(stages: list[dict]) -> list[float]:
    """Cumulative tokens at the start of each stage."""
    offsets, total = [], 0.0
    for stage in stages:
        offsets.append(total)
        total += stage_tokens(stage)
    return offsets


def shift(points: list[dict], offset: float) -> float:
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
        dx = shift(curve, offset)
        for point in curve:
            value = point.get("bpb", {}).get(domain)
            if value is not None:
                xs.append(dx + point.get("tokens", 0))
                ys.append(value)
        final = stage.get("eval", {}).get(domain, {}).get("bpb")
        end = offset + stage_tokens(stage)
        if final is not None and xs and xs[-1] == end:
            ys[-1] = final  # the stage's eval is the number the tables show, so the curve ends on it
        elif final is not None:
            xs.append(end)
            ys.append(final)
    return xs, ys


def forgetting(report: dict) -> dict:
    if report.get("forgetting"):
        return report["forgetting"]
    return compute_forgetting(report.get("stages", []), report_domains(report)) if report.get("stages") else {}


def final_bpb(report: dict, domain: str) -> float | None:
    for stage in reversed(report.get("stages", [])):
        value = stage.get("eval", {}).get(domain, {}).get("bpb")
        if value is not None:
            return value
    return None


def vs_start(report: dict, domain: str) -> tuple[float | None, float | None]:
    """(delta bpb, delta %) of the last stage against the start."""
    stages = report.get("stages", [])
    if len(stages) < 2:
        return None, None
    entry = forgetting(report).get(domain, {})
    last = stages[-1].get("name")
    return entry.get("vs_start", {}).get(last), entry.get("vs_start_pct", {}).get(last)


def mixture_shares(mixture: dict) -> dict[str, float]:
    """Token share of each source; the weights where token counts are missing."""
    tokens = {s: float(m.get("tokens") or 0) for s, m in mixture.items()}
    if sum(tokens.values()) <= 0:
        tokens = {s: float(m.get("weight") or 0) for s, m in mixture.items()}
    total = sum(tokens.values())
    return {s: (v / total if total > 0 else 0.0) for s, v in tokens.items()}
