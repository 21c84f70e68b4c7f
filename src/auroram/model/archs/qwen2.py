"""Qwen2: the Llama layout (rotary positions, grouped-query attention, SwiGLU, RMSNorm, untied head) with
a bias on the Q, K and V projections and none on the output projection or the MLP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auroram.model.archs import Arch, Shape, positive_int, register, swiglu_width
from auroram.model.archs.llama import hf_kwargs

if TYPE_CHECKING:
    import transformers

    from auroram.config import ModelConfig


def hf_config(m: ModelConfig, vocab_size: int, eos_id: int) -> transformers.PretrainedConfig:
    from transformers import Qwen2Config

    return Qwen2Config(**{**hf_kwargs(m, vocab_size, eos_id),
                          "rms_norm_eps": 1e-6,  # Qwen2's own; Llama uses 1e-5
                          "use_sliding_window": False})  # every layer sees the whole sequence, as in the others


def shape_from_hf(cfg: dict[str, Any], source: str) -> Shape:
    h, heads = positive_int(cfg, "hidden_size", source), positive_int(cfg, "num_attention_heads", source)
    head_dim = cfg.get("head_dim") or h // heads
    kv_heads = cfg.get("num_key_value_heads") or heads
    # the Q/K/V biases are fixed by the architecture; Qwen2Config has no key for them
    return Shape("qwen2", positive_int(cfg, "vocab_size", source), h, positive_int(cfg, "num_hidden_layers", source),
                 heads, kv_heads * head_dim, positive_int(cfg, "intermediate_size", source), 0,
                 bool(cfg.get("tie_word_embeddings", False)), float(cfg.get("attention_dropout") or 0) > 0, True, False,
                 False, source)


def shape_from_model(m: ModelConfig, vocab_size: int, source: str) -> Shape:
    h = m.n_embd
    return Shape("qwen2", vocab_size, h, m.n_layer, m.n_head, h // m.n_head if m.multi_query else h, swiglu_width(h),
                 0, False, m.dropout > 0, True, False, False, source)


register(Arch(
    name="qwen2",
    model_types=("qwen2",),
    blocks="model.layers",
    hf_config=hf_config,
    shape_from_hf=shape_from_hf,
    shape_from_model=shape_from_model,
    mlp_matrices=3,
    mlp_saved=4,
    norm_params=1,
))
