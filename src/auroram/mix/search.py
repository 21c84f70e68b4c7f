"""How much replay, found by search: a forgetting budget, mixtures drawn around a recipe's, a regression per
domain from mixture weights to bits per byte, and the best mixture under the budget.

The idea follows RegMix (Liu et al., 2024) and data-mixing laws (Ye et al., 2024): train many small proxies on
random mixtures, learn weights -> loss, and pick the mixture by the fit instead of by hand. What is searched
here is a continual stage: the objective is the new languages' mean bits per byte, subject to each budgeted
domain staying within a relative change of its value before the stage. Pure numpy; scikit-learn (the
`mixsearch` extra) adds a tree ensemble to the candidate fits when it is installed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from auroram.errors import AuroramError


class SearchError(AuroramError, ValueError):
    """A budget, mixture or set of proxy results the search cannot use; the message names what."""


# ----------------------------------------------------------------------------------------------------
# The forgetting budget: 'en<=+1%,code<=+0.5%'.

_TERM = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*<=\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def parse_budget(text: str, domains: list[str]) -> dict[str, float]:
    """Domain -> the largest relative change of its bits per byte allowed (0.01 for '+1%')."""
    if not text or not text.strip():
        raise SearchError("--budget is empty: write it as DOMAIN<=+PCT%, e.g. 'en<=+1%,code<=+1%'")
    out: dict[str, float] = {}
    for term in text.split(","):
        m = _TERM.match(term)
        if not m:
            raise SearchError(f"--budget term {term.strip()!r}: expected DOMAIN<=+PCT%, e.g. 'en<=+1%'")
        domain, pct = m.group(1), float(m.group(2))
        if domain not in domains:
            raise SearchError(f"--budget names domain {domain!r}, which the recipe does not measure "
                              f"(domains: {', '.join(domains)})")
        if domain in out:
            raise SearchError(f"--budget names domain {domain!r} twice")
        out[domain] = pct / 100.0
    return out


def budget_text(budget: dict[str, float]) -> str:
    return ",".join(f"{d}<={100 * v:+g}%" for d, v in budget.items())


def parse_margin(text: str | float) -> str | float:
    """'loo' or a non-negative number of percentage points ('0.5', '0.5%') -> 'loo' or a relative change."""
    if isinstance(text, (int, float)):
        return float(text)
    t = str(text).strip().lower()
    if t == "loo":
        return "loo"
    try:
        v = float(t.rstrip("%").strip())
    except ValueError:
        raise SearchError(f"--margin {text!r}: expected loo or percentage points, e.g. 0.5%") from None
    if v < 0 or v != v:
        raise SearchError(f"--margin {text!r}: must be zero or more points")
    return v / 100.0


def budget_margins(margin: str | float, limits: dict[str, float], cal: Any, fitted: dict[str, Any],
                   reference: dict[str, float]) -> dict[str, float]:
    """How far inside its budget the search keeps each budgeted domain: a fixed relative change, or ('loo') the
    prediction's own held-out error: the calibration's leave-one-anchor-out error, or without anchors (or with
    too few for one) the proxy fit's leave-one-out error relative to the stage-before score."""
    m = parse_margin(margin)
    if m != "loo":
        return {d: float(m) for d in limits}
    out = {}
    for d in limits:
        loo = cal.maps[d].loo_error if cal is not None and d in cal else None
        out[d] = float(loo) if loo is not None else fitted[d].loo_mae[fitted[d].model] / reference[d]
    return out


def _change(d: str, value: Any, reference: dict[str, float], calibrate: Any, W: np.ndarray | None) -> Any:
    c = value / reference[d] - 1.0
    return c if calibrate is None or d not in calibrate else calibrate.change(d, c, W)


def excess(scores: dict[str, float], reference: dict[str, float], budget: dict[str, float],
           calibrate: Any = None, w: np.ndarray | None = None) -> float:
    """How far past the budget, as the largest relative overshoot (0 or less: within it); with `calibrate` (an
    auroram.mix.calibrate.Calibration), the changes of mixture `w` are first mapped to full scale."""
    return max(_change(d, scores[d], reference, calibrate, w) - limit for d, limit in budget.items())


def within(scores: dict[str, float], reference: dict[str, float], budget: dict[str, float]) -> bool:
    return excess(scores, reference, budget) <= 1e-12


# ----------------------------------------------------------------------------------------------------
# What is searched: groups of sources (one per domain, or one per source), each keeping its sources' shares.


@dataclass
class Groups:
    names: list[str]  # one coordinate of the simplex each
    shares: dict[str, dict[str, float]]  # group -> source -> share within the group (sums to 1)
    center: np.ndarray  # the recipe's own mixture in these coordinates

    def to_sources(self, w: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for g, wg in zip(self.names, w):
            for s, share in self.shares[g].items():
                out[s] = out.get(s, 0.0) + float(wg) * share
        return {s: round(v, 6) for s, v in sorted(out.items()) if v > 0}

    def weights(self, w: np.ndarray) -> dict[str, float]:
        return {g: round(float(x), 6) for g, x in zip(self.names, w)}


def make_groups(weights: dict[str, float], domain_of: dict[str, str], by: str = "domain") -> Groups:
    """`weights`: the stage's source weights as they run (summing to 1); `by`: 'domain' searches one weight per
    domain (its sources keep the recipe's proportions: fewer proxies fit it), 'source' one per source."""
    if by not in ("domain", "source"):
        raise SearchError(f"--by {by!r}: expected domain or source")
    key = (lambda s: domain_of[s]) if by == "domain" else (lambda s: s)
    totals: dict[str, float] = {}
    for s, w in weights.items():
        totals[key(s)] = totals.get(key(s), 0.0) + w
    names = sorted(totals)
    shares = {g: {s: w / totals[g] for s, w in sorted(weights.items()) if key(s) == g} for g in names}
    center = np.array([totals[g] for g in names], dtype=float)
    return Groups(names, shares, center / center.sum())


def draw(center: np.ndarray, concentration: float, seed: int, index: int) -> np.ndarray:
    """Mixture `index` of a search: index 0 is the recipe's own, the others Dirichlet around it. Each index has
    its own generator, so asking for more proxies later keeps the earlier ones."""
    if index == 0:
        return center.copy()
    rng = np.random.default_rng([seed, index])
    w = rng.dirichlet(np.maximum(concentration * center, 1e-3))
    w = np.maximum(w, 1e-6)
    return w / w.sum()


# ----------------------------------------------------------------------------------------------------
# One regression per domain: weights -> bits per byte, picked by leave-one-out error.

_EPS = 1e-3  # log-weights stay finite when a group's weight is near zero


def _design(X: np.ndarray, kind: str) -> np.ndarray:
    feats = X if kind == "linear" else np.log(X + _EPS)
    return np.hstack([np.ones((len(X), 1)), feats])


def _ridge(kind: str, lam: float) -> Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def fit(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        A = _design(X, kind)
        scale = A.std(axis=0)
        scale[0] = 1.0
        scale[scale == 0] = 1.0
        As = A / scale
        reg = lam * np.eye(As.shape[1])
        reg[0, 0] = 0.0  # the intercept is not shrunk
        coef = np.linalg.solve(As.T @ As + reg, As.T @ y) / scale
        return lambda Z: _design(Z, kind) @ coef

    return fit


def _forest(seed: int) -> Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]] | None:
    try:
        from sklearn.ensemble import GradientBoostingRegressor
    except ImportError:
        return None

    def fit(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        # shallow, few trees: a dozen proxies cannot support more
        m = GradientBoostingRegressor(n_estimators=60, max_depth=2, learning_rate=0.1, subsample=1.0,
                                      min_samples_leaf=2, random_state=seed)
        m.fit(X, y)
        return m.predict

    return fit


def candidate_fits(seed: int = 0) -> dict[str, Callable]:
    """Name -> fit(X, y) returning predict(X). The tree ensemble only where scikit-learn is installed."""
    fits: dict[str, Callable] = {"linear": _ridge("linear", 1e-3), "log-linear": _ridge("log", 1e-3)}
    forest = _forest(seed)
    if forest is not None:
        fits["gbt"] = forest
    return fits


@dataclass
class DomainFit:
    domain: str
    model: str  # the candidate chosen
    loo_mae: dict[str, float]  # every candidate's leave-one-out mean absolute error, bits per byte
    predict: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "loo_mae": {k: round(v, 5) for k, v in self.loo_mae.items()}}


def loo_error(fit: Callable, X: np.ndarray, y: np.ndarray) -> float:
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        errs.append(abs(float(fit(X[keep], y[keep])(X[i:i + 1])[0]) - y[i]))
    return float(np.mean(errs))


def fit_domains(X: np.ndarray, Y: dict[str, np.ndarray], seed: int = 0,
                only: list[str] | None = None) -> dict[str, DomainFit]:
    """A fit per domain, the candidate with the lowest leave-one-out error, refitted on every proxy."""
    if len(X) < 4:
        raise SearchError(f"{len(X)} finished proxies: the fit needs at least 4 (raise --proxies)")
    fits = candidate_fits(seed)
    if only:
        unknown = [k for k in only if k not in fits]
        if unknown:
            raise SearchError(f"--fit {unknown[0]!r}: not available here (have: {', '.join(fits)})")
        fits = {k: fits[k] for k in only}
    out = {}
    for d, y in Y.items():
        errors = {name: loo_error(f, X, y) for name, f in fits.items()}
        best = min(errors, key=lambda k: (errors[k], k))
        out[d] = DomainFit(d, best, errors, fits[best](X, y))
    return out


# ----------------------------------------------------------------------------------------------------
# The search over the simplex.


@dataclass
class Choice:
    weights: np.ndarray
    predicted: dict[str, float]
    objective: float
    excess: float  # <= 0: within the budget


def search(fits: dict[str, DomainFit], center: np.ndarray, *, objective: list[str], reference: dict[str, float],
           budget: dict[str, float], concentration: float, seed: int, bounds: tuple[np.ndarray, np.ndarray],
           samples: int = 20000, refine_rounds: int = 6,
           calibrate: Any = None) -> tuple[Choice | None, Choice]:
    """(best mixture within the budget or None, the closest to the budget): many Dirichlet samples around the
    recipe's mixture, then local refinement of the best by multiplicative steps of shrinking size. Only
    mixtures inside `bounds` (each weight between the lowest and highest a proxy tried) are considered: a fit
    of a dozen points says nothing about mixtures far outside them. `calibrate` (an auroram.mix.calibrate
    Calibration) maps each budgeted domain's predicted change to full scale before the budget is applied; the
    objective stays at proxy scale."""
    lo, hi = bounds
    rng = np.random.default_rng([seed, 7919])
    parts = [center[None, :]]
    for c in (concentration, concentration / 3, concentration * 3):
        parts.append(rng.dirichlet(np.maximum(c * center, 1e-3), size=samples // 3))
    W = np.maximum(np.vstack(parts), 1e-6)
    W /= W.sum(axis=1, keepdims=True)

    def score(W: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        pred = {d: f.predict(W) for d, f in fits.items()}
        obj = np.mean([pred[d] for d in objective], axis=0)
        over = np.max([_change(d, pred[d], reference, calibrate, W) - lim for d, lim in budget.items()], axis=0)
        return pred, obj, over

    def pick(W: np.ndarray) -> tuple[int, bool]:
        _, obj, over = score(W)
        inside = np.all((W >= lo - 1e-9) & (W <= hi + 1e-9), axis=1)
        obj, over = np.where(inside, obj, np.inf), np.where(inside, over, np.inf)
        ok = over <= 0
        if ok.any():
            return int(np.flatnonzero(ok)[np.argmin(obj[ok])]), True
        return int(np.argmin(over)), False

    i, feasible = pick(W)
    best = W[i]
    step = 0.3
    for _ in range(refine_rounds):
        cand = best[None, :] * np.exp(step * rng.standard_normal((2000, len(best))))
        cand = np.vstack([best[None, :], cand / cand.sum(axis=1, keepdims=True)])
        j, ok = pick(cand)
        if ok or not feasible:
            best, feasible = cand[j], ok or feasible
        step /= 2

    def choice(w: np.ndarray) -> Choice:
        pred, obj, over = score(w[None, :])
        return Choice(w, {d: float(v[0]) for d, v in pred.items()}, float(obj[0]), float(over[0]))

    c = choice(best)
    return (c if feasible else None), c
