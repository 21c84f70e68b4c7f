"""The models the toolkit trains: a fresh one from a ModelConfig, or any local HF causal-LM directory.

Also the two numbers the trainer and the report need from a model: its parameter counts and its
training FLOPs per token.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from auroram.config import ModelConfig
from auroram.errors import AuroramError
from auroram.model.archs import get_arch
from auroram.typedconfig import ConfigError
from auroram.tokenize.bpe import refuse_remote_code


class BaseModelError(AuroramError, ValueError):
    """A base model directory cannot be used; the one-line message names the directory and the problem."""


class ModelTooLargeError(ConfigError):
    """The recipe's model would not fit in this machine's memory; the message names the keys that size it."""


# files any of which means the directory holds a saved tokenizer (fast, BPE, SentencePiece, WordPiece)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt")


# ----------------------------------------------------------------------------------------------------
# A fresh model.


def build_model(cfg: ModelConfig, *, vocab_size: int, eos_id: int, seed: int, device: Any = "cpu",
                shards: int = 1, meta: bool = False) -> transformers.PreTrainedModel:
    """`device` and `shards` (FSDP2 ranks): where it will train, checked to fit before anything is allocated.
    `meta`: parameters on the meta device (no memory, no init), to be sharded and filled from a checkpoint."""
    if cfg.n_embd % cfg.n_head:
        raise ValueError(f"model.n_embd ({cfg.n_embd}) must be divisible by model.n_head ({cfg.n_head})")
    if not 0 <= eos_id < vocab_size:
        raise ValueError(f"eos_id {eos_id} is outside the vocabulary (size {vocab_size})")
    check_fits(cfg, vocab_size=vocab_size, eos_id=eos_id, device=device, shards=shards)
    hf_cfg = get_arch(cfg.arch).hf_config(cfg, vocab_size, eos_id)
    if meta:
        from auroram.model.load import meta_model

        model = meta_model(hf_cfg)
        model.generation_config.pad_token_id = eos_id
        return model
    # built on CPU with a private RNG so a seed gives the same weights on any machine and leaves the caller's RNG alone
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.random.default_generator.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(hf_cfg, dtype=torch.float32)
    # generate() pads finished rows; EOS is the only special token a fresh model has
    model.generation_config.pad_token_id = eos_id
    return model


# fp32 weights, gradients and AdamW's two moments; bf16 autocast keeps fp32 master weights, so the same
TRAIN_BYTES_PER_PARAM = 16


def estimate_params(cfg: ModelConfig, *, vocab_size: int, eos_id: int) -> int:
    """Parameters of build_model's model, without building it: one- and two-layer models on the meta device
    (no memory) give the fixed and the per-layer counts, exact for every registered architecture."""
    arch = get_arch(cfg.arch)
    counts = []
    with torch.random.fork_rng(devices=[]):
        for layers in (1, 2):
            hf_cfg = arch.hf_config(dataclasses.replace(cfg, n_layer=layers), vocab_size, eos_id)
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(hf_cfg, dtype=torch.float32)
            counts.append(sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()))
    return counts[0] + (cfg.n_layer - 1) * (counts[1] - counts[0])


def available_memory(device: Any = "cpu") -> tuple[int, str] | None:
    """(bytes, what) a model may use on `device`: a GPU's total memory, or the RAM available now
    (MemAvailable, lowered by a cgroup limit); None when it cannot be told."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(dev.index if dev.index is not None else torch.cuda.current_device())
        return int(props.total_memory), f"the GPU ({props.name})"
    if dev.type != "cpu":
        return None
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if avail is None and hasattr(os, "sysconf"):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return None
    try:  # a container's limit is lower than what the host reports
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used) if avail is not None else int(limit) - used
    except (OSError, ValueError):
        pass
    return (avail, "this machine's available RAM") if avail is not None else None


def check_fits(cfg: ModelConfig, *, vocab_size: int, eos_id: int, device: Any = "cpu", shards: int = 1) -> None:
    """Raise ModelTooLargeError when the model cannot be built (fp32 weights in RAM) or trained (weights, grads
    and AdamW on `device`, divided over `shards`): a lower bound, so a model it lets through may still not fit."""
    params = estimate_params(cfg, vocab_size=vocab_size, eos_id=eos_id)
    state = "fp32 weights, gradients and AdamW moments"
    on_cpu = torch.device(device).type == "cpu"
    # every model is first built on the CPU in fp32; training then needs the whole state where it runs
    needs = [("cpu", params * (TRAIN_BYTES_PER_PARAM if on_cpu else 4), state if on_cpu else "fp32 weights")]
    if not on_cpu:
        needs.append((device, params * TRAIN_BYTES_PER_PARAM // max(shards, 1),
                      state + (f" over {shards} shards" if shards > 1 else "")))
    for dev, need, what in needs:
        have = available_memory(dev)
        if have is not None and need > have[0]:
            raise ModelTooLargeError(
                f"model.n_layer={cfg.n_layer:,}, model.n_embd={cfg.n_embd:,}, tokenizer.vocab_size={vocab_size:,}: "
                f"{_si(params)} parameters need at least {_si(need)}B for {what}, but {have[1]} is "
                f"{_si(have[0])}B; make the model smaller"
            )


def _si(n: float) -> str:
    for scale, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if n >= scale:
            return f"{n / scale:.1f}{prefix}"
    return f"{n:.0f} "


# ----------------------------------------------------------------------------------------------------
# A base model from a local directory.


def load_base(path: str | Path, dtype: torch.dtype = torch.float32
              ) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """(model in `dtype`, tokenizer) of a local HF directory, checked before the weights load."""
    d, config, tokenizer = open_base(path)
    where = str(d)
    model = _wrap(
        where,
        "model",
        lambda: AutoModelForCausalLM.from_pretrained(d, config=config, dtype=dtype, local_files_only=True,
                                                     trust_remote_code=False),
    )
    check_model_tokenizer(model, tokenizer, where)
    model.eval()
    return model, tokenizer


def base_on_meta(path: str | Path) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """The base's model with its parameters on the meta device (to be sharded, then filled by
    model.load.load_sharded_safetensors), and its tokenizer; the same checks as load_base."""
    from auroram.model.load import meta_model

    d, config, tokenizer = open_base(path)
    model = _wrap(str(d), "model", lambda: meta_model(config))
    check_model_tokenizer(model, tokenizer, str(d))
    model.eval()
    return model, tokenizer


def open_base(path: str | Path) -> tuple[Path, Any, transformers.PreTrainedTokenizerBase]:
    """(directory, config, tokenizer) of a base, after every check that needs no weights."""
    d = Path(path).expanduser()
    where = str(d)
    if not d.is_dir():
        raise BaseModelError(f"{where}: not a directory (expected a saved Hugging Face model)")
    if not (d / "config.json").is_file():
        raise BaseModelError(f"{where}: no config.json (expected a directory written by model.save_pretrained)")
    try:
        raw = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BaseModelError(f"{where}: config.json is not readable JSON ({_first_line(e)})") from e
    refuse_remote_code(d)
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise BaseModelError(f"{where}: unsupported model type {model_type!r} (not a causal language model in transformers {transformers.__version__})")
    if not any((d / f).is_file() for f in _TOKENIZER_FILES):
        raise BaseModelError(f"{where}: has no tokenizer: save one with tokenizer.save_pretrained(DIR)")

    # local_files_only: a base is a directory on this machine; nothing may be fetched from the hub, and
    # trust_remote_code=False: no Python file shipped inside it is ever imported
    config = _wrap(where, "config", lambda: AutoConfig.from_pretrained(d, local_files_only=True,
                                                                       trust_remote_code=False))
    tokenizer = _wrap(where, "tokenizer", lambda: AutoTokenizer.from_pretrained(d, local_files_only=True,
                                                                                trust_remote_code=False))
    # checked before the weights load, so a mismatched 15B base fails in a second rather than a minute
    _check_eos(tokenizer, where)
    rows = getattr(config.get_text_config(), "vocab_size", None)
    if isinstance(rows, int):
        _check_vocab(len(tokenizer), rows, where)
    return d, config, tokenizer


def check_model_tokenizer(model: nn.Module, tokenizer: Any, where: str) -> None:
    """Raise BaseModelError unless every token id has an embedding row and there is an EOS to end documents."""
    _check_eos(tokenizer, where)
    _check_vocab(len(tokenizer), model.get_input_embeddings().weight.shape[0], where)


def _check_eos(tokenizer: Any, where: str) -> None:
    if getattr(tokenizer, "eos_token_id", None) is None:
        raise BaseModelError(
            f"{where}: the tokenizer has no EOS token to separate documents; set tokenizer.eos_token and save it again"
        )


def _check_vocab(n_tokens: int, rows: int, where: str) -> None:
    if n_tokens > rows:
        raise BaseModelError(
            f"{where}: the tokenizer has {n_tokens} tokens but the model's embedding has only {rows} rows "
            f"(resize with model.resize_token_embeddings({n_tokens}) and save again)"
        )


def _wrap(where: str, what: str, load: Any) -> Any:
    try:
        return load()
    except BaseModelError:
        raise
    except Exception as e:  # transformers raises OSError, ValueError, KeyError... with multi-page messages
        raise BaseModelError(f"{where}: cannot load the {what} ({type(e).__name__}: {_first_line(e)})") from e


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ----------------------------------------------------------------------------------------------------
# Sizes and cost.


def count_params(model: nn.Module) -> dict[str, int]:
    """{"total", "embedding", "non_embedding", "head"}: embedding = token and position tables; a tied head
    is part of "embedding" and also reported as "head"; an untied head is part of "non_embedding"."""
    params = {id(p): p for p in model.parameters()}  # a tied matrix counts once
    total = sum(p.numel() for p in params.values())
    emb_ids = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    embedding = sum(params[i].numel() for i in emb_ids if i in params)
    head_module = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = sum(p.numel() for p in head_module.parameters(recurse=False)) if head_module is not None else 0
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding, "head": head}


def flops_per_token(model: nn.Module, seq_len: int) -> float:
    # FLOPs = 6 x (non-embedding params without the LM head) + 6 x (LM-head params) + 12 x layers x width x seq_len:
    # forward+backward matmuls cost 6 per weight, and attention scores/values 12*L*d*T (Kaplan et al. 2020);
    # a tied head is counted once, as head, since its lookup side costs nothing
    counts = count_params(model)
    head_module = model.get_output_embeddings()
    head_ids = {id(p) for p in head_module.parameters(recurse=False)} if head_module is not None else set()
    emb_ids = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    tied = bool(head_ids & emb_ids)
    body = counts["non_embedding"] - (0 if tied else counts["head"])
    text_cfg = model.config.get_text_config()
    layers, width = text_cfg.num_hidden_layers, text_cfg.hidden_size
    return float(6 * body + 6 * counts["head"] + 12 * layers * width * seq_len)


def context_tokens(model: Any, default: int | None = 2048) -> int | None:
    """The model's context length in tokens from its config (GPT-2 style n_positions, Llama style
    max_position_embeddings, or n_ctx); `default` when the config names none."""
    cfg = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        if isinstance(getattr(cfg, name, None), int):
            return getattr(cfg, name)
    return default
