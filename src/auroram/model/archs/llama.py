"""Llama: rotary positions, grouped-query attention (one K/V head when `model.multi_query`), a SwiGLU MLP,
RMSNorm, no biases and an untied head. Mistral checkpoints have the same layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auroram.model.archs import Arch, Shape, positive_int, register, swiglu_width

if TYPE_CHECKING:
    import transformers

    from auroram.config import ModelConfig


def hf_kwargs(m: ModelConfig, vocab_size: int, eos_id: int) -> dict[str, Any]:
    """The Llama-family config fields; families with the same layout (Qwen2) start from these."""
    return dict(
        vocab_size=vocab_size,
        hidden_size=m.n_embd,
        intermediate_size=swiglu_width(m.n_embd),
        num_hidden_layers=m.n_layer,
        num_attention_heads=m.n_head,
        num_key_value_heads=1 if m.multi_query else m.n_head,
        max_position_embeddings=m.n_positions,
        attention_dropout=m.dropout,
        initializer_range=m.init_std,
        rms_norm_eps=1e-5,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )


def hf_config(m: ModelConfig, vocab_size: int, eos_id: int) -> transformers.PretrainedConfig:
    from transformers import LlamaConfig

    return LlamaConfig(**hf_kwargs(m, vocab_size, eos_id))


def shape_from_hf(cfg: dict[str, Any], source: str) -> Shape:
    h, heads = positive_int(cfg, "hidden_size", source), positive_int(cfg, "num_attention_heads", source)
    head_dim = cfg.get("head_dim") or h // heads
    kv_heads = cfg.get("num_key_value_heads") or heads
    bias = bool(cfg.get("attention_bias", False))
    return Shape("llama", positive_int(cfg, "vocab_size", source), h, positive_int(cfg, "num_hidden_layers", source),
                 heads, kv_heads * head_dim, positive_int(cfg, "intermediate_size", source), 0,
                 bool(cfg.get("tie_word_embeddings", False)), float(cfg.get("attention_dropout") or 0) > 0, bias, bias,
                 bool(cfg.get("mlp_bias", False)), source)


def shape_from_model(m: ModelConfig, vocab_size: int, source: str) -> Shape:
    h = m.n_embd
    return Shape("llama", vocab_size, h, m.n_layer, m.n_head, h // m.n_head if m.multi_query else h, swiglu_width(h),
                 0, False, m.dropout > 0, False, False, False, source)


register(Arch(
    name="llama",
    model_types=("llama", "mistral"),
    blocks="model.layers",
    hf_config=hf_config,
    shape_from_hf=shape_from_hf,
    shape_from_model=shape_from_model,
    mlp_matrices=3,
    mlp_saved=4,
    norm_params=1,
))
