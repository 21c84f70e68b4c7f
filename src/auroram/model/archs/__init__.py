"""The model architectures a recipe can train from scratch: one file each, registered in `ARCHS`.

An entry holds everything the toolkit needs to know about an architecture: the HF config built from a
recipe's `model:` section, the HF `model_type`s it covers, where the repeated blocks are (FSDP2 and
compile wrap them), and the planner's shape and per-architecture numbers. Building, parallelising and
planning read this table; none of them names an architecture. Nothing here imports torch or
transformers when the package loads, so recipe validation and `auroram plan` stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from auroram.errors import AuroramError

if TYPE_CHECKING:
    import transformers

    from auroram.config import ModelConfig


class ArchError(AuroramError, ValueError):
    """An unknown architecture name, or an HF config that does not describe a model of its architecture."""


@dataclass(frozen=True)
class Shape:
    arch: str  # a registered architecture (parameter layout and MLP kind)
    vocab: int
    width: int
    layers: int
    heads: int
    kv_width: int  # width of K (and of V): h for MHA, one head for multi-query
    mlp_width: int
    positions: int  # learned position table rows (0 for rotary)
    tied: bool  # LM head shares the token embedding
    dropout: bool
    qkv_bias: bool
    out_bias: bool
    mlp_bias: bool
    source: str  # where the shape came from: "recipe.model", a config.json path, or "known base NAME"


@dataclass(frozen=True)
class Arch:
    name: str  # the value of `model.arch` in a recipe
    model_types: tuple[str, ...]  # HF config.json model_types planned and sharded as this architecture
    blocks: str  # attribute path from the causal LM to the ModuleList of its repeated blocks
    hf_config: Callable[[ModelConfig, int, int], transformers.PretrainedConfig]  # (model, vocab_size, eos_id)
    shape_from_hf: Callable[[dict[str, Any], str], Shape]  # (a config.json as a dict, where it came from)
    shape_from_model: Callable[[ModelConfig, int, str], Shape]  # (model, vocab_size, source): what hf_config builds
    mlp_matrices: int  # 2 for a GELU MLP (up, down), 3 for SwiGLU (gate, up, down)
    mlp_saved: int  # MLP tensors kept for backward, in MLP widths: GELU 2 (in, out), SwiGLU 4 (gate, up, act, product)
    norm_params: int  # parameters per unit of width in one norm: LayerNorm 2 (weight, bias), RMSNorm 1


ARCHS: dict[str, Arch] = {}


def register(arch: Arch) -> Arch:
    # a second entry for a name or model_type would silently shadow the first
    if arch.name in ARCHS:
        raise ValueError(f"architecture '{arch.name}' is already registered")
    for other in ARCHS.values():
        if taken := sorted(set(arch.model_types) & set(other.model_types)):
            raise ValueError(f"architecture '{arch.name}': model_type {taken} already belongs to '{other.name}'")
    ARCHS[arch.name] = arch
    return arch


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise ArchError(f"unknown architecture '{name}' (known: {', '.join(sorted(ARCHS))})")
    return ARCHS[name]


def arch_for_model_type(model_type: Any) -> Arch | None:
    return next((a for a in ARCHS.values() if model_type in a.model_types), None)


def known_model_types() -> list[str]:
    return sorted(t for a in ARCHS.values() for t in a.model_types)


def positive_int(cfg: dict[str, Any], key: str, source: str) -> int:
    v = cfg.get(key)
    if not isinstance(v, int) or v <= 0:
        raise ArchError(f"{source}: key '{key}': expected a positive integer, got {v!r}")
    return v


def swiglu_width(n_embd: int) -> int:
    # SwiGLU has three matrices, so 2/3 of a 4x MLP keeps the parameter count; rounded up to a multiple of 32
    width = (8 * n_embd) // 3
    return -(-width // 32) * 32


# imported last: each file registers itself with the names defined above
from auroram.model.archs import gpt_bigcode, llama, qwen2  # noqa: E402, F401
