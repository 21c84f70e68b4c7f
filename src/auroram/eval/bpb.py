"""Bits per byte of held-out documents: a tokenizer-independent measure of how well a model knows a domain.

Each document is scored as [eos] + its tokens, so every token of the document is predicted exactly once
and the first one has a context. Documents longer than the context are scored with strided windows:
a later window keeps the tail of the previous one as context and scores only tokens not scored before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class _Window:
    doc: int  # index of the document in the input list
    begin: int  # the window's inputs are seq[begin:end]; position j predicts seq[begin + j + 1]
    end: int
    score_from: int  # positions before this are context already scored by an earlier window


def encode_docs(tokenizer: Any, docs: list[str]) -> list[list[int]]:
    """Token ids of each document without special tokens (HF tokenizer or a raw `tokenizers.Tokenizer`)."""
    out = []
    for doc in docs:
        if not doc:
            out.append([])
            continue
        enc = tokenizer.encode(doc, add_special_tokens=False)
        out.append(list(enc.ids) if hasattr(enc, "ids") else list(enc))
    return out


def doc_windows(n_tokens: int, seq_len: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, score_from) of each window over a sequence of n_tokens + 1 tokens ([eos] + doc)."""
    windows = []
    scored = begin = 0
    while scored < n_tokens:
        end = min(begin + seq_len, n_tokens)
        windows.append((begin, end, scored - begin))
        scored = end
        begin += stride
    return windows


def score_documents(
    model: Any,
    docs: list[str],
    tokenizer: Any,
    *,
    eos_id: int,
    seq_len: int,
    stride: int | None = None,
    batch_seqs: int = 8,
    device: str | torch.device = "cpu",
) -> list[dict]:
    """Per document, in input order: {"nll_nats", "tokens", "bytes"}; an empty document scores 0/0/0."""
    stride = max(1, seq_len // 2) if stride is None else stride
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if not 1 <= stride <= seq_len:
        raise ValueError(f"stride must be in [1, seq_len={seq_len}], got {stride}")
    if batch_seqs < 1:
        raise ValueError(f"batch_seqs must be >= 1, got {batch_seqs}")

    token_ids = encode_docs(tokenizer, docs)
    seqs = [[eos_id, *ids] for ids in token_ids]
    windows = [
        _Window(d, b, e, s) for d, ids in enumerate(token_ids) for b, e, s in doc_windows(len(ids), seq_len, stride)
    ]
    # longest first, so each batch pads little and the largest memory need shows up on the first batch
    windows.sort(key=lambda w: w.end - w.begin, reverse=True)

    nll = [0.0] * len(docs)  # python floats are float64
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()  # dropout would make the score random
    try:
        with torch.no_grad():  # not inference_mode: FSDP2 reuses buffers that training updates in place
            for i in range(0, len(windows), batch_seqs):
                batch = windows[i : i + batch_seqs]
                width = batch[0].end - batch[0].begin
                input_ids = torch.full((len(batch), width), eos_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for r, w in enumerate(batch):
                    input_ids[r, : w.end - w.begin] = torch.tensor(seqs[w.doc][w.begin : w.end])
                    mask[r, : w.end - w.begin] = 1
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
                for r, w in enumerate(batch):
                    length = w.end - w.begin
                    targets = torch.tensor(seqs[w.doc][w.begin + w.score_from + 1 : w.end + 1], device=logits.device)
                    # one row at a time keeps the float32 copy of the logits to one window's size
                    logp = logits[r, w.score_from : length].float().log_softmax(-1)
                    picked = logp.gather(1, targets[:, None]).squeeze(1)
                    nll[w.doc] -= picked.double().sum().item()
    finally:
        if was_training:
            model.train()

    return [
        {"nll_nats": nll[d], "tokens": len(token_ids[d]), "bytes": len(doc.encode("utf-8"))}
        for d, doc in enumerate(docs)
    ]


def summarize(per_doc: list[dict]) -> dict:
    """Sum per-document scores into {"bpb", "nll_nats", "tokens", "bytes", "docs", "token_ppl", "tokens_per_byte"}."""
    scored = [r for r in per_doc if r["tokens"] > 0]
    nll = sum(r["nll_nats"] for r in scored)
    tokens = sum(r["tokens"] for r in scored)
    n_bytes = sum(r["bytes"] for r in scored)
    if n_bytes == 0:
        raise ValueError("no non-empty documents to score")
    return {
        "bpb": nll / math.log(2) / n_bytes,
        "nll_nats": nll,
        "tokens": tokens,
        "bytes": n_bytes,
        "docs": len(scored),
        "token_ppl": math.exp(nll / tokens),
        "tokens_per_byte": tokens / n_bytes,
    }


def bits_per_byte(
    model: Any,
    docs: list[str],
    tokenizer: Any,
    *,
    eos_id: int,
    seq_len: int,
    stride: int | None = None,
    batch_seqs: int = 8,
    device: str | torch.device = "cpu",
) -> dict:
    """Summed over the non-empty documents; bpb = total NLL / ln 2 / total UTF-8 bytes."""
    per_doc = score_documents(
        model, docs, tokenizer, eos_id=eos_id, seq_len=seq_len, stride=stride, batch_seqs=batch_seqs, device=device
    )
    return summarize(per_doc)


# a language written with spaces between words has one whitespace-separated word per ~4-9 characters;
# fewer words than one per 12 characters means spaces do not mark words (Japanese, or code-only lines)
_MAX_CHARS_PER_WORD = 12


def fertility(tokenizer: Any, docs: list[str]) -> dict:
    """Tokens per UTF-8 byte and per whitespace word (None where whitespace does not separate words)."""
    tokens = sum(len(ids) for ids in encode_docs(tokenizer, docs))
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    words = sum(len(d.split()) for d in docs)
    chars = sum(len("".join(d.split())) for d in docs)
    spaced = words > 0 and chars / words <= _MAX_CHARS_PER_WORD
    return {
        "tokens_per_byte": tokens / n_bytes if n_bytes else None,
        "tokens_per_word": tokens / words if spaced else None,
        "tokens": tokens,
        "bytes": n_bytes,
        "words": words if spaced else None,
    }
