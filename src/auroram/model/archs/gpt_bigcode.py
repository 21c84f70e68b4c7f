"""GPTBigCode, StarCoder's architecture: learned positions, multi-query attention, a GELU MLP, LayerNorm,
biases everywhere and a head tied to the token embedding. GPT-2 checkpoints have the same layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auroram.model.archs import Arch, Shape, positive_int, register

if TYPE_CHECKING:
    import transformers

    from auroram.config import ModelConfig


def hf_config(m: ModelConfig, vocab_size: int, eos_id: int) -> transformers.PretrainedConfig:
    from transformers import GPTBigCodeConfig

    return GPTBigCodeConfig(
        vocab_size=vocab_size,
        n_positions=m.n_positions,
        n_embd=m.n_embd,
        n_layer=m.n_layer,
        n_head=m.n_head,
        multi_query=m.multi_query,
        resid_pdrop=m.dropout,
        embd_pdrop=m.dropout,
        attn_pdrop=m.dropout,
        initializer_range=m.init_std,
        bos_token_id=eos_id,  # StarCoder style: one <|endoftext|> both starts and ends documents
        eos_token_id=eos_id,
        attn_implementation="sdpa",
    )


def shape_from_hf(cfg: dict[str, Any], source: str) -> Shape:
    h, heads = positive_int(cfg, "n_embd", source), positive_int(cfg, "n_head", source)
    # GPT-2 has no multi_query key and always full multi-head attention
    mq = bool(cfg.get("multi_query", True)) if cfg.get("model_type") == "gpt_bigcode" else False
    drop = any(float(cfg.get(k) or 0) > 0 for k in ("attn_pdrop", "resid_pdrop", "embd_pdrop"))
    return Shape("gpt_bigcode", positive_int(cfg, "vocab_size", source), h, positive_int(cfg, "n_layer", source),
                 heads, h // heads if mq else h, cfg.get("n_inner") or 4 * h, positive_int(cfg, "n_positions", source),
                 bool(cfg.get("tie_word_embeddings", True)), drop, True, True, True, source)


def shape_from_model(m: ModelConfig, vocab_size: int, source: str) -> Shape:
    h = m.n_embd
    return Shape("gpt_bigcode", vocab_size, h, m.n_layer, m.n_head, h // m.n_head if m.multi_query else h, 4 * h,
                 m.n_positions, True, m.dropout > 0, True, True, True, source)


register(Arch(
    name="gpt_bigcode",
    model_types=("gpt_bigcode", "gpt2"),
    blocks="transformer.h",
    hf_config=hf_config,
    shape_from_hf=shape_from_hf,
    shape_from_model=shape_from_model,
    mlp_matrices=2,
    mlp_saved=2,
    norm_params=2,
))
