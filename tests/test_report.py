import json

import pytest

from auroram.eval.forgetting import forgetting, summary
from auroram.io import write_json
from auroram.report import plots as report_plots
from auroram.report import reading
from auroram.report import render
from auroram.report import sections as rs
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
    xs, ys = reading.bpb_series(report["stages"], "en")
    assert xs[0] == 0 and ys[0] == 1.00  # the base model's eval starts the curve
    assert xs[-1] == 14_000 and ys[-1] == 1.05  # ends on the last stage's eval, as the tables do
    assert xs == sorted(xs)
    relative = fake_report()
    for point in relative["stages"][2]["curve"]:
        point["tokens"] -= 10_000  # counted from the start of the stage instead
    assert reading.bpb_series(relative["stages"], "en") == (xs, ys)


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

    monkeypatch.setattr(report_plots, "plot_mixture", broken)
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


# ----------------------------------------------------------------------------------------------------
# sections as data, rendered only by auroram.report; `auroram report RUN` re-renders from report.json


def old_format_report():
    """A report.json as versions before sections were data wrote it: each section's HTML made by its producer."""
    return {
        "recipe": "old",
        "created": "2024-04-01 10:00:00",
        "domains": ["en"],
        "stages": [{"name": "base", "tokens": 0, "eval": {"en": {"bpb": 1.25}}},
                   {"name": "cap", "tokens": 1000, "eval": {"en": {"bpb": 1.5}}}],
        "sections": [
            {"title": "Curation", "html": "<p>10 documents in</p><table><tr><td>ja</td><td>4</td></tr></table>"},
            {"title": "Safety", "html": "<p class='note'>12 held-out items</p>"},
        ],
    }


def data_report():
    report = fake_report()
    report["sections"] = [
        rs.section(
            "Tasks & <more>",
            rs.heading("Accuracy <per task>"),
            rs.text("Higher is better & <b>not bold</b>."),
            rs.bullets(["sandbox: <none>"]),
            rs.table(["task", "base", "cap"],
                     [["<script>alert(1)</script>", 0.25, None],
                      ["arc", 1234567, rs.cell("42%", strong=True, tone="worse")]],
                     note="n = <10>"),
            rs.line_plot("accuracy per stage", ["base", "cap"], {"arc": [0.25, 0.5], "hellaswag": [0.3, None]},
                         ylabel="accuracy", ylim=(0, 1), styles={"hellaswag": "dashed"}),
            {"kind": "hologram", "text": "from a newer version"},
        ),
        {"title": "Legacy", "html": "<p id='legacy'>made by an older version</p>"},
    ]
    return report


def test_cli_report_rerenders_an_old_format_run(tmp_path, capsys):
    from auroram.cli import main

    run = tmp_path / "old-run"
    write_json(run / "report.json", old_format_report())
    assert main(["report", str(run)]) == 0
    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "<h2>Curation</h2>" in page and "<table><tr><td>ja</td><td>4</td></tr></table>" in page
    assert "<p class='note'>12 held-out items</p>" in page  # legacy HTML goes in as it was
    assert "1.2500" in page and "+0.2500" in page  # the run's own tables come from its numbers
    assert str(run / "report" / "index.html") in capsys.readouterr().out


def test_data_sections_render_escaped_with_plots(tmp_path):
    report = data_report()
    assert json.loads(json.dumps(report["sections"])) == report["sections"]
    page = write_html_report(tmp_path, report).read_text(encoding="utf-8")
    assert "<h2>Tasks &amp; &lt;more&gt;</h2>" in page and "<h3>Accuracy &lt;per task&gt;</h3>" in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page and "<script>" not in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<li>sandbox: &lt;none&gt;</li>" in page
    assert "<th>task</th><th>base</th><th>cap</th>" in page
    assert "<td>0.25</td><td>–</td>" in page  # null is a dash
    assert "<td>1,234,567</td>" in page and '<td class="worse"><b>42%</b></td>' in page
    assert '<p class="note">n = &lt;10&gt;</p>' in page
    assert "hologram" in page  # an unknown block is named, not fatal
    assert "<p id='legacy'>made by an older version</p>" in page
    png = tmp_path / "report" / "section0-plot0.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert 'src="section0-plot0.png" alt="accuracy per stage"' in page


def test_rerendering_a_run_gives_the_same_page(tmp_path):
    from auroram.cli import main

    write_json(tmp_path / "report.json", data_report())
    assert main(["report", str(tmp_path)]) == 0
    first = (tmp_path / "report" / "index.html").read_bytes()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report" / "index.html").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "report").glob("section*.png")) == ["section0-plot0.png"]


def test_cells_and_links_are_escaped_in_one_place():
    links = [[{"text": "x", "href": "javascript:alert(1)"}, {"text": "y", "href": "r/i.html"}]]
    assert render.table_html(["a<b"], links) == (
        '<table>\n<thead><tr><th>a&lt;b</th></tr></thead>\n<tbody>\n'
        '<tr><td>x</td><td><a href="r/i.html">y</a></td></tr>\n</tbody></table>')
    assert [render.fmt_value(v) for v in (None, float("nan"), True, 12345, 0.123456, 123456.7, "s")] == \
        ["–", "–", "yes", "12,345", "0.1235", "123,457", "s"]


def test_curation_section_is_data_and_renders(tmp_path):
    from auroram.curate.report import report_section

    stats = {
        "totals": {"docs_in": 5, "bytes_in": 5_000_000, "docs_kept": 3, "bytes_kept": 2_500_000, "docs_dropped": 2,
                   "balanced": True},
        "by_language": {"fi": {"docs_kept": 3, "docs_dropped": 2, "bytes_kept": 2_500_000,
                               "dropped": {"too_short": 1, "<dup>": 1}}},
        "steps": ["langid"],
        "per_step": {"langid": {"fi": {"docs_in": 5, "bytes_in": 5_000_000, "docs_kept": 3,
                                       "dropped": {"too_short": {"docs": 2}}}}},
        "dedup": {"candidate_pairs": 4, "verified_pairs": 1, "removed": 1},
    }
    sec = report_section(stats)
    assert json.loads(json.dumps(sec)) == sec
    tables = [b for b in sec["blocks"] if b["kind"] == "table"]
    assert tables[0]["head"] == ["language", "docs in", "kept", "MB kept", "dropped", "top reasons"]
    assert tables[0]["rows"] == [["fi", 5, 3, "2.50", 2, "too_short 1, <dup> 1"]]
    assert tables[1]["rows"] == [["langid", 5, "5.00", 3, 2, "too_short 2"]]
    report = old_format_report()
    report["sections"] = [sec]
    page = write_html_report(tmp_path, report).read_text(encoding="utf-8")
    assert "<td>fi</td><td>5</td><td>3</td><td>2.50</td>" in page and "&lt;dup&gt; 1" in page
    assert "deduplication: 4 candidate pairs, 1 verified, 1 documents removed" in page
