"""The architecture registry: every entry builds, plans and shards what it says; a new entry is accepted
by recipes with no other change; the third architecture trains through the whole micro recipe."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from auroram.config import ConfigError, ModelConfig, load_recipe
from auroram.model.archs import ARCHS, ArchError, get_arch, register
from auroram.model.build import build_model, count_params, flops_per_token
from auroram.plan import count_params as plan_count_params
from auroram.plan import flops_per_token as plan_flops_per_token
from auroram.plan import shape_from_hf_config
from auroram.train.parallel import transformer_blocks

VOCAB = 300


@pytest.mark.parametrize("multi_query", [True, False])
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_every_arch_builds_runs_and_plans_its_real_parameter_count(name, multi_query):
    arch = get_arch(name)
    cfg = ModelConfig(arch=name, n_embd=48, n_layer=2, n_head=4, n_positions=32, multi_query=multi_query)
    model = build_model(cfg, vocab_size=VOCAB, eos_id=0, seed=0)
    assert model.config.model_type in arch.model_types
    ids = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (2, 16, VOCAB) and torch.isfinite(logits).all()

    shape = arch.shape_from_model(cfg, VOCAB, "test")
    assert plan_count_params(shape)["total"] == sum(p.numel() for p in model.parameters())
    assert plan_count_params(shape) == count_params(model)
    assert plan_flops_per_token(shape, 32) == flops_per_token(model, 32)
    # the planner reads the saved config.json of what it builds back to the same shape
    assert shape_from_hf_config(model.config.to_dict(), "test") == shape
    # FSDP2 and compile wrap exactly the repeated blocks
    assert len(transformer_blocks(model)) == cfg.n_layer


@pytest.fixture
def toy_arch():
    # a test-local entry: GPTBigCode's builder under another name, removed afterwards
    toy = register(dataclasses.replace(get_arch("gpt_bigcode"), name="toy", model_types=("toy_lm",)))
    try:
        yield toy
    finally:
        ARCHS.pop("toy", None)


def test_a_registered_arch_is_accepted_and_an_unknown_one_is_a_one_line_error(toy_arch):
    assert load_recipe("micro", ["model.arch=toy"]).model.arch == "toy"
    with pytest.raises(ConfigError) as e:
        load_recipe("micro", ["model.arch=gpt5"])
    msg = str(e.value)
    assert "\n" not in msg and "key 'model.arch'" in msg and "'gpt5'" in msg
    for known in ("gpt_bigcode", "llama", "qwen2", "toy"):
        assert known in msg
    with pytest.raises(ArchError, match=r"unknown architecture 'gpt5' \(known: .*toy"):
        get_arch("gpt5")
    with pytest.raises(ValueError, match="already registered"):
        register(toy_arch)


def test_toy_arch_is_gone_after_its_test():
    assert "toy" not in ARCHS
    with pytest.raises(ConfigError, match="model.arch"):
        load_recipe("micro", ["model.arch=toy"])


@pytest.mark.slow
def test_qwen2_trains_through_the_whole_micro_recipe(tiny_corpus, tmp_path):
    from transformers import AutoModelForCausalLM

    from auroram.pipeline import run_recipe

    recipe = load_recipe("micro", [f"demo_dir={tiny_corpus}", "model.arch=qwen2"])
    report = run_recipe(recipe, tmp_path / "run", quiet=True)
    assert [s["name"] for s in report["stages"]] == ["base", "cap", "cat"]
    for s in report["stages"]:
        assert s["steps"] > 0
        assert set(s["eval"]) == {"en", "fi", "hi", "ja", "vi", "code"}
        assert all(math.isfinite(v["bpb"]) and v["bpb"] > 0 for v in s["eval"].values())
    for s in report["stages"]:
        model = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "stages" / s["name"] / "hf")
        assert model.config.model_type == "qwen2"
        with torch.no_grad():
            assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()
