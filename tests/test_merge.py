"""`auroram merge`: interpolation between two stages' weights. Alpha 0 and 1 give the two models back exactly, a
grown vocabulary keeps the continued model's new rows, any other shape difference is a one-line error naming
the tensor, and on a micro run the curve, the choice under a budget and the export with its card."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from auroram.cli import main
from auroram.config import ModelConfig, load_recipe
from auroram.io import read_json
from auroram.mix.merge import MergeError, interpolate_into, parse_alphas, plan_merge
from auroram.model.build import build_model


def _save(path: Path, *, vocab: int = 300, n_embd: int = 32, seed: int = 0) -> torch.nn.Module:
    m = build_model(ModelConfig(n_embd=n_embd, n_layer=2, n_head=2, n_positions=64), vocab_size=vocab, eos_id=0,
                    seed=seed).eval()
    m.save_pretrained(path)
    return m


def _logits(m: torch.nn.Module, vocab: int = 300) -> torch.Tensor:
    ids = torch.arange(40).remainder(vocab)[None, :]
    with torch.no_grad():
        return m(ids).logits


def test_alpha_0_and_1_give_back_the_two_models_exactly(tmp_path):
    other, stage = _save(tmp_path / "base", seed=1), _save(tmp_path / "cap", seed=2)
    want_other, want_stage = _logits(other), _logits(stage)
    model = _save(tmp_path / "scratch", seed=3)
    assert interpolate_into(model, tmp_path / "cap", tmp_path / "base", 0.0) > 0
    assert torch.equal(_logits(model), want_other)
    interpolate_into(model, tmp_path / "cap", tmp_path / "base", 1.0)
    assert torch.equal(_logits(model), want_stage)
    interpolate_into(model, tmp_path / "cap", tmp_path / "base", 0.25)
    name = "transformer.h.0.mlp.c_fc.weight"
    mixed = 0.75 * other.state_dict()[name] + 0.25 * stage.state_dict()[name]
    assert torch.allclose(model.state_dict()[name], mixed, atol=1e-7)
    assert not torch.equal(_logits(model), want_other) and not torch.equal(_logits(model), want_stage)


def test_a_grown_vocabulary_keeps_the_continued_models_new_rows(tmp_path):
    other, stage = _save(tmp_path / "base", vocab=300, seed=1), _save(tmp_path / "cap", vocab=310, seed=2)
    model = _save(tmp_path / "scratch", vocab=310, seed=3)
    pairs = plan_merge(tmp_path / "cap", tmp_path / "base")
    assert {p.stage for p in pairs if p.extra_rows} == {"transformer.wte.weight"}  # lm_head is tied to it
    interpolate_into(model, tmp_path / "cap", tmp_path / "base", 0.5, pairs)
    got = model.get_input_embeddings().weight
    new, old = stage.get_input_embeddings().weight, other.get_input_embeddings().weight
    assert torch.equal(got[300:], new[300:])
    assert torch.allclose(got[:300], 0.5 * old + 0.5 * new[:300])
    interpolate_into(model, tmp_path / "cap", tmp_path / "base", 0.0, pairs)
    assert torch.equal(model.get_input_embeddings().weight[:300], old)


def test_other_shape_differences_are_one_line_errors_naming_the_tensor(tmp_path):
    _save(tmp_path / "base", n_embd=32)
    _save(tmp_path / "cap", n_embd=48)
    with pytest.raises(MergeError) as e:
        plan_merge(tmp_path / "cap", tmp_path / "base")
    assert "tensor 'transformer." in str(e.value) and "cannot be interpolated" in str(e.value)
    assert "\n" not in str(e.value)
    _save(tmp_path / "small", vocab=300)
    _save(tmp_path / "smaller", vocab=290)
    with pytest.raises(MergeError, match="tensor 'transformer.wte.weight': shape \\[290, 32\\]"):
        plan_merge(tmp_path / "smaller", tmp_path / "small")  # the continued model may not lose rows


def test_alphas_parse():
    assert parse_alphas("0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_alphas("1,0.5,0.5") == [0.5, 1.0]
    for bad in ("a,b", "0,1.5", "0:1:1", ""):
        with pytest.raises(MergeError):
            parse_alphas(bad)


@pytest.fixture(scope="module")
def micro_run(tiny_corpus, tmp_path_factory):
    from auroram.pipeline import run_recipe

    run_dir = tmp_path_factory.mktemp("mergerun") / "micro"
    run_recipe(load_recipe("micro", [f"demo_dir={tiny_corpus}", "safety.eval_stages=[]", "eval.tasks=[]"]), run_dir,
               quiet=True, until="cap")
    return run_dir


def test_merge_a_micro_run_under_a_budget(micro_run, tmp_path, capsys):
    out = tmp_path / "merged"
    base, cap = (read_json(micro_run / "stages" / s / "result.json")["eval"] for s in ("base", "cap"))
    # a budget the CAP model itself breaks on code, with room for part of the way
    limit = max(0.5 * (cap["code"]["bpb"] / base["code"]["bpb"] - 1), 0.0)
    budget = f"code<={100 * limit:+.4f}%"
    assert main(["merge", str(micro_run), "--stage", "cap", "--with", "base", "--alphas", "0:1:5", "--budget", budget,
                 "--out", str(out), "--quiet"]) == 0
    m = read_json(out / "merge.json")
    rows = {r["alpha"]: r for r in m["alphas"]}
    assert set(rows) == {0.0, 0.25, 0.5, 0.75, 1.0}
    for d in m["domains"]:  # the two ends are the two stages, as the run measured them
        assert rows[0.0]["bpb"][d] == pytest.approx(base[d]["bpb"], rel=1e-4)
        assert rows[1.0]["bpb"][d] == pytest.approx(cap[d]["bpb"], rel=1e-4)
    best = m["best_alpha"]
    assert rows[best]["within"] and all(r["objective"] >= rows[best]["objective"] for r in rows.values() if r["within"])
    assert (out / "report" / "index.html").is_file() and list((out / "report").glob("*.png"))
    card = (out / "hf" / "README.md").read_text()
    assert f"merge_alpha | {best:g}" in card or f"merge_alpha | {best}" in card
    from auroram.model.build import load_base

    model, _ = load_base(out / "hf")
    assert model.config.vocab_size > 0

    assert main(["merge", str(micro_run), "--stage", "cap", "--with", "base", "--alphas", "0.5,1",
                 "--budget", "en<=-90%", "--out", str(tmp_path / "none"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no alpha meets the budget en<=-90%" in err[0] and "the closest is alpha" in err[0]
    assert not (tmp_path / "none" / "hf").exists()
