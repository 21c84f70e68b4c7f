"""New embedding rows for an extended vocabulary, and which parameters a stage trains.

A new token's row starts as the mean of the rows of the pieces the old tokenizer split it into, so the
model reads a new Hindi token roughly as it read its bytes before (the usual choice for vocabulary
extension; WECHSEL and Swallow start from similar averages). With a tied head the same row is also the
token's output: a trained base's hidden states point away from the direction its rows share (the drift
that carries rare tokens' rows along it), so `scaled_mean` starts the new tokens below the mean logit in
every context and they take little probability from the base's languages before they are trained. Old rows
stay bit-identical. Everything here runs on one process on the full model, before it is sharded.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from auroram.errors import AuroramError

METHODS = ("mean_of_pieces", "random", "mean", "scaled_mean")
TRAINABLE = ("all", "embeddings", "new_embeddings")
# set on the input embedding module: rows from here on are the extension's (read by set_trainable)
FIRST_NEW_ROW = "auroram_first_new_row"


class EmbeddingError(AuroramError, ValueError):
    """The embeddings cannot be extended or trained as asked; names the method or setting."""


def _backend(tok: Any) -> Any:
    """The `tokenizers.Tokenizer` behind an HF tokenizer (or the tokenizer itself)."""
    return getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None) or tok


def _size(tok: Any) -> int:
    b = _backend(tok)
    return b.get_vocab_size(with_added_tokens=True) if hasattr(b, "get_vocab_size") else len(tok)


def piece_ids(old_tokenizer: Any, new_tokenizer: Any, new_ids: list[int]) -> list[list[int]]:
    """For each new id, the old ids its string splits into: the old BPE model run on the token as the model
    spells it (byte-level characters, or ▁ and characters), so a token that is part of a UTF-8 character
    still gets its bytes' pieces."""
    old_model, new_b = _backend(old_tokenizer).model, _backend(new_tokenizer)
    out = []
    for i in new_ids:
        token = new_b.id_to_token(i)
        pieces = [t.id for t in old_model.tokenize(token)] if token is not None else []
        out.append(pieces)
    return out


def _new_rows(weight: torch.Tensor, old_rows: int, ids: list[int], pieces: list[list[int]], method: str,
              std: float, generator: torch.Generator, scale: float) -> torch.Tensor:
    old = weight[:old_rows].detach().float()
    if method in ("mean", "scaled_mean"):
        # mean: each new logit starts at the mean old logit (Hewitt 2021); scaled: `scale` times it, lower where
        # the hidden states point away from the rows' common direction (measured on the demo base)
        row = old.mean(0) * (scale if method == "scaled_mean" else 1.0)
        return row.expand(len(ids), -1).to(weight.dtype)
    if method == "random":
        return (torch.randn(len(ids), weight.shape[1], generator=generator) * std).to(weight.dtype)
    mean = old.mean(0)
    rows = [old[p].mean(0) if p else mean for p in pieces]  # a token with no old pieces: the mean of all
    return torch.stack(rows).to(weight.dtype)


def extend_embeddings(model: Any, old_tokenizer: Any, new_tokenizer: Any, method: str = "mean_of_pieces",
                      *, seed: int = 0, first_new_id: int | None = None, scale: float = 3.0) -> dict[str, Any]:
    """Resize the input embeddings and output head (once when tied) to the new tokenizer and initialise the
    rows of its new ids: `mean_of_pieces` (default), `random` (normal at the std of the existing rows, else
    config.initializer_range), `mean` (of all old rows) or `scaled_mean` (`scale` times that mean). Rows of
    old ids are left bit-identical. Returns what was done, for the stage's record."""
    if method not in METHODS:
        raise EmbeddingError(f"embedding init '{method}' is unknown (choose one of {', '.join(METHODS)})")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise EmbeddingError(f"embedding init scale must be a positive number, got {scale!r}")
    old_n, new_n = _size(old_tokenizer), _size(new_tokenizer)
    first = old_n if first_new_id is None else first_new_id
    if new_n <= first:
        raise EmbeddingError(f"the new tokenizer has {new_n} tokens, no more than the old one's {first}")
    inp = model.get_input_embeddings()
    rows_before = inp.weight.shape[0]
    if rows_before < first:
        raise EmbeddingError(f"the model has {rows_before} embedding rows but the old tokenizer has {first} tokens")
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is inp.weight
    ids = list(range(first, new_n))
    if inp.weight.is_meta:  # a model built on meta to be sharded, then filled from weights of this shape
        if new_n > rows_before:
            model.resize_token_embeddings(new_n, mean_resizing=False)
        setattr(model.get_input_embeddings(), FIRST_NEW_ROW, first)
        return {"method": "none (meta: the values are loaded)", "rows_before": rows_before,
                "rows": max(new_n, rows_before), "first_new_id": first, "new_rows": len(ids), "tied": tied,
                "seed": seed}
    pieces = piece_ids(old_tokenizer, new_tokenizer, ids) if method == "mean_of_pieces" else [[] for _ in ids]
    generator = torch.Generator().manual_seed(seed)
    init_range = float(getattr(getattr(model, "config", None), "initializer_range", 0.02) or 0.02)

    def fill(weight: torch.Tensor) -> None:
        old = weight[:first].detach().float()
        std = float(old.std()) if old.numel() > 1 and float(old.std()) > 0 else init_range
        with torch.no_grad():
            weight[first:new_n] = _new_rows(weight, first, ids, pieces, method, std, generator, scale)

    if new_n > rows_before:  # padding rows already there are reused: only their values change
        old_out = None if tied or out is None else out.weight.detach().clone()
        model.resize_token_embeddings(new_n, mean_resizing=False)
        inp = model.get_input_embeddings()
        out = model.get_output_embeddings()
        if old_out is not None and out is not None and not torch.equal(out.weight[: old_out.shape[0]], old_out):
            raise EmbeddingError("resizing changed the output head's old rows")  # never expected; never hidden
    fill(inp.weight)
    if out is not None and out.weight is not inp.weight:
        fill(out.weight)
    setattr(inp, FIRST_NEW_ROW, first)
    return {"method": method, "rows_before": rows_before, "rows": inp.weight.shape[0], "first_new_id": first,
            "new_rows": len(ids), "tied": tied, "seed": seed, **({"scale": scale} if method == "scaled_mean" else {})}


def apply_extension(model: Any, tokenizer_dir: str | os.PathLike, method: str | None = None,
                    seed: int | None = None, scale: float | None = None) -> dict[str, Any]:
    """extend_embeddings for a tokenizer made by `auroram vocab extend` or a recipe's `tokenizer.kind: extend`:
    the old tokenizer is rebuilt from the extended one (extension.json says where the base ends), and the
    method, seed and scale default to the ones recorded there. Call it on the base model as loaded, before the
    previous stage's weights are loaded into it and before it is wrapped for DDP/FSDP."""
    from auroram.tokenize.bpe import load_tokenizer
    from auroram.tokenize.extend import base_of, read_extension

    rec = read_extension(tokenizer_dir)
    init = rec.get("init") or {}
    return extend_embeddings(model, base_of(tokenizer_dir), load_tokenizer(Path(tokenizer_dir)),
                             method or init.get("method", "mean_of_pieces"),
                             seed=init.get("seed", 0) if seed is None else seed, first_new_id=rec["first_new_id"],
                             scale=init.get("scale", 3.0) if scale is None else scale)


# ---------------------------------------------------------------------------------------------------
# Which parameters a stage trains.


@dataclass
class Trainable:
    """A stage's `trainable` setting applied to a model: what the optimizer may change and, for
    new_embeddings, the rows whose gradient is zeroed every step."""

    mode: str = "all"
    frozen: list[torch.nn.Parameter] = field(default_factory=list)
    masked: list[tuple[torch.nn.Parameter, int]] = field(default_factory=list)  # (param, first row it trains)
    _masks: dict[int, Any] = field(default_factory=dict)

    def frozen_ids(self) -> set[int]:
        return {id(p) for p in self.frozen}

    def no_decay_ids(self) -> set[int]:
        # weight decay would move the old rows even with a zero gradient
        return {id(p) for p, _ in self.masked}

    def mask_grads(self) -> None:
        """After backward, before clipping: frozen gradients dropped (a model wrapped before it was frozen
        still computes them) and old rows' gradients zeroed."""
        for p in self.frozen:
            p.grad = None
        for p, first in self.masked:
            if p.grad is not None:
                p.grad.mul_(self._mask(p, first))

    def _mask(self, p: torch.nn.Parameter, first: int) -> Any:
        key = id(p)
        if key not in self._masks:
            rows = p.shape[0]
            m = (torch.arange(rows) >= first).to(p.dtype).unsqueeze(1)
            grad = p.grad
            if hasattr(grad, "device_mesh"):  # FSDP2: a DTensor sharded by rows; the mask is sharded alike
                from torch.distributed.tensor import distribute_tensor

                m = distribute_tensor(m.to(grad.device_mesh.device_type), grad.device_mesh, grad.placements,
                                      src_data_rank=None)
            else:
                m = m.to(grad.device)
            self._masks[key] = m
        return self._masks[key]


def set_trainable(model: Any, mode: str, *, wrapped: bool = False) -> Trainable:
    """Freeze everything but the input embedding and the output head (`embeddings`), and for
    `new_embeddings` also their old rows. `wrapped`: the model is already under DDP, which expects every
    parameter it saw to get a gradient, so frozen parameters keep requires_grad and are dropped after
    backward instead."""
    if mode not in TRAINABLE:
        raise EmbeddingError(f"trainable '{mode}' is unknown (choose one of {', '.join(TRAINABLE)})")
    t = Trainable(mode)
    if mode == "all":
        return t
    inner = getattr(model, "module", model)
    inp = inner.get_input_embeddings()
    out = inner.get_output_embeddings()
    keep = {id(inp.weight)} | ({id(out.weight)} if out is not None else set())
    for p in model.parameters():
        if id(p) not in keep:
            t.frozen.append(p)
            if not wrapped:
                p.requires_grad_(False)
    if mode == "new_embeddings":
        first = getattr(inp, FIRST_NEW_ROW, None)
        if first is None:
            raise EmbeddingError("trainable 'new_embeddings' needs an extended vocabulary (tokenizer.kind: extend), "
                                 "and this model has no new rows")
        t.masked.append((inp.weight, first))
        if out is not None and out.weight is not inp.weight:
            t.masked.append((out.weight, first))
    return t
