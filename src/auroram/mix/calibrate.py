"""Proxy scale to full scale: a per-domain map from the fit's predicted change (proxy model, against the proxy's
stage before) to the change a full-size run of the stage realises (against its own stage before).

A small proxy forgets on its own scale: on the demo a 64-wide proxy forgets English far more and code less than
the 256-wide model for the same mixture, so a budget applied to proxy-scale changes is off in both directions.
Full-size runs of the stage that exist anyway (the run the search starts from, each run a `--check` measured)
are anchors: each gives, per domain, a pair (predicted proxy-scale change for its mixture, realised full-scale
change). One anchor fixes an offset; two or more a least-squares line. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class DomainMap:
    """calibrated = slope * proxy_change + intercept, for one domain."""

    domain: str
    kind: str  # "offset" (one anchor, or anchors whose predictions lie closer than the fit's error) or "line"
    slope: float
    intercept: float
    anchor_error: float  # mean absolute error on the anchors themselves, as a relative change
    loo_error: float | None  # leave-one-anchor-out mean absolute error (three anchors or more)
    lo: float = 0.0  # the anchors' lowest and highest proxy-scale change: outside them the map extrapolates
    hi: float = 0.0

    def __call__(self, proxy_change: np.ndarray | float) -> np.ndarray | float:
        return self.slope * proxy_change + self.intercept

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "slope": round(self.slope, 6), "intercept": round(self.intercept, 6),
                "anchor_error": round(self.anchor_error, 6),
                "loo_error": None if self.loo_error is None else round(self.loo_error, 6),
                "anchor_range": [round(self.lo, 6), round(self.hi, 6)]}


_FLAT = 1e-9  # anchors whose predicted changes differ by less than this cannot fix a slope


def _fit(x: np.ndarray, y: np.ndarray, min_span: float) -> tuple[str, float, float]:
    if len(x) == 1 or float(np.ptp(x)) <= max(min_span, _FLAT):
        return "offset", 1.0, float(np.mean(y - x))
    slope, intercept = np.polyfit(x, y, 1)
    return "line", float(slope), float(intercept)


def fit_map(domain: str, proxy_change: list[float], full_change: list[float], min_span: float = 0.0) -> DomainMap:
    """The map for one domain from its anchors' (proxy-scale prediction, full-scale realisation) pairs. A slope
    needs anchors whose predictions differ by more than `min_span` (the fit's own error): closer ones differ by
    noise, and a line through them says nothing, so they give an offset."""
    x, y = np.asarray(proxy_change, dtype=float), np.asarray(full_change, dtype=float)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"domain {domain}: {len(x)} predictions for {len(y)} anchors")
    kind, slope, intercept = _fit(x, y, min_span)
    err = float(np.mean(np.abs(slope * x + intercept - y)))
    loo = None
    if len(x) >= 3:
        errs = []
        for i in range(len(x)):
            keep = np.arange(len(x)) != i
            _, s, b = _fit(x[keep], y[keep], min_span)
            errs.append(abs(s * x[i] + b - y[i]))
        loo = float(np.mean(errs))
    return DomainMap(domain, kind, slope, intercept, err, loo, float(x.min()), float(x.max()))


def fit_maps(anchor_pred: list[dict[str, float]], anchor_real: list[dict[str, float]], domains: list[str],
             min_span: dict[str, float] | None = None) -> dict[str, DomainMap]:
    """One map per domain; `anchor_pred[i][d]` is the fit's proxy-scale change for anchor i's mixture,
    `anchor_real[i][d]` the change anchor i's full run realised."""
    span = min_span or {}
    return {d: fit_map(d, [p[d] for p in anchor_pred], [r[d] for r in anchor_real], span.get(d, 0.0))
            for d in domains}


def describe(maps: dict[str, DomainMap]) -> str:
    """'offset' or 'line' for the lot, or 'mixed' (a line where anchors differ, an offset where they do not)."""
    kinds = {m.kind for m in maps.values()}
    return kinds.pop() if len(kinds) == 1 else "mixed"


# ----------------------------------------------------------------------------------------------------
# Anchors: full-size runs of the stage, read into (mixture, bits per byte before and after).


@dataclass
class Anchor:
    run: str
    sources: dict[str, float]  # the source weights the run's stage trained on
    before_bpb: dict[str, float]  # its stage before, full scale
    realised_bpb: dict[str, float]  # after the stage

    def change(self, d: str) -> float:
        return self.realised_bpb[d] / self.before_bpb[d] - 1.0


def to_groups(sources: dict[str, float], shares: dict[str, dict[str, float]], names: list[str],
              where: str) -> np.ndarray:
    """A run's source weights in the search's coordinates (each group's weight is the sum of its sources')."""
    group_of = {s: g for g, members in shares.items() for s in members}
    w = np.zeros(len(names))
    for s, v in sources.items():
        if s not in group_of:
            from auroram.mix.search import SearchError

            raise SearchError(f"{where}: its stage trained on source {s!r}, which the searched mixture does not have")
        w[names.index(group_of[s])] += v
    return w / w.sum()


def calibrate_on(anchors: list[Anchor], predict: dict[str, Any], reference: dict[str, float],
                 shares: dict[str, dict[str, float]], names: list[str], domains: list[str],
                 fit_error: dict[str, float] | None = None) -> tuple[dict[str, DomainMap], list[dict[str, Any]]]:
    """The maps fitted on the anchors and, per anchor, what went into them: `predict[d]` is the fit of domain d
    (weights -> proxy-scale bits per byte), `reference` the proxy's stage-before scores, `fit_error[d]` the fit's
    leave-one-out error in bits per byte: a line needs anchors predicted further apart than twice that."""
    pred, real, rows = [], [], []
    for a in anchors:
        w = to_groups(a.sources, shares, names, a.run)
        p = {d: float(predict[d](w[None, :])[0]) / reference[d] - 1.0 for d in domains}
        r = {d: a.change(d) for d in domains}
        pred.append(p)
        real.append(r)
        rows.append({"run": a.run, "weights": {g: round(float(x), 6) for g, x in zip(names, w)},
                     "predicted_change": {d: round(v, 6) for d, v in p.items()},
                     "realised_change": {d: round(v, 6) for d, v in r.items()},
                     "before_bpb": a.before_bpb, "realised_bpb": a.realised_bpb})
    span = {d: 2.0 * e / reference[d] for d, e in (fit_error or {}).items()}
    maps = fit_maps(pred, real, domains, span)
    for row in rows:
        row["calibrated_change"] = {d: round(float(maps[d](row["predicted_change"][d])), 6) for d in domains}
    return maps, rows


def calibrated(predicted_change: dict[str, float], maps: dict[str, DomainMap], full_before: dict[str, float],
               objective: list[str]) -> dict[str, Any]:
    """A mixture's predictions at full scale: each domain's change, and the objective as the mean of the full
    model's stage-before bits per byte moved by those changes."""
    change = {d: float(maps[d](v)) for d, v in predicted_change.items() if d in maps}
    out: dict[str, Any] = {"calibrated_change": {d: round(v, 6) for d, v in change.items()},
                           "extrapolated": [d for d, v in predicted_change.items() if d in maps
                                            and not maps[d].lo - 1e-9 <= v <= maps[d].hi + 1e-9]}
    if all(d in change and d in full_before for d in objective):
        out["calibrated_objective"] = round(float(np.mean([full_before[d] * (1 + change[d]) for d in objective])), 5)
    return out
