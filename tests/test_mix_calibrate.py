"""Proxy scale to full scale (auroram.mix.calibrate): the per-domain maps from anchors, their errors, and the
budget applied to calibrated predictions by the search."""

from __future__ import annotations

import numpy as np
import pytest

from auroram.mix.calibrate import Anchor, calibrate_on, calibrated, describe, fit_map, fit_maps, to_groups
from auroram.mix.search import SearchError, excess, fit_domains, search


def test_one_anchor_is_an_offset_that_reproduces_it():
    m = fit_map("en", [0.037], [-0.001])
    assert m.kind == "offset" and m.slope == 1.0 and m.intercept == pytest.approx(-0.038)
    assert m(0.037) == pytest.approx(-0.001) and m(0.01) == pytest.approx(-0.028)
    assert m.anchor_error == pytest.approx(0.0) and m.loo_error is None


def test_two_anchors_give_the_line_through_both():
    # the demo's numbers: English forgets less at full scale, code more, than the proxies predict
    en = fit_map("en", [0.0368, 0.0100], [-0.0008, -0.0159])
    code = fit_map("code", [0.0159, 0.0100], [0.0276, 0.0171])
    assert en.kind == code.kind == "line"
    assert en(0.0368) == pytest.approx(-0.0008) and en(0.0100) == pytest.approx(-0.0159)
    assert en.slope == pytest.approx(0.0151 / 0.0268) and code.slope == pytest.approx(0.0105 / 0.0059)
    assert en.loo_error is None and (en.lo, en.hi) == (0.0100, 0.0368)


def test_three_anchors_have_a_leave_one_out_error():
    exact = fit_map("x", [0.0, 0.1, 0.2], [0.05, 0.25, 0.45])
    assert exact.slope == pytest.approx(2.0) and exact.intercept == pytest.approx(0.05)
    assert exact.loo_error == pytest.approx(0.0, abs=1e-12)
    bent = fit_map("x", [0.0, 0.1, 0.2], [0.0, 0.1, 0.0])
    # leaving the middle one out predicts 0 where 0.1 was realised; leaving an end out extrapolates the other two
    assert bent.anchor_error > 0 and bent.loo_error == pytest.approx((0.2 + 0.1 + 0.2) / 3)


def test_anchors_closer_than_the_fit_error_give_an_offset_not_a_line():
    # predictions 0.2 points apart, realised 12 points apart: a slope of 60 would be noise
    m = fit_map("ja", [-0.600, -0.602], [-0.72, -0.60], min_span=0.006)
    assert m.kind == "offset" and m.intercept == pytest.approx(np.mean([-0.72 + 0.600, -0.60 + 0.602]))
    maps = fit_maps([{"a": 0.0, "b": 0.0}, {"a": 0.1, "b": 0.001}], [{"a": 0.0, "b": 0.0}, {"a": 0.2, "b": 0.1}],
                    ["a", "b"], {"b": 0.01})
    assert (maps["a"].kind, maps["b"].kind, describe(maps)) == ("line", "offset", "mixed")


def test_anchor_mixtures_in_search_coordinates_and_calibrated_objective():
    shares = {"en": {"en": 0.8, "inst_en": 0.2}, "fi": {"fi": 1.0}}
    w = to_groups({"en": 0.2, "inst_en": 0.1, "fi": 0.7}, shares, ["en", "fi"], "run-a")
    assert np.allclose(w, [0.3, 0.7])
    with pytest.raises(SearchError, match="run-b: its stage trained on source 'de'"):
        to_groups({"de": 1.0}, shares, ["en", "fi"], "run-b")
    # fits: proxy-scale bpb linear in the English weight; reference 2.0 for both
    predict = {"en": lambda W: 2.0 + 0.2 * (0.5 - W[:, 0]), "fi": lambda W: 2.0 - 1.0 * W[:, 1]}
    anchors = [Anchor("a1", {"en": 0.5, "fi": 0.5}, {"en": 3.0, "fi": 8.0}, {"en": 3.0, "fi": 4.0}),
               Anchor("a2", {"en": 0.3, "fi": 0.7}, {"en": 3.0, "fi": 8.0}, {"en": 3.03, "fi": 3.6})]
    maps, rows = calibrate_on(anchors, predict, {"en": 2.0, "fi": 2.0}, {"en": {"en": 1.0}, "fi": {"fi": 1.0}},
                              ["en", "fi"], ["en", "fi"])
    assert rows[1]["predicted_change"]["en"] == pytest.approx(0.02)
    assert rows[1]["calibrated_change"]["en"] == pytest.approx(rows[1]["realised_change"]["en"]) == pytest.approx(0.01)
    c = calibrated({"en": 0.04, "fi": -0.30}, maps, anchors[0].before_bpb, ["fi"])
    assert c["calibrated_change"]["en"] == pytest.approx(0.02) and c["extrapolated"] == ["en"]  # fi: between the anchors
    assert c["calibrated_objective"] == pytest.approx(8.0 * (1 + maps["fi"](-0.30)), abs=1e-5)


def _problem():
    rng = np.random.default_rng(1)
    X = rng.dirichlet([5, 5], size=16)
    fits = fit_domains(X, {"new": 3.0 - 2.0 * X[:, 0], "old": 2.0 + 1.0 * X[:, 0]}, only=["linear"])
    return fits, dict(center=np.array([0.5, 0.5]), objective=["new"], reference={"old": 2.0, "new": 3.0},
                      concentration=10, seed=0, bounds=(X.min(axis=0), X.max(axis=0)))


def test_identity_calibration_searches_exactly_as_none():
    fits, kw = _problem()
    plain, _ = search(fits, budget={"old": 0.2}, **kw)
    same, _ = search(fits, budget={"old": 0.2}, calibrate={"old": fit_map("old", [0.0, 0.1], [0.0, 0.1])}, **kw)
    assert np.array_equal(plain.weights, same.weights) and plain.objective == same.objective


def test_the_budget_applies_to_calibrated_changes():
    fits, kw = _problem()
    # full scale forgets 5 points more than the proxy: the 20% budget is 15% in proxy terms
    shift = {"old": fit_map("old", [0.1], [0.15])}
    best, _ = search(fits, budget={"old": 0.2}, calibrate=shift, **kw)
    assert best.predicted["old"] == pytest.approx(2.0 * 1.15, abs=2e-3)
    assert excess(best.predicted, kw["reference"], {"old": 0.2}, shift) <= 1e-12
    assert excess(best.predicted, kw["reference"], {"old": 0.2}) == pytest.approx(-0.05, abs=2e-3)
