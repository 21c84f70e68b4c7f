"""Proxy scale to full scale (auroram.mix.calibrate): the per-domain maps from anchors, their errors, and the
budget applied to calibrated predictions by the search."""

from __future__ import annotations

import numpy as np
import pytest

from auroram.mix.calibrate import (Anchor, Calibration, Coordinates, calibrate_on, calibrated, choose_map, describe,
                                   fit_map, fit_maps, to_groups)
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
    cal, rows = calibrate_on(anchors, predict, {"en": 2.0, "fi": 2.0}, {"en": {"en": 1.0}, "fi": {"fi": 1.0}},
                             ["en", "fi"], ["en", "fi"])
    assert rows[1]["predicted_change"]["en"] == pytest.approx(0.02)
    assert rows[1]["calibrated_change"]["en"] == pytest.approx(rows[1]["realised_change"]["en"]) == pytest.approx(0.01)
    c = calibrated({"en": 0.04, "fi": -0.30}, np.array([0.4, 0.6]), cal, anchors[0].before_bpb, ["fi"])
    assert c["calibrated_change"]["en"] == pytest.approx(0.02) and c["extrapolated"] == ["en"]  # fi: between the anchors
    assert c["calibrated_objective"] == pytest.approx(8.0 * (1 + cal.maps["fi"](-0.30)), abs=1e-5)


def _problem():
    rng = np.random.default_rng(1)
    X = rng.dirichlet([5, 5], size=16)
    fits = fit_domains(X, {"new": 3.0 - 2.0 * X[:, 0], "old": 2.0 + 1.0 * X[:, 0]}, only=["linear"])
    return fits, dict(center=np.array([0.5, 0.5]), objective=["new"], reference={"old": 2.0, "new": 3.0},
                      concentration=10, seed=0, bounds=(X.min(axis=0), X.max(axis=0)))


def test_identity_calibration_searches_exactly_as_none():
    fits, kw = _problem()
    plain, _ = search(fits, budget={"old": 0.2}, **kw)
    same, _ = search(fits, budget={"old": 0.2}, calibrate=Calibration({"old": fit_map("old", [0.0, 0.1], [0.0, 0.1])}),
                     **kw)
    assert np.array_equal(plain.weights, same.weights) and plain.objective == same.objective


def test_the_budget_applies_to_calibrated_changes():
    fits, kw = _problem()
    # full scale forgets 5 points more than the proxy: the 20% budget is 15% in proxy terms
    shift = Calibration({"old": fit_map("old", [0.1], [0.15])})
    best, _ = search(fits, budget={"old": 0.2}, calibrate=shift, **kw)
    assert best.predicted["old"] == pytest.approx(2.0 * 1.15, abs=2e-3)
    assert excess(best.predicted, kw["reference"], {"old": 0.2}, shift, best.weights) <= 1e-12
    assert excess(best.predicted, kw["reference"], {"old": 0.2}) == pytest.approx(-0.05, abs=2e-3)


# ----------------------------------------------------------------------------------------------------
# Maps in a feature of the mixture: chosen per domain by leave-one-anchor-out error.

def test_coordinates_read_a_mixture_as_domain_and_replay_weights():
    # groups: en (replayed en 0.75 + its instructions 0.25), code (replayed), fi (new)
    shares = {"code": {"code": 1.0}, "en": {"en": 0.75, "inst_en": 0.25}, "fi": {"fi": 1.0}}
    domain_of = {"code": "code", "en": "en", "inst_en": "en", "fi": "fi"}
    co = Coordinates.of(shares, ["code", "en", "fi"], domain_of, {"en", "code"})
    W = np.array([[0.1, 0.4, 0.5], [0.2, 0.2, 0.6]])
    assert np.allclose(co.weight("weight", "en", W), [0.4, 0.2]) and np.allclose(co.weight("weight", "fi", W), [0.5, 0.6])
    assert np.allclose(co.weight("replay", "fi", W), [0.1 + 0.3, 0.2 + 0.15])  # instructions are not replay
    assert np.allclose(co.value("log-replay", "en", W, np.zeros(2)), np.log(np.array([0.4, 0.35]) + 1e-3))
    assert co.weight("weight", "ja", W) is None  # a domain the mixture does not have: no weight feature


def test_three_anchors_choose_the_feature_the_full_runs_follow():
    # the demo's full runs: code forgetting follows total replay, while the proxies' prediction does not
    replay = np.array([0.146, 0.419, 0.160])
    realised = 0.042 - 0.06 * replay
    proxy = np.array([0.0159, 0.0100, 0.0060])
    m = choose_map("code", {"proxy": (proxy, proxy), "replay": (replay, replay)}, list(realised))
    assert m.feature == "replay" and m.kind == "line" and m.loo_error == pytest.approx(0.0, abs=1e-12)
    assert m.slope == pytest.approx(-0.06) and m.candidates["proxy"] > 0.002 and set(m.candidates) == {"proxy", "replay"}
    # with two anchors there is no held-out error to choose by: the proxy's prediction, as before
    two = choose_map("code", {"proxy": (proxy[:2], proxy[:2]), "replay": (replay[:2], replay[:2])}, list(realised[:2]))
    assert two.feature == "proxy" and two.loo_error is None
    assert choose_map("code", {"proxy": (proxy[:2], proxy[:2]), "replay": (replay[:2], replay[:2])}, list(realised[:2]),
                      features=("replay",)).feature == "replay"


def test_a_weight_the_anchors_share_is_no_candidate():
    same = np.array([0.2, 0.2, 0.205])
    y = [0.01, 0.03, 0.02]
    m = choose_map("en", {"proxy": (np.array([0.0, 0.1, 0.2]),) * 2, "weight": (same, same)}, y)
    assert m.feature == "proxy" and "weight" not in m.candidates
    with pytest.raises(SearchError, match="domain en: these anchors fix no map in weight"):
        choose_map("en", {"proxy": (np.zeros(3),) * 2, "weight": (same, same)}, y, features=("weight",))
    # whether a log feature can draw a line is decided by the raw weights' spread, not the logarithm's
    lg = np.log(np.array([0.01, 0.012, 0.015]))
    with pytest.raises(SearchError, match="no map in log-weight"):
        choose_map("en", {"log-weight": (lg, np.exp(lg))}, y)


def test_calibrate_on_picks_weight_features_and_the_search_applies_them_per_mixture():
    # two groups, "old" (replayed) and "new"; full scale: old's change = 0.10 - 0.5 x its weight, whatever the proxy says
    shares = {"new": {"new": 1.0}, "old": {"old": 1.0}}
    co = Coordinates.of(shares, ["new", "old"], {"new": "new", "old": "old"}, {"old"})
    predict = {"old": lambda W: 2.0 + 0.0 * W[:, 1], "new": lambda W: 3.0 - 2.0 * W[:, 0]}
    anchors = [Anchor(f"a{i}", {"new": 1 - w, "old": w}, {"old": 1.0, "new": 1.0},
                      {"old": 1.0 + 0.10 - 0.5 * w, "new": 1.0}) for i, w in enumerate((0.1, 0.2, 0.4))]
    cal, rows = calibrate_on(anchors, predict, {"old": 2.0, "new": 3.0}, shares, ["new", "old"], ["old"], coords=co)
    assert cal.maps["old"].feature in ("weight", "replay") and cal.maps["old"].loo_error == pytest.approx(0, abs=1e-9)
    assert [r["calibrated_change"]["old"] for r in rows] == pytest.approx([0.05, 0.0, -0.1])
    rng = np.random.default_rng(1)
    X = rng.dirichlet([8, 2], size=16)
    fits = fit_domains(X, {"new": 3.0 - 2.0 * X[:, 0], "old": 2.0 + 0.0 * X[:, 0]}, only=["linear"])
    kw = dict(center=np.array([0.7, 0.3]), objective=["new"], reference={"old": 2.0, "new": 3.0}, concentration=10,
              seed=0, bounds=(X.min(axis=0), X.max(axis=0)))
    # the proxy sees no forgetting at all; at full scale old's change is within +2% from a weight of 0.16 up
    best, _ = search(fits, budget={"old": 0.02}, calibrate=cal, **kw)
    assert best.weights[1] == pytest.approx(0.16, abs=2e-3)
    assert excess(best.predicted, kw["reference"], {"old": 0.02}, cal, best.weights) <= 1e-12


def test_a_plane_in_the_replayed_weights_needs_two_anchors_more_than_its_slopes():
    # code's full-scale change falls with English and with code replay, five times faster with code's own
    shares = {"code": {"code": 1.0}, "en": {"en": 1.0}, "fi": {"fi": 1.0}}
    co = Coordinates.of(shares, ["code", "en", "fi"], {s: s for s in shares}, {"en", "code"})
    assert co.replayed == ["code", "en"]
    mixes = [(0.11, 0.16), (0.13, 0.33), (0.13, 0.03), (0.11, 0.47), (0.32, 0.49)]
    W = np.array([[c, e, 1 - c - e] for c, e in mixes])
    truth = 0.066 - 0.25 * W[:, 0] - 0.05 * W[:, 1]
    anchors = [Anchor(f"a{i}", dict(zip(["code", "en", "fi"], w)), {"code": 1.0}, {"code": 1.0 + t})
               for i, (w, t) in enumerate(zip(W, truth))]
    predict = {"code": lambda X: 2.0 + 0.1 * X[:, 0]}  # a proxy that has code's own weight backwards
    cal, rows = calibrate_on(anchors, predict, {"code": 2.0}, shares, ["code", "en", "fi"], ["code"], coords=co)
    m = cal.maps["code"]
    assert (m.feature, m.kind) == ("replayed", "plane") and m.slopes == pytest.approx((-0.25, -0.05))
    assert m.loo_error == pytest.approx(0.0, abs=1e-12) and m.summary()["slope"] == pytest.approx([-0.25, -0.05])
    assert rows[4]["feature"]["code"] == pytest.approx([0.32, 0.49])
    w = np.array([0.2, 0.2, 0.6])
    c = calibrated({"code": 0.0}, w, cal, {"code": 1.0}, [])
    assert c["calibrated_change"]["code"] == pytest.approx(0.066 - 0.05 - 0.01) and c["extrapolated"] == []
    assert calibrated({"code": 0.0}, np.array([0.5, 0.2, 0.3]), cal, {"code": 1.0}, [])["extrapolated"] == ["code"]
    # three anchors cannot hold one out of a plane of three parameters: it is no candidate
    few, _ = calibrate_on(anchors[:3], predict, {"code": 2.0}, shares, ["code", "en", "fi"], ["code"], coords=co)
    assert "replayed" not in few.maps["code"].candidates
    with pytest.raises(SearchError, match="a plane in k weights needs k \\+ 2 anchors"):
        calibrate_on(anchors[:3], predict, {"code": 2.0}, shares, ["code", "en", "fi"], ["code"], coords=co,
                     features=("replayed",))
