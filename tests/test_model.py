import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from auroram.config import ModelConfig
from auroram.model.build import BaseModelError, build_model, count_params, flops_per_token, load_base
from auroram.model.export import export_hf, load_exported, render_model_card

EOS = "<|endoftext|>"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Tervetuloa maailmaan, tämä on suomea.",
    "नमस्ते दुनिया, यह हिंदी है।",
    "こんにちは世界、これは日本語です。",
    "Xin chào thế giới, đây là tiếng Việt.",
    "def add(x, y):\n    return x + y\n",
]


def make_tokenizer(eos: bool = True) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TEXTS * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS if eos else None)


def tiny_cfg(arch: str = "gpt_bigcode", **kw) -> ModelConfig:
    return ModelConfig(arch=arch, n_embd=32, n_layer=2, n_head=4, n_positions=64, **kw)


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def tiny_model(tokenizer, arch: str = "gpt_bigcode", seed: int = 0, vocab_size: int | None = None):
    return build_model(
        tiny_cfg(arch), vocab_size=vocab_size or len(tokenizer), eos_id=tokenizer.eos_token_id, seed=seed
    )


def save_base(path: Path, model, tokenizer) -> Path:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


CARD = {
    "name": "auroram-tiny-cap",
    "base": "auroram-tiny-base",
    "stage": "cap",
    "recipe": "tiny",
    "languages": ["en", "fi", "hi", "ja", "vi", "code"],
    "training": {"tokens": 409600, "steps": 100, "lr": 3e-4, "schedule": "cosine", "warmup_steps": 10},
    "mixture": {"web_fi": {"weight": 0.4, "tokens": 163840, "epochs": 1.5}, "code": {"weight": 0.6, "tokens": 245760, "epochs": 0.8}},
    "eval": {"en": {"bpb": 2.3456}, "fi": {"bpb": 2.75}, "code": {"bpb": 1.9}},
    "license": "apache-2.0",
    "data_sources": ["libreoffice-help-fi 7.4 (MPL-2.0)", "python3.11 stdlib (PSF)"],
}


# ---- build ----


@pytest.mark.parametrize("arch", ["gpt_bigcode", "llama"])
def test_build_model_is_deterministic_per_seed(tokenizer, arch):
    before = torch.random.get_rng_state()
    a = tiny_model(tokenizer, arch, seed=3)
    b = tiny_model(tokenizer, arch, seed=3)
    c = tiny_model(tokenizer, arch, seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is left alone
    assert a.config.model_type == arch
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.get_input_embeddings().weight.shape == (len(tokenizer), 32)
    assert a.config.eos_token_id == tokenizer.eos_token_id


def test_llama_shape(tokenizer):
    m = build_model(tiny_cfg("llama", multi_query=True), vocab_size=len(tokenizer), eos_id=0, seed=0)
    assert m.config.num_key_value_heads == 1
    assert m.config.max_position_embeddings == 64
    assert m.get_output_embeddings().weight is not m.get_input_embeddings().weight
    m = build_model(tiny_cfg("llama", multi_query=False), vocab_size=len(tokenizer), eos_id=0, seed=0)
    assert m.config.num_key_value_heads == 4


def test_flops_per_token_matches_hand_count():
    m = build_model(tiny_cfg("gpt_bigcode"), vocab_size=300, eos_id=0, seed=0)
    d, L, V, T, hd = 32, 2, 300, 64, 8
    # per block: ln_1, c_attn (q + one shared k,v head), c_proj, ln_2, mlp c_fc, mlp c_proj
    block = 2 * d + (d * (d + 2 * hd) + d + 2 * hd) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    body = L * block + 2 * d  # + final layer norm
    head = V * d  # tied to the token embedding, counted once as head
    assert count_params(m) == {"total": body + V * d + T * d, "embedding": V * d + T * d, "non_embedding": body, "head": head}
    assert flops_per_token(m, T) == 6 * body + 6 * head + 12 * L * d * T


def test_flops_per_token_untied_head_counted_once():
    m = build_model(tiny_cfg("llama"), vocab_size=300, eos_id=0, seed=0)
    c = count_params(m)
    body = c["non_embedding"] - c["head"]  # an untied head sits in non_embedding
    assert flops_per_token(m, 64) == 6 * body + 6 * 300 * 32 + 12 * 2 * 32 * 64


# ---- export ----


@pytest.mark.parametrize("arch", ["gpt_bigcode", "llama"])
def test_exported_model_reloads_with_identical_logits_and_generates(tmp_path, tokenizer, arch):
    model = tiny_model(tokenizer, arch, seed=1)
    out = export_hf(model, tokenizer, tmp_path / "hf", card=CARD)
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "README.md"} <= files
    assert "tokenizer.json" in files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left beside it

    loaded = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = tok("def add(x, y): Tervetuloa", return_tensors="pt").input_ids
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits, atol=1e-6, rtol=0)
    gen = loaded.generate(ids, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert gen.shape[1] == ids.shape[1] + 5
    assert isinstance(tok.decode(gen[0]), str)


def test_export_unwraps_compile_and_keeps_caller_model(tmp_path, tokenizer):
    model = tiny_model(tokenizer, seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = export_hf(torch.compile(model), tokenizer, tmp_path / "hf", card=CARD)
    m2, _ = load_exported(out)
    assert set(m2.state_dict()) == set(model.state_dict())  # no "_orig_mod." prefixes
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    manifest = json.loads((out / "auroram-manifest.json").read_text())
    assert "model.safetensors" in manifest["files"]


def test_export_leaves_nothing_when_saving_fails(tmp_path, tokenizer, monkeypatch):
    model = tiny_model(tokenizer)

    def boom(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_hf(model, tokenizer, tmp_path / "hf", card=CARD)
    assert not (tmp_path / "hf").exists()
    assert list(tmp_path.iterdir()) == []


def test_model_card_has_front_matter_and_tables():
    text = render_model_card({**CARD, "arch": "gpt_bigcode"})
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "no YAML front matter"
    front = yaml.safe_load(m.group(1))
    assert front["license"] == "apache-2.0"
    assert front["language"] == ["en", "fi", "hi", "ja", "vi"]
    assert {"auroram", "continual-pretraining", "gpt_bigcode"} <= set(front["tags"])
    assert front["library_name"] == "transformers"
    assert "| domain | bits per byte |" in text
    assert "| en | 2.3456 |" in text and "| fi | 2.7500 |" in text
    assert "| web_fi | 0.4 | 163,840 | 1.5 |" in text
    assert "Stage: `cap`. Tokens: 409,600. Steps: 100." in text
    assert "AutoModelForCausalLM.from_pretrained" in text
    assert "## Limitations" in text
    assert "continued from `auroram-tiny-base`" in text


def test_model_card_header_is_hub_metadata_with_a_model_index():
    from huggingface_hub import ModelCard

    from auroram.model.export import hub_id

    base = hub_id("/data/hf/hub/models--bigcode--starcoderplus/snapshots/0123abc")
    assert base == "bigcode/starcoderplus" and hub_id("/models/my-base") == "my-base"
    tasks = [{"task_type": "multiple-choice", "task_name": "Multiple choice", "dataset_type": "auroram-mc-fi",
              "dataset_name": "multiple choice (fi)", "metrics": {"acc": 0.5, "acc_norm": 0.25}}]
    card = {**CARD, "arch": "gpt_bigcode", "base_model": base, "datasets": ["libreoffice-help-fi", "python3.11"],
            "task_results": tasks}
    data = ModelCard(render_model_card(card)).data
    assert data.base_model == "bigcode/starcoderplus" and data.datasets == ["libreoffice-help-fi", "python3.11"]
    assert data.language == ["en", "fi", "hi", "ja", "vi"] and data.license == "apache-2.0"
    assert data.pipeline_tag == "text-generation" and data.library_name == "transformers"
    assert {"auroram", "continual-pretraining", "code"} <= set(data.tags)
    assert data.model_name == "auroram-tiny-cap"
    got = {(r.task_type, r.dataset_type, r.metric_type): r.metric_value for r in data.eval_results}
    assert got == {("text-generation", "heldout-en", "bits_per_byte"): 2.3456,
                   ("text-generation", "heldout-fi", "bits_per_byte"): 2.75,
                   ("text-generation", "heldout-code", "bits_per_byte"): 1.9,
                   ("multiple-choice", "auroram-mc-fi", "acc"): 0.5,
                   ("multiple-choice", "auroram-mc-fi", "acc_norm"): 0.25}
    assert "| Multiple choice | multiple choice (fi) | acc | 0.5000 |" in render_model_card(card)


def test_model_card_tolerates_missing_sections():
    text = render_model_card({"name": "bare", "base": "trained from scratch"})
    assert "trained from scratch" in text and "continued from" not in text
    assert text.startswith("---\n") and "# bare" in text and "Not evaluated." in text


# ---- load_base ----


def test_load_base_roundtrip(tmp_path, tokenizer):
    base = save_base(tmp_path / "base", tiny_model(tokenizer, "llama"), tokenizer)
    model, tok = load_base(base)
    assert model.dtype == torch.float32 and not model.training
    assert len(tok) == len(tokenizer) and tok.eos_token == EOS


def test_load_base_missing_dir(tmp_path):
    d = tmp_path / "nope"
    with pytest.raises(BaseModelError, match="not a directory") as e:
        load_base(d)
    assert str(d) in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BaseModelError, match="no config.json") as e:
        load_base(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value)


def test_load_base_without_tokenizer(tmp_path, tokenizer):
    d = tmp_path / "base"
    tiny_model(tokenizer).save_pretrained(d)
    with pytest.raises(BaseModelError, match=r"has no tokenizer: save one with tokenizer.save_pretrained") as e:
        load_base(d)
    assert str(d) in str(e.value) and "\n" not in str(e.value)


def test_load_base_tokenizer_larger_than_embeddings(tmp_path, tokenizer):
    d = save_base(tmp_path / "base", tiny_model(tokenizer, vocab_size=len(tokenizer) - 10), tokenizer)
    with pytest.raises(BaseModelError, match=rf"tokenizer has {len(tokenizer)} tokens .* only {len(tokenizer) - 10} rows") as e:
        load_base(d)
    assert str(d) in str(e.value)


def test_load_base_without_eos(tmp_path, tokenizer):
    no_eos = make_tokenizer(eos=False)
    d = save_base(tmp_path / "base", tiny_model(tokenizer), no_eos)
    with pytest.raises(BaseModelError, match="no EOS token") as e:
        load_base(d)
    assert str(d) in str(e.value)


def test_load_base_not_a_causal_lm(tmp_path):
    d = tmp_path / "t5"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(BaseModelError, match="unsupported model type 't5'") as e:
        load_base(d)
    assert str(d) in str(e.value)


def test_load_base_wraps_transformers_errors(tmp_path, tokenizer):
    d = save_base(tmp_path / "base", tiny_model(tokenizer), tokenizer)
    (d / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(BaseModelError, match="cannot load the model") as e:
        load_base(d)
    assert str(d) in str(e.value) and "\n" not in str(e.value)
    assert e.value.__cause__ is not None


def test_export_dtype_auto_is_the_bases_on_disk_dtype(tmp_path, tokenizer):
    from auroram.model.export import export_dtype

    base = save_base(tmp_path / "b", tiny_model(tokenizer, "llama").to(torch.bfloat16), tokenizer)
    assert export_dtype("auto", base) == "bfloat16"
    assert export_dtype("auto", None) == "float32"  # trained from scratch
    assert export_dtype("float16", base) == "float16"


def test_export_in_bf16_across_files_loads_with_the_models_bf16_logits(tmp_path, tokenizer):
    model = tiny_model(tokenizer, "llama", seed=3).eval()
    out = export_hf(model, tokenizer, tmp_path / "hf", card=CARD, dtype="bfloat16", max_file_bytes=6000)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(files) > 2 and sorted(set(index["weight_map"].values())) == files
    assert set(index["weight_map"]) == set(model.state_dict())
    assert "model.safetensors" not in files and "auroram-manifest.json" in {p.name for p in out.iterdir()}
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert loaded.dtype == torch.bfloat16
    ref = AutoModelForCausalLM.from_config(model.config, dtype=torch.bfloat16).eval()
    ref.load_state_dict({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
    ids = torch.randint(0, len(tokenizer), (2, 10))
    with torch.no_grad():
        assert torch.equal(ref(ids).logits, loaded(ids).logits)
    assert "The weights are stored in bfloat16" in (out / "README.md").read_text()
