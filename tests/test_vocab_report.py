"""What a vocabulary extension bought, as the run reports it: fertility of the base tokenizer and of the
extended one on the held-out text, the extension's record in report.json, the HTML report, the model card
and the provenance; per stage the bytes of text seen, bytes per second and training FLOPs (an extended head
counted)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import make_doc

from auroram.cli import main
from auroram.config import ModelConfig
from auroram.io import read_json
from auroram.model.build import build_model, flops_per_token, load_base
from auroram.model.embeddings import apply_extension
from auroram.model.export import render_model_card, vocabulary_paragraph
from auroram.report.html import run_sections
from auroram.tokenize.bpe import load_tokenizer, train_bpe
from auroram.train.loop import text_bytes, work_done


def test_text_bytes_uses_the_shards_bytes_per_token():
    assert text_bytes(40, {"tokens": 100, "bytes": 250}) == {"bytes": 100}
    assert text_bytes(3, {"tokens": 7, "bytes": 10}) == {"bytes": 4}  # rounded
    assert text_bytes(40, None) == {} and text_bytes(40, {"tokens": 0, "bytes": 5}) == {}
    assert text_bytes(40, {"tokens": 100}) == {}  # a shard record from before bytes were counted


@pytest.mark.parametrize("extra", [0, 64])
def test_flops_count_the_larger_head_of_an_extended_model(extra):
    cfg = ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=64)
    small = build_model(cfg, vocab_size=400, eos_id=0, seed=0)
    big = build_model(cfg, vocab_size=400 + extra, eos_id=0, seed=0)
    usage = {"a": {"tokens": 600, "bytes": 1500}, "b": {"tokens": 400, "bytes": 500}}
    got = work_done(big, 64, 1000, usage, 4.0)
    # a tied head: 6 FLOPs per weight per token, forward and backward, for each extra row of 32
    assert got["flops_per_token"] == flops_per_token(small, 64) + 6 * extra * 32
    assert got["flops"] == got["flops_per_token"] * 1000
    assert got["bytes"] == 2000 and got["bytes_per_s"] == 500.0
    # one source without bytes: no total, rather than a total that leaves it out
    assert "bytes" not in work_done(big, 64, 1000, {**usage, "c": {"tokens": 5}}, 4.0)


EXT = {"requested": 300, "added": 290, "added_characters": 12, "added_merges": 278, "first_new_id": 4096,
       "dropped_unreachable": 7, "dropped_for_keep": 3, "learnt_bytes": 9000, "init": {"method": "mean_of_pieces",
                                                                                        "seed": 1},
       "base": {"kind": "byte-level", "tokenizer_hash": "abc123", "vocab_size": 4096},
       "learnt_from": [{"name": "hi", "documents": 10, "bytes": 6000}, {"name": "ja", "documents": 9, "bytes": 3000}],
       "keep": [{"name": "en", "documents": 5, "bytes": 100}], "examples": ["की", "です"]}


def test_model_card_has_a_vocabulary_paragraph_only_for_an_extension():
    card = render_model_card({"name": "m", "stage": "cap", "vocabulary": EXT})
    assert "## Vocabulary" in card
    para = card.split("## Vocabulary")[1].split("##")[0]
    assert "4,096 tokens, byte-level" in para and "290 tokens learnt from hi (6,000 bytes), ja (3,000 bytes)" in para
    assert "ids 4,096 to 4,385" in para and "`mean_of_pieces`" in para
    assert "## Vocabulary" not in render_model_card({"name": "m", "stage": "cap"})
    assert vocabulary_paragraph(None) == [] and vocabulary_paragraph({"added": 0}) == []


def _tables(report: dict, title: str) -> list[dict]:
    section = next(s for s in run_sections(report, {}) if s["title"] == title)
    return [b for b in section["blocks"] if b["kind"] == "table"]


def test_html_report_shows_fertility_before_and_after_and_the_stage_work():
    fert = {"hi": {"tokens_per_byte": 0.25, "tokens_per_word": 3.0}, "ja": {"tokens_per_byte": 0.2,
                                                                          "tokens_per_word": None}}
    base = {"hi": {"tokens_per_byte": 1.0, "tokens_per_word": 12.0}, "ja": {"tokens_per_byte": 0.9,
                                                                          "tokens_per_word": None}}
    report = {"tokenizer": {"kind": "extend", "vocab_size": 4386, "fertility": fert, "extension": EXT,
                            "base": {"vocab_size": 4096, "fertility": base}},
              "stages": [{"name": "cap", "tokens": 1000, "bytes": 2500, "flops": 3.1e12, "tokens_per_s": 10.0,
                          "bytes_per_s": 25.0, "steps": 2, "seconds": 100.0}]}
    record, fertility = _tables(report, "Tokenizer")
    rows = {r[0]: r[1] for r in record["rows"]}
    assert rows["added"].startswith("290 of 300 requested, ids from 4,096")
    assert rows["learnt from"] == "hi (6kB), ja (3kB)" and rows["kept unchanged"] == "en"
    assert rows["new rows"] == "mean_of_pieces" and rows["dropped"] == "7 unreachable, 3 for keep texts"
    hi, ja = fertility["rows"]
    assert hi[:3] == ["hi", "1.000", "0.250"] and hi[3]["text"] == "4.00x" and hi[3]["tone"] == "better"
    assert ja[3]["text"] == "4.50x" and ja[4] == ja[5] == "–"
    stages = _tables(report, "Overview")[1]
    assert stages["head"][:4] == ["stage", "tokens", "bytes of text", "training FLOPs"]
    assert stages["rows"][0][:4] == ["cap", "1k", "2.5k", "3.1e+12"] and stages["rows"][0][-1] == "25"
    # a run without an extension (or made before these numbers existed) keeps the one-column table
    plain = {"tokenizer": {"kind": "train-bpe", "vocab_size": 400, "fertility": fert},
             "stages": [{"name": "base", "tokens": 1000}]}
    (table,) = _tables(plain, "Tokenizer")
    assert table["head"] == ["domain", "tokens per byte", "tokens per word"]
    assert _tables(plain, "Overview")[1]["rows"][0][2:4] == ["–", "–"]


# ---- a run that extends its base, to the report ----


def _base(tmp_path: Path) -> Path:
    rng = random.Random(5)
    path = tmp_path / "base"
    train_bpe([make_doc(d, rng) for d in ("en", "code") for _ in range(60)], 400, path)
    tok = load_tokenizer(path)
    model = build_model(ModelConfig(n_embd=32, n_layer=1, n_head=2, n_positions=64), vocab_size=len(tok),
                        eos_id=tok.eos_token_id, seed=0)
    model.save_pretrained(path)
    return path


def test_extended_run_reports_fertility_record_bytes_and_flops(tiny_corpus, tmp_path, capsys):
    base, run = _base(tmp_path), tmp_path / "run"
    args = ["run", "micro", "--base", str(base), "--quiet", "--run-dir", str(run), "--set", f"demo_dir={tiny_corpus}",
            "--set", "tokenizer.kind=extend", "--set", "tokenizer.add=60", "--set", "tokenizer.train_sources=[hi,ja]",
            "--set", "tokenizer.keep=[en,code]", "--set", "stages.cap.tokens=1024", "--set", "stages.cat.tokens=512"]
    assert main(args) == 0, capsys.readouterr().err
    report = read_json(run / "report.json")
    tok = report["tokenizer"]
    assert tok["kind"] == "extend" and tok["vocab_size"] == 460 and tok["base"]["vocab_size"] == 400
    ext = tok["extension"]
    assert ext["added"] == 60 and ext["first_new_id"] == 400 and [u["name"] for u in ext["learnt_from"]] == ["hi", "ja"]
    assert [u["name"] for u in ext["keep"]] == ["en", "code"] and ext["init"]["method"] == "mean_of_pieces"
    after, before = tok["fertility"], tok["base"]["fertility"]
    for d in ("hi", "ja"):
        assert after[d]["tokens_per_byte"] < before[d]["tokens_per_byte"]
        assert after[d]["bytes"] == before[d]["bytes"]  # the same held-out text
    for d in ("en", "code"):  # kept: the same ids, so the same counts
        assert after[d]["tokens"] == before[d]["tokens"]
    assert after["ja"]["tokens_per_word"] is None

    model = load_base(base)[0]
    old = flops_per_token(model, 64)
    apply_extension(model, run / "tokenizer" / "hf")
    fpt = flops_per_token(model, 64)
    assert fpt == old + 6 * 60 * 32
    shards = {d.name: read_json(d / "step.json") for d in (run / "shards").iterdir() if d.is_dir()}
    trained = [s for s in report["stages"] if s.get("mixture")]
    assert [s["name"] for s in trained] == ["cap", "cat"]
    for st in trained:
        assert st["flops_per_token"] == fpt and st["flops"] == fpt * st["tokens"]
        for name, u in st["mixture"].items():
            rec = shards[name]
            assert u["bytes"] == round(u["tokens"] * rec["bytes"] / rec["tokens"])
        assert st["bytes"] == sum(u["bytes"] for u in st["mixture"].values())
        # the same training seconds as tokens_per_s (both rounded to 0.1)
        assert st["bytes_per_s"] == pytest.approx(st["tokens_per_s"] * st["bytes"] / st["tokens"], rel=1e-3, abs=0.2)
        card = (run / "stages" / st["name"] / "hf" / "README.md").read_text(encoding="utf-8")
        assert "## Vocabulary" in card and "extended with 60 tokens learnt from hi" in card
    html = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Vocabulary extension" in html and "tokens/byte base" in html and "bytes of text" in html
    prov = read_json(run / "provenance.json")["vocabulary"]
    assert prov["add"] == 60 and prov["train_sources"] == ["hi", "ja"] and prov["keep"] == ["en", "code"]
    assert prov["record"] == "tokenizer/hf/extension.json"
    assert prov["base_tokenizer_hash"] == ext["base"]["tokenizer_hash"]
