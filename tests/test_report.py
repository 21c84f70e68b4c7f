import json

import pytest

from auroram.eval.forgetting import forgetting, summary
from auroram.io import write_json
from auroram.report import html as report_html
from auroram.report.html import compare_runs, compare_table, write_html_report

DOMAINS = ["en", "fi", "ja", "code"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def three_stages():
    return [
        {"name": "base", "eval": {"en": {"bpb": 1.00}, "fi": {"bpb": 2.00}, "ja": {"bpb": 3.00}, "code": {"bpb": 0.50}}},
        {"name": "cap", "eval": {"en": {"bpb": 1.10}, "fi": {"bpb": 1.50}, "ja": {"bpb": 2.00}, "code": {"bpb": 0.55}}},
        {"name": "cat", "eval": {"en": {"bpb": 1.05}, "fi": {"bpb": 1.40}, "ja": {"bpb": 2.10}, "code": {"bpb": 0.60}}},
    ]


def test_forgetting_numbers():
    f = forgetting(three_stages(), DOMAINS)
    assert set(f) == set(DOMAINS)
    assert f["en"]["vs_previous"] == {"cap": pytest.approx(0.10), "cat": pytest.approx(-0.05)}
    assert f["en"]["vs_start"] == {"cap": pytest.approx(0.10), "cat": pytest.approx(0.05)}
    assert f["en"]["vs_start_pct"] == {"cap": pytest.approx(10.0), "cat": pytest.approx(5.0)}
    assert f["fi"]["vs_start_pct"]["cat"] == pytest.approx(-30.0)  # learned, not forgotten
    assert f["ja"]["vs_previous"]["cat"] == pytest.approx(0.10)
    assert f["code"]["vs_start_pct"]["cat"] == pytest.approx(20.0)
    assert "base" not in f["en"]["vs_start"]

    s = summary(f, ["en", "code"])
    assert s["max_increase_pct"] == pytest.approx(20.0)
    assert (s["domain"], s["stage"]) == ("code", "cat")
    assert s["final_max_increase_pct"] == pytest.approx(20.0)


def test_forgetting_missing_domain_is_none():
    stages = three_stages()
    del stages[1]["eval"]["ja"]
    f = forgetting(stages, ["ja"])
    assert f["ja"]["vs_start"]["cap"] is None
    assert f["ja"]["vs_previous"]["cat"] is None
    assert f["ja"]["vs_start"]["cat"] == pytest.approx(-0.9)


def fake_report(recipe="tiny", cap_en=1.10, seed=0.0, use_replay=True):
    """Shaped as the pipeline writes it: curve and loss points count tokens from the start of the run."""
    stages = three_stages()
    stages[1]["eval"]["en"]["bpb"] = cap_en
    tokens = {"base": 0, "cap": 10_000, "cat": 4_000}
    offset = 0
    for stage in stages:
        n = tokens[stage["name"]]
        stage.update(tokens=n, steps=n // 1000, seconds=n / 5000, tokens_per_s=5000.0, warnings=[])
        if n:
            stage["loss"] = [
                {"step": i, "tokens": offset + i * 1000, "loss": 5.0 - 0.2 * i + seed, "lr": 1e-3}
                for i in range(1, n // 1000 + 1)
            ]
            stage["curve"] = [
                {"step": i, "tokens": offset + i * 2000, "bpb": {d: 2.0 - 0.05 * i + seed for d in DOMAINS}}
                for i in range(0, n // 2000 + 1)
            ]
            stage["mixture"] = {
                "web-fi": {"weight": 0.5, "sequences": 30, "tokens": n // 2, "epochs": 1.2, "domain": "fi"},
                "wiki-ja": {"weight": 0.3, "sequences": 18, "tokens": n * 3 // 10, "epochs": 7.5, "domain": "ja"},
                "replay-en": {"weight": 0.2, "sequences": 12, "tokens": n // 5, "epochs": 0.4, "domain": "en"},
            }
        offset += n
    stages[2]["warnings"] = ["loss spike at step 3 <skipped>"]
    return {
        "recipe": recipe,
        "description": "demo run <b>not bold</b>",
        "created": "2024-05-01T12:00:00",
        "domains": DOMAINS,
        "config_hash": "abc123",
        "use_replay": use_replay,
        "stages": stages,
        "forgetting": forgetting(stages, DOMAINS),
        "data": {
            "sources": [
                {"domain": "fi", "package": "manpages-fi", "version": "4.0", "license": "GPL-2+", "documents": 12,
                 "bytes": 3400}
            ]
        },
        "tokenizer": {"vocab_size": 4096, "fertility": {"en": {"tokens_per_byte": 0.25, "tokens_per_word": 1.3},
                                                         "ja": {"tokens_per_byte": 0.4, "tokens_per_word": None}}},
        "sections": [{"title": "Safety", "html": "<p id='safety'>refusal rate 0.9</p>"}],
    }


def test_html_report_written(tmp_path):
    index = write_html_report(tmp_path, fake_report())
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text(encoding="utf-8")
    for name in ("loss.png", "bpb_curves.png", "bpb_stages.png", "forgetting.png", "mixture.png"):
        png = tmp_path / "report" / name
        assert png.stat().st_size > 1000
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f'src="{name}"' in page
    for word in DOMAINS + ["base", "cap", "cat", "manpages-fi", "GPL-2+", "web-fi"]:
        assert word in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold" not in page
    assert "&lt;skipped&gt;" in page
    assert "wiki-ja is repeated 7.5 times" in page  # the high-epoch warning is visible
    assert "<p id='safety'>refusal rate 0.9</p>" in page
    assert "+10.00%" in page  # en after cap, vs start


def test_token_axis_is_cumulative_either_way():
    report = fake_report()
    xs, ys = report_html.bpb_series(report["stages"], "en")
    assert xs[0] == 0 and ys[0] == 1.00  # the base model's eval starts the curve
    assert xs[-1] == 14_000 and ys[-1] == 1.05  # ends on the last stage's eval, as the tables do
    assert xs == sorted(xs)
    relative = fake_report()
    for point in relative["stages"][2]["curve"]:
        point["tokens"] -= 10_000  # counted from the start of the stage instead
    assert report_html.bpb_series(relative["stages"], "en") == (xs, ys)


def test_html_report_minimal(tmp_path):
    report = {"stages": [{"name": "base", "eval": {"en": {"bpb": 1.0}}}]}
    page = write_html_report(tmp_path, report).read_text(encoding="utf-8")
    assert "base" in page and "en" in page


def test_no_partial_report_when_plotting_fails(tmp_path, monkeypatch):
    write_html_report(tmp_path, fake_report())
    before = (tmp_path / "report" / "index.html").read_bytes()

    def broken(report, path):
        path.write_bytes(b"half")
        raise RuntimeError("plot failed")

    monkeypatch.setattr(report_html, "_plot_mixture", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        write_html_report(tmp_path, fake_report(recipe="other"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temp dir left beside it
    assert (tmp_path / "report" / "index.html").read_bytes() == before

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        write_html_report(fresh, fake_report())
    assert list(fresh.iterdir()) == []


def test_compare_runs(tmp_path):
    runs = []
    for name, cap_en, seed in (("replay-on", 1.02, 0.0), ("replay-off", 1.30, 0.1)):
        run = tmp_path / name
        write_json(run / "report.json", fake_report(cap_en=cap_en, seed=seed))
        runs.append(run)
    index = compare_runs(runs, tmp_path / "compare")
    page = index.read_text(encoding="utf-8")
    png = tmp_path / "compare" / "compare_bpb.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "replay-on" in page and "replay-off" in page
    assert all(d in page for d in DOMAINS)

    reports = [json.loads((r / "report.json").read_text()) for r in runs]
    table = compare_table(reports, names=["replay-on", "replay-off"])
    lines = table.splitlines()
    assert "replay-on bpb" in lines[0] and "replay-off vs start" in lines[0]
    en = next(line for line in lines if line.startswith("en "))
    assert "1.0500" in en and "+0.0500 (+5.0%)" in en
    assert len(lines) == 2 + len(DOMAINS)
    # same recipe twice: default names still tell the runs apart
    reports[1]["use_replay"] = False
    assert "tiny (no replay) bpb" in compare_table(reports)
    reports[1]["use_replay"] = True
    assert "2:tiny bpb" in compare_table(reports)
