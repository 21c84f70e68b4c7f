"""Proxy scale to full scale: per domain, a map to the change a full-size run of the stage realises (against its
own stage before) from one feature of the mixture, fitted on full-size runs of the stage (anchors).

A small proxy forgets on its own scale: on the demo a 64-wide proxy forgets English far more and code less than
the 256-wide model for the same mixture, so a budget applied to proxy-scale changes is off in both directions.
Full-size runs of the stage that exist anyway (the run the search starts from, each run a `--check` measured)
are anchors. Per domain, a map is a line (or an offset) in one feature:

    proxy       the fits' predicted change at proxy scale (one anchor: an offset; two or more: a line)
    weight      the weight of the domain's own sources in the mixture
    log-weight  its logarithm (diminishing returns, the shape data-mixing laws report)
    replay      the stage's total replay weight (every replayed source together)
    log-replay  its logarithm
    replayed    the weights of the domains that hold replayed sources, one slope each (a plane; it needs two
                anchors more than there are such domains)

With three anchors or more each domain takes the feature with the lowest leave-one-anchor-out error: on the demo
the full model's code forgetting follows the code and the English replay weights (a point of code replay
protects code about seven times more than one of English), which no per-domain map of the proxies' prediction
can express. With fewer anchors there is nothing to choose by, and `proxy` is used. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEATURES = ("proxy", "weight", "log-weight", "replay", "log-replay", "replayed")
_EPS = 1e-3  # log-weights stay finite near zero, as in the fits
_MIN_WEIGHT_SPAN = 0.01  # anchors whose weights differ by less than one point of the mixture cannot fix a slope
_FLAT = 1e-9


@dataclass
class DomainMap:
    """calibrated = slope * x + intercept, for one domain, with x the map's feature of the mixture."""

    domain: str
    kind: str  # "offset" (slope 1 on the proxy's change, or 0 on a weight), "line", or "plane" (`replayed`)
    slope: float
    intercept: float
    anchor_error: float  # mean absolute error on the anchors themselves, as a relative change
    loo_error: float | None  # leave-one-anchor-out mean absolute error (three anchors or more)
    lo: Any = 0.0  # the anchors' lowest and highest feature value (per column for a plane): beyond, it extrapolates
    hi: Any = 0.0
    feature: str = "proxy"
    candidates: dict[str, float | None] = field(default_factory=dict)  # every feature's leave-one-out error
    slopes: tuple[float, ...] | None = None  # a plane (feature `replayed`): one slope per replayed domain's weight

    def __call__(self, x: Any) -> Any:
        if self.slopes is not None:
            return np.asarray(x) @ np.asarray(self.slopes) + self.intercept
        return self.slope * x + self.intercept

    def covers(self, x: Any) -> bool:
        """Whether feature value `x` lies within the anchors' range (every column's, for a plane)."""
        x = np.atleast_1d(x)
        return bool(np.all((np.atleast_1d(self.lo) - 1e-9 <= x) & (x <= np.atleast_1d(self.hi) + 1e-9)))

    def summary(self) -> dict[str, Any]:
        def r(v: Any) -> Any:
            return [round(float(e), 6) for e in v] if np.ndim(v) else round(float(v), 6)

        return {"kind": self.kind, "feature": self.feature,
                "slope": r(self.slopes) if self.slopes is not None else r(self.slope),
                "intercept": round(self.intercept, 6), "anchor_error": round(self.anchor_error, 6),
                "loo_error": None if self.loo_error is None else round(self.loo_error, 6),
                "anchor_range": [r(self.lo), r(self.hi)],
                "candidates": {k: None if v is None else round(v, 6) for k, v in self.candidates.items()}}


def _fit(x: np.ndarray, y: np.ndarray, spread: np.ndarray, min_span: float, proxy: bool) -> tuple[str, float, float]:
    """A line through the anchors when their `spread` values (the feature, or the raw weights behind a log)
    differ by more than `min_span`; else an offset: the proxy's change moved by the mean difference, or, for a
    weight feature, the anchors' mean change."""
    if len(x) == 1 or float(np.ptp(spread)) <= max(min_span, _FLAT):
        return ("offset", 1.0, float(np.mean(y - x))) if proxy else ("offset", 0.0, float(np.mean(y)))
    slope, intercept = np.polyfit(x, y, 1)
    return "line", float(slope), float(intercept)


def _fit_feature(domain: str, feature: str, x: np.ndarray, y: np.ndarray, spread: np.ndarray,
                 min_span: float) -> DomainMap:
    proxy = feature == "proxy"
    kind, slope, intercept = _fit(x, y, spread, min_span, proxy)
    err = float(np.mean(np.abs(slope * x + intercept - y)))
    loo = None
    if len(x) >= 3:
        errs = []
        for i in range(len(x)):
            keep = np.arange(len(x)) != i
            _, s, b = _fit(x[keep], y[keep], spread[keep], min_span, proxy)
            errs.append(abs(s * x[i] + b - y[i]))
        loo = float(np.mean(errs))
    return DomainMap(domain, kind, slope, intercept, err, loo, float(x.min()), float(x.max()), feature)


def _plane_ok(X: np.ndarray) -> bool:
    """Anchors fix a plane when they are at least as many as its parameters and spread in every direction by a
    point of the mixture."""
    if len(X) < X.shape[1] + 1:
        return False
    sv = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    return bool(len(sv) >= X.shape[1] and sv[X.shape[1] - 1] > _MIN_WEIGHT_SPAN)


def _fit_plane(domain: str, X: np.ndarray, y: np.ndarray) -> DomainMap | None:
    """Least squares in several weights at once (feature `replayed`); None unless every leave-one-out subset
    fixes the plane, so that its held-out error exists."""
    n = len(y)
    if n < X.shape[1] + 2 or not all(_plane_ok(X[np.arange(n) != i]) for i in range(n)):
        return None

    def fit(idx: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(np.hstack([np.ones((len(idx), 1)), X[idx]]), y[idx], rcond=None)[0]

    c = fit(np.arange(n))
    pred = c[0] + X @ c[1:]
    errs = []
    for i in range(n):
        ci = fit(np.flatnonzero(np.arange(n) != i))
        errs.append(abs(ci[0] + X[i] @ ci[1:] - y[i]))
    return DomainMap(domain, "plane", 0.0, float(c[0]), float(np.mean(np.abs(pred - y))), float(np.mean(errs)),
                     X.min(axis=0).tolist(), X.max(axis=0).tolist(), "replayed", slopes=tuple(float(v) for v in c[1:]))


def fit_map(domain: str, proxy_change: list[float], full_change: list[float], min_span: float = 0.0) -> DomainMap:
    """The `proxy` map for one domain from its anchors' (proxy-scale prediction, full-scale realisation) pairs.
    A slope needs anchors whose predictions differ by more than `min_span` (the fit's own error): closer ones
    differ by noise, and a line through them says nothing, so they give an offset."""
    x, y = np.asarray(proxy_change, dtype=float), np.asarray(full_change, dtype=float)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"domain {domain}: {len(x)} predictions for {len(y)} anchors")
    return _fit_feature(domain, "proxy", x, y, x, min_span)


def choose_map(domain: str, values: dict[str, tuple[np.ndarray, np.ndarray]], full_change: list[float],
               min_span: float = 0.0, features: tuple[str, ...] | None = None) -> DomainMap:
    """The map for one domain: `values[feature]` is (the anchors' feature values, the values whose spread decides
    a slope). Each feature in `features` (default: every one given) is fitted; with three anchors or more the
    one with the lowest leave-one-anchor-out error is kept (ties: the earlier in FEATURES), with fewer the first
    one given. A weight feature whose anchors differ by less than one point of the mixture is no candidate."""
    y = np.asarray(full_change, dtype=float)
    names = [f for f in FEATURES if f in values and (features is None or f in features)]
    maps = {}
    for f in names:
        x, spread = values[f]
        if len(x) != len(y):
            raise ValueError(f"domain {domain}: {len(x)} {f} values for {len(y)} anchors")
        if f == "replayed":
            plane = _fit_plane(domain, np.asarray(x, float), y)
            if plane is not None:
                maps[f] = plane
            continue
        if f != "proxy" and len(y) > 1 and float(np.ptp(spread)) <= _MIN_WEIGHT_SPAN:
            continue
        maps[f] = _fit_feature(domain, f, np.asarray(x, float), y, np.asarray(spread, float),
                               min_span if f == "proxy" else _MIN_WEIGHT_SPAN)
    if not maps:
        from auroram.mix.search import SearchError

        raise SearchError(f"calibration of domain {domain}: these anchors fix no map in {' or '.join(names) or 'no feature'}"
                          f" (a line needs anchors whose weights differ by a point; a plane in k weights needs k + 2 "
                          f"anchors spread in every direction); use --calibrate auto or another feature")
    cand = {f: m.loo_error for f, m in maps.items()}
    if len(y) >= 3:
        low = min(m.loo_error for m in maps.values())
        best = next(f for f in maps if maps[f].loo_error <= low + 1e-12)  # ties (to rounding): the earlier feature
    else:
        best = next(iter(maps))
    maps[best].candidates = cand
    return maps[best]


def fit_maps(anchor_pred: list[dict[str, float]], anchor_real: list[dict[str, float]], domains: list[str],
             min_span: dict[str, float] | None = None) -> dict[str, DomainMap]:
    """One `proxy` map per domain; `anchor_pred[i][d]` is the fit's proxy-scale change for anchor i's mixture,
    `anchor_real[i][d]` the change anchor i's full run realised."""
    span = min_span or {}
    return {d: fit_map(d, [p[d] for p in anchor_pred], [r[d] for r in anchor_real], span.get(d, 0.0))
            for d in domains}


def describe(maps: dict[str, DomainMap]) -> str:
    """'offset' or 'line' for the lot, or 'mixed' (a line where anchors differ, an offset where they do not)."""
    kinds = {m.kind for m in maps.values()}
    return kinds.pop() if len(kinds) == 1 else "mixed"


# ----------------------------------------------------------------------------------------------------
# The mixture's features, in the search's coordinates.


@dataclass
class Coordinates:
    """How a mixture in the search's coordinates (one weight per group) reads as each feature: `domain[d]` and
    `replay` are vectors over the groups (a domain's weight is W @ domain[d]; the total replay W @ replay);
    `replayed` names the domains that hold replayed sources (feature `replayed`: their weights, one column each)."""

    domain: dict[str, np.ndarray]
    replay: np.ndarray
    replayed: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, shares: dict[str, dict[str, float]], names: list[str], domain_of: dict[str, str],
           replayed: set[str]) -> "Coordinates":
        dom: dict[str, np.ndarray] = {}
        rep = np.zeros(len(names))
        for j, g in enumerate(names):
            for s, share in shares[g].items():
                dom.setdefault(domain_of[s], np.zeros(len(names)))[j] += share
                if s in replayed:
                    rep[j] += share
        return cls(dom, rep, sorted({domain_of[s] for g in shares.values() for s in g if s in replayed}))

    def weight(self, feature: str, d: str, W: np.ndarray) -> np.ndarray | None:
        """The raw weight behind a weight feature (None where the mixture has none of it)."""
        if feature in ("weight", "log-weight"):
            return W @ self.domain[d] if d in self.domain else None
        if feature in ("replay", "log-replay"):
            return W @ self.replay if self.replay.any() else None
        if feature == "replayed":
            return np.stack([W @ self.domain[r] for r in self.replayed], axis=1) if self.replayed else None
        raise ValueError(f"not a weight feature: {feature}")

    def value(self, feature: str, d: str, W: np.ndarray, proxy_change: np.ndarray) -> np.ndarray:
        if feature == "proxy":
            return proxy_change
        w = self.weight(feature, d, W)
        return np.log(w + _EPS) if feature.startswith("log-") else w


@dataclass
class Calibration:
    """The maps of a search and how to read a mixture as their features."""

    maps: dict[str, DomainMap]
    coords: Coordinates | None = None

    def __contains__(self, d: str) -> bool:
        return d in self.maps

    def feature(self, d: str, proxy_change: Any, W: np.ndarray) -> Any:
        m = self.maps[d]
        if m.feature == "proxy":
            return proxy_change
        assert self.coords is not None, "a weight feature needs the search's coordinates"
        v = self.coords.value(m.feature, d, np.atleast_2d(W), np.atleast_1d(proxy_change))
        return v if np.ndim(proxy_change) else (v[0] if m.slopes is not None else float(v[0]))

    def change(self, d: str, proxy_change: Any, W: np.ndarray) -> Any:
        """Domain d's full-scale change for mixtures `W` (rows) whose proxy-scale change is `proxy_change`."""
        return self.maps[d](self.feature(d, proxy_change, W))


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
                 fit_error: dict[str, float] | None = None, coords: Coordinates | None = None,
                 features: tuple[str, ...] | None = None) -> tuple[Calibration, list[dict[str, Any]]]:
    """The maps fitted on the anchors and, per anchor, what went into them: `predict[d]` is the fit of domain d
    (weights -> proxy-scale bits per byte), `reference` the proxy's stage-before scores, `fit_error[d]` the fit's
    leave-one-out error in bits per byte: a `proxy` line needs anchors predicted further apart than twice that.
    `coords` (how a mixture reads as weights) makes the weight features candidates; `features` restricts them."""
    W, pred, real, rows = [], [], [], []
    for a in anchors:
        w = to_groups(a.sources, shares, names, a.run)
        p = {d: float(predict[d](w[None, :])[0]) / reference[d] - 1.0 for d in domains}
        r = {d: a.change(d) for d in domains}
        W.append(w)
        pred.append(p)
        real.append(r)
        rows.append({"run": a.run, "weights": {g: round(float(x), 6) for g, x in zip(names, w)},
                     "predicted_change": {d: round(v, 6) for d, v in p.items()},
                     "realised_change": {d: round(v, 6) for d, v in r.items()},
                     "before_bpb": a.before_bpb, "realised_bpb": a.realised_bpb})
    Wa = np.array(W)
    span = {d: 2.0 * e / reference[d] for d, e in (fit_error or {}).items()}
    maps = {}
    for d in domains:
        x = np.array([p[d] for p in pred])
        values: dict[str, tuple[np.ndarray, np.ndarray]] = {"proxy": (x, x)}
        for f in FEATURES[1:] if coords is not None else ():
            raw = coords.weight(f, d, Wa)
            if raw is not None:
                values[f] = (coords.value(f, d, Wa, x), raw)
        maps[d] = choose_map(d, values, [r[d] for r in real], span.get(d, 0.0), features)
    cal = Calibration(maps, coords)
    for row, w in zip(rows, W):
        row["calibrated_change"] = {d: round(float(cal.change(d, row["predicted_change"][d], w)), 6) for d in domains}
        row["feature"] = {d: _rounded(cal.feature(d, row["predicted_change"][d], w)) for d in domains}
    return cal, rows


def _rounded(x: Any) -> Any:
    return [round(float(v), 6) for v in x] if np.ndim(x) else round(float(x), 6)


def calibrated(predicted_change: dict[str, float], w: np.ndarray, cal: Calibration, full_before: dict[str, float],
               objective: list[str]) -> dict[str, Any]:
    """A mixture's predictions at full scale: each domain's change, and the objective as the mean of the full
    model's stage-before bits per byte moved by those changes; `extrapolated` names the domains whose feature
    lies outside the anchors' range."""
    feat = {d: cal.feature(d, v, w) for d, v in predicted_change.items() if d in cal}
    change = {d: float(cal.maps[d](x)) for d, x in feat.items()}
    out: dict[str, Any] = {"calibrated_change": {d: round(v, 6) for d, v in change.items()},
                           "extrapolated": [d for d, x in feat.items() if not cal.maps[d].covers(x)]}
    if objective and all(d in change and d in full_before for d in objective):
        out["calibrated_objective"] = round(float(np.mean([full_before[d] * (1 + change[d]) for d in objective])), 5)
    return out
