"""`auroram mix search`: the budget parser and its errors, the fits on synthetic data, the search under a budget,
and the whole search on the micro recipe: proxies from one shared preparatory run, resumable, a Slurm array
written for the unfinished ones, and predicted against realised numbers for a full run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from auroram.cli import main
from auroram.config import load_recipe
from auroram.io import read_json
from auroram.mix.search import SearchError, draw, fit_domains, make_groups, parse_budget, search

DOMAINS = ["en", "fi", "hi", "ja", "vi", "code"]


def test_budget_parses_signed_percentages():
    assert parse_budget("en<=+1%,code<=0.5%", DOMAINS) == {"en": 0.01, "code": 0.005}
    assert parse_budget(" en <= -2 % ", DOMAINS) == {"en": -0.02}


@pytest.mark.parametrize("text, message", [
    ("xx<=+1%", "domain 'xx', which the recipe does not measure (domains: en, fi"),
    ("en<=+1", "term 'en<=+1': expected DOMAIN<=+PCT%"),
    ("en>=1%", "term 'en>=1%': expected"),
    ("en<=+1%,,code<=1%", "term '': expected"),
    ("en<=1%,en<=2%", "names domain 'en' twice"),
    ("", "--budget is empty"),
])
def test_bad_budgets_are_one_line_errors(text, message):
    with pytest.raises(SearchError) as e:
        parse_budget(text, DOMAINS)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_groups_keep_each_domains_sources_in_proportion():
    g = make_groups({"fi": 0.3, "inst_fi": 0.1, "en": 0.6}, {"fi": "fi", "inst_fi": "fi", "en": "en"})
    assert g.names == ["en", "fi"] and np.allclose(g.center, [0.6, 0.4])
    assert g.to_sources(np.array([0.2, 0.8])) == {"en": 0.2, "fi": 0.6, "inst_fi": 0.2}
    w1 = draw(g.center, 10.0, 3, 1)
    assert np.isclose(w1.sum(), 1) and np.array_equal(draw(g.center, 10.0, 3, 0), g.center)
    assert np.array_equal(w1, draw(g.center, 10.0, 3, 1))  # the same index draws the same mixture


def _synthetic(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.dirichlet([3, 3, 3], size=n)
    return X, {"lin": 2.0 + 3.0 * X[:, 0] - 1.5 * X[:, 1], "log": 1.0 - 0.4 * np.log(X[:, 2] + 1e-3)}


def test_the_fit_finds_a_known_linear_relation_and_a_logarithmic_one():
    X, Y = _synthetic()
    fits = fit_domains(X, Y, seed=0)
    assert fits["lin"].model == "linear" and fits["lin"].loo_mae["linear"] < 1e-3
    assert fits["log"].model == "log-linear" and fits["log"].loo_mae["log-linear"] < 1e-3
    probe = np.array([[0.5, 0.2, 0.3]])
    assert abs(fits["lin"].predict(probe)[0] - (2.0 + 1.5 - 0.3)) < 1e-3


def test_search_keeps_the_budget_and_says_when_none_meets_it():
    # new-language bpb falls as its weight grows, the replayed domain's rises as its weight falls
    rng = np.random.default_rng(1)
    X = rng.dirichlet([5, 5], size=16)
    fits = fit_domains(X, {"new": 3.0 - 2.0 * X[:, 0], "old": 2.0 + 1.0 * X[:, 0]}, only=["linear"])
    center = np.array([0.5, 0.5])
    bounds = (X.min(axis=0), X.max(axis=0))
    ref = {"old": 2.0, "new": 3.0}
    best, _ = search(fits, center, objective=["new"], reference=ref, budget={"old": 0.2}, concentration=10, seed=0,
                     bounds=bounds)
    assert best is not None and best.predicted["old"] <= 2.4 + 1e-9
    assert best.weights[0] == pytest.approx(min(0.4 / 1.0, bounds[1][0]), abs=0.01)  # on the budget's edge
    best, closest = search(fits, center, objective=["new"], reference=ref, budget={"old": -0.5}, concentration=10,
                           seed=0, bounds=bounds)
    assert best is None and closest.excess > 0 and closest.weights[0] == pytest.approx(bounds[0][0], abs=0.01)


# ----------------------------------------------------------------------------------------------------
# the whole search on the micro recipe


def micro_overrides(corpus: Path) -> list[str]:
    return [f"demo_dir={corpus}", "safety.eval_stages=[]", "eval.tasks=[]"]


@pytest.fixture(scope="module")
def micro_run(tiny_corpus, tmp_path_factory):
    from auroram.pipeline import run_recipe

    run_dir = tmp_path_factory.mktemp("mixrun") / "micro"
    run_recipe(load_recipe("micro", micro_overrides(tiny_corpus)), run_dir, quiet=True, until="cap")
    return run_dir


def _search(tiny_corpus, micro_run, out, *extra: str) -> int:
    args = ["mix", "search", "micro", "--stage", "cap", "--budget", "en<=+50%,code<=+50%", "--proxies", "5",
            "--proxy-tokens", "1024", "--from-run", str(micro_run), "--run-dir", str(out), "--quiet", *extra]
    for o in micro_overrides(tiny_corpus):
        args += ["--set", o]
    return main(args)


def test_search_end_to_end_resumes_and_checks_a_full_run(tiny_corpus, micro_run, tmp_path, capsys):
    out = tmp_path / "search"
    assert _search(tiny_corpus, micro_run, out, "--out", str(tmp_path / "frag.yaml")) == 0
    s = read_json(out / "search.json")
    assert len(s["proxies"]) == 5 and s["objective"] == ["fi", "hi", "ja", "vi"]
    assert s["recipe_mixture"]["weights"] == s["proxies"][0]["weights"]  # proxy 0 is the recipe's mixture
    assert len({tuple(p["weights"].values()) for p in s["proxies"]}) == 5
    # every proxy started from the same weights: the run's own base stage, linked in, not retrained
    linked = [p for p in (micro_run / "stages" / "base" / "final").rglob("*") if p.is_file()]
    assert linked and all(os.path.samefile(p, out / "prep" / p.relative_to(micro_run)) for p in linked)
    assert s["flops"]["prep"] == 0 and s["flops"]["proxies"] > 0
    chosen = s["chosen"]
    # the run searched from finished its cap: it is the one anchor, an offset per domain, and the budget applies
    # to the calibrated changes
    cal = s["calibration"]
    assert [a["run"] for a in cal["anchors"]] == [str(micro_run)] and cal["kind"] == "offset"
    assert all(chosen["calibrated_change"][d] <= 0.5 + 1e-9 for d in ("en", "code"))
    assert set(s["fits"]) == set(DOMAINS) and all(f["model"] in f["loo_mae"] for f in s["fits"].values())
    frag = yaml.safe_load((tmp_path / "frag.yaml").read_text())
    st = frag["stages"][0]
    assert st["name"] == "cap" and {**st["mixture"], **st["replay"]} == chosen["sources"]
    assert set(st["replay"]) == {"en", "code"}  # the recipe's replay sources stay replay
    printed = capsys.readouterr().out
    assert "--set 'stages.cap.mixture=" in printed and (out / "report" / "index.html").is_file()
    # the --set line applies: the recipe loads with it
    import shlex

    r = load_recipe("micro", [shlex.split(x)[0] for x in s["set"]])
    w = r.stage_weights(r.stage("cap"))
    assert all(abs(w[k] - v) < 1e-5 for k, v in chosen["sources"].items())

    stamps = {p: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/result.json")}
    assert _search(tiny_corpus, micro_run, out) == 0  # rerun: every proxy skipped, the same answer
    assert {p: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/result.json")} == stamps
    assert read_json(out / "search.json")["chosen"] == chosen

    capsys.readouterr()
    args = ["mix", "search", "micro", "--stage", "cap", "--budget", "en<=-90%", "--proxies", "5", "--proxy-tokens",
            "1024", "--run-dir", str(out), "--quiet"] + [x for o in micro_overrides(tiny_corpus) for x in ("--set", o)]
    assert main(args) == 2  # a budget no mixture meets: said in one line, with the closest
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no mixture meets the budget en<=-90%" in err[0] and "the closest: en " in err[0]
    assert {p: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/result.json")} == stamps

    assert main(["mix", "search", "micro", "--stage", "cap", "--budget", "en<=1%", "--run-dir", str(out),
                 "--check", str(micro_run)]) == 0
    c = read_json(out / "check.json")
    cap, base = (read_json(micro_run / "stages" / n / "result.json")["eval"] for n in ("cap", "base"))
    assert c["mixture"] == "recipe_mixture"  # the run kept the recipe's mixture
    assert c["realised_change"]["en"] == pytest.approx(cap["en"]["bpb"] / base["en"]["bpb"] - 1)
    assert "Predicted against realised" in (out / "report" / "summary.md").read_text()
    # the checked run joins the anchors of later searches here, without --from-run
    assert read_json(out / "anchors.json")["runs"] == [str(micro_run)]
    assert main([*args[:6], "en<=+50%,code<=+50%", *args[7:]]) == 0
    assert [a["run"] for a in read_json(out / "search.json")["calibration"]["anchors"]] == [str(micro_run)]

    # the stage's own settings are part of every proxy's key: another learning rate trains them again
    setup = read_json(out / "plan.json")["setup_key"]
    assert _search(tiny_corpus, micro_run, out, "--set", "stages.cap.optim.lr=0.0123") == 0
    assert read_json(out / "plan.json")["setup_key"] != setup
    again = {p: p.stat().st_mtime_ns for p in (out / "proxies").glob("*/result.json")}
    assert len(again) == 5 and all(again[p] != stamps[p] for p in stamps)


def test_slurm_array_of_the_unfinished_proxies_dry_run(tiny_corpus, micro_run, tmp_path):
    out = tmp_path / "search"
    assert _search(tiny_corpus, micro_run, out, "--executor", "slurm", "--dry-run", "--slurm-gpus", "0") == 0
    script = (out / "slurm" / "proxies.sbatch").read_text()
    assert "#SBATCH --array=0,1,2,3,4" in script and "gpus-per-task" not in script
    assert "-m auroram.pipeline.proxies" in script and str(out.resolve()) in script
    assert not (out / "proxies").exists() and not (out / "search.json").exists()  # nothing was run here
    # one task of the array, as a node runs it; the array written next lists only what is left
    from auroram.pipeline.proxies import run_proxy

    run_proxy(out, 2)
    assert _search(tiny_corpus, micro_run, out, "--executor", "slurm", "--dry-run") == 0
    assert "#SBATCH --array=0,1,3,4" in (out / "slurm" / "proxies.sbatch").read_text()


def test_a_bad_budget_or_stage_fails_before_any_work(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "s"
    base = ["mix", "search", "micro", "--set", f"demo_dir={tiny_corpus}", "--run-dir", str(out)]
    assert main([*base, "--stage", "cap", "--budget", "de<=+1%"]) == 2
    assert main([*base, "--stage", "base", "--budget", "en<=+1%"]) == 2
    assert main([*base, "--stage", "nope", "--budget", "en<=+1%"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "domain 'de'" in err[0] and "first stage" in err[1] and "not a stage" in err[2]
    assert not out.exists()


@pytest.mark.parametrize("text, message", [("-1%", "must be zero or more"), ("half", "expected loo or percentage")])
def test_a_bad_margin_is_a_one_line_error_before_any_work(tiny_corpus, micro_run, tmp_path, capsys, text, message):
    out = tmp_path / "s"
    assert _search(tiny_corpus, micro_run, out, f"--margin={text}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--margin {text!r}: {message}" in err[0]
    assert not (out / "proxies").exists() and not (out / "prep").exists()


def test_margins_fixed_or_from_the_proxies_fit_without_anchors():
    from types import SimpleNamespace

    from auroram.mix.search import budget_margins, parse_margin

    assert parse_margin("0.5%") == pytest.approx(0.005) == parse_margin(" 0.5 ") and parse_margin("LOO") == "loo"
    fitted = {"en": SimpleNamespace(model="linear", loo_mae={"linear": 0.02, "gbt": 0.5})}
    assert budget_margins("0.25%", {"en": 0.01}, None, fitted, {"en": 2.0}) == {"en": pytest.approx(0.0025)}
    assert budget_margins("loo", {"en": 0.01}, None, fitted, {"en": 2.0}) == {"en": pytest.approx(0.01)}


def _fake_anchor(run: Path, dst: Path, *, scale: float = 1.0, vocab: int | None = None, cap: bool = True,
                 en: float = 2.0) -> Path:
    """A full run of micro's cap made from `run`'s records: its realised bits per byte times `scale`, trained on
    a mixture with `en` times the English weight (so two anchors fix a line)."""
    from auroram.io import write_json

    dst.mkdir(parents=True)
    (dst / "recipe.yaml").write_bytes((run / "recipe.yaml").read_bytes())
    for st in ("base", "cap") if cap else ("base",):
        r = read_json(run / "stages" / st / "result.json")
        if st == "cap":
            r["eval"] = {d: {**v, "bpb": v["bpb"] * scale} for d, v in r["eval"].items()}
            w = {k: v * (en if k == "en" else 1) for k, v in r["weights"].items()}
            r["weights"] = {k: v / sum(w.values()) for k, v in w.items()}
        write_json(dst / "stages" / st / "result.json", r)
        cfg = read_json(run / "stages" / st / "hf" / "config.json")
        write_json(dst / "stages" / st / "hf" / "config.json", {**cfg, **({"vocab_size": vocab} if vocab else {})})
    return dst


def test_anchors_calibrate_the_budget_and_bad_anchors_fail_before_any_work(tiny_corpus, micro_run, tmp_path, capsys):
    vocab = read_json(micro_run / "stages" / "cap" / "hf" / "config.json")["vocab_size"]
    for name, kw, message in [("unfinished", {"cap": False}, "stage 'cap' has not finished there"),
                              ("other-vocab", {"vocab": vocab + 8}, f"vocab_size={vocab + 8} where")]:
        out = tmp_path / f"s-{name}"
        assert _search(tiny_corpus, micro_run, out, "--anchor", str(_fake_anchor(micro_run, tmp_path / name, **kw))) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and str(tmp_path / name) in err[0]
        assert not (out / "proxies").exists() and not (out / "prep").exists()

    out = tmp_path / "search"
    fake = _fake_anchor(micro_run, tmp_path / "fake", scale=1.01)
    assert _search(tiny_corpus, micro_run, out, "--anchor", str(fake)) == 0
    s = read_json(out / "search.json")
    cal = s["calibration"]
    assert [a["run"] for a in cal["anchors"]] == [str(micro_run), str(fake)]
    for d, m in cal["maps"].items():
        assert m["kind"] in ("line", "offset") and m["feature"] == "proxy"  # two anchors: nothing to choose by
        if m["kind"] == "line":  # through both anchors
            assert all(a["calibrated_change"][d] == pytest.approx(a["realised_change"][d], abs=1e-5)
                       for a in cal["anchors"])
    assert all(s["chosen"]["calibrated_change"][d] <= 0.5 + 1e-9 for d in ("en", "code"))
    md = (out / "report" / "summary.md").read_text()
    assert "Proxy scale to full scale" in md and str(fake) in md
    # checking a run whose mixture the search neither chose nor started from: realised numbers, no prediction
    assert main(["mix", "search", "micro", "--stage", "cap", "--budget", "en<=1%", "--run-dir", str(out),
                 "--check", str(fake)]) == 0
    c = read_json(out / "check.json")
    assert c["mixture"] == "other" and c["predicted_change"] == {} and "calibrated_change" not in c
    assert "neither the search's chosen one nor the recipe's" in capsys.readouterr().out

    # a third anchor: each domain's feature is the one with the lowest leave-one-anchor-out error
    third = _fake_anchor(micro_run, tmp_path / "fake3", scale=1.03, en=4.0)
    assert _search(tiny_corpus, micro_run, out, "--anchor", str(fake), "--anchor", str(third)) == 0
    cal = read_json(out / "search.json")["calibration"]
    assert len(cal["anchors"]) == 3 and cal["select"] == "auto"
    for d, m in cal["maps"].items():
        cand = {f: e for f, e in m["candidates"].items() if e is not None}
        assert {"proxy", "weight", "replay"} <= set(cand) and m["loo_error"] == min(cand.values())
    assert "LOO replay" in (out / "report" / "summary.md").read_text()
    assert _search(tiny_corpus, micro_run, out, "--anchor", str(fake), "--anchor", str(third), "--calibrate",
                   "replay") == 0
    s3 = read_json(out / "search.json")
    assert {m["feature"] for m in s3["calibration"]["maps"].values()} == {"replay"}
    assert all(s3["chosen"]["calibrated_change"][d] <= 0.5 + 1e-9 for d in ("en", "code"))
    # a margin: the search keeps each budgeted domain inside its budget by the calibration's held-out error
    assert _search(tiny_corpus, micro_run, out, "--anchor", str(fake), "--anchor", str(third), "--margin", "loo") == 0
    s4 = read_json(out / "search.json")
    for d in ("en", "code"):
        loo = s4["calibration"]["maps"][d]["loo_error"]
        assert s4["margin"]["by"][d] == pytest.approx(loo, abs=1e-6) and loo > 0
        assert s4["margin"]["search_limits"][d] == pytest.approx(0.5 - loo)
        assert s4["chosen"]["calibrated_change"][d] <= 0.5 - loo + 1e-9
    assert "## Margin" in (out / "report" / "summary.md").read_text()
    capsys.readouterr()
    # a plane in the replayed domains' weights (en, code) needs four anchors: a one-line error, the proxies kept
    assert _search(tiny_corpus, micro_run, out, "--anchor", str(fake), "--anchor", str(third), "--calibrate",
                   "replayed") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "these anchors fix no map in replayed" in err[0]
    assert len(list((out / "proxies").glob("*/result.json"))) == 5

    # no anchor: the search as it was before anchors existed, keys and all
    assert _search(tiny_corpus, micro_run, out, "--no-anchor") == 0
    plain = read_json(out / "search.json")
    assert "calibration" not in plain
    assert set(plain["chosen"]) == {"weights", "sources", "predicted", "objective", "excess", "over",
                                    "predicted_change"}
    assert plain["proxies"] == s["proxies"] and plain["fits"] == s["fits"]


def test_the_cli_offers_every_calibration_feature():
    # the parser keeps its own list (the CLI starts without numpy); it must name what auroram.mix.calibrate fits
    import argparse

    from auroram.mix.calibrate import FEATURES
    from auroram.pipeline.mix_cli import add_parser

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    search = sub.choices["mix"]._subparsers._group_actions[0].choices["search"]
    choices = next(a.choices for a in search._actions if a.dest == "calibrate")
    assert list(choices) == ["auto", *FEATURES]
