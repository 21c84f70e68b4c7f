"""Token cross-entropy for the training loop, computed a block of rows at a time on CPU.

`F.cross_entropy(logits.float(), ...)` makes several full-size passes over the logits (an fp32 copy, the
log-softmax written out and saved for backward, its gradient, a cast back), each of tokens x vocabulary
elements and far larger than the CPU's caches. `token_cross_entropy` instead takes rows in blocks of about
a million logits: the forward keeps only each row's log-sum-exp, and the backward recomputes the softmax of
a block from the saved logits while the block is still in cache. The values equal F.cross_entropy's (the
gradients to rounding), the logits' fp32 copy and log-softmax are never stored, and on the demo model's
logits it takes about two thirds (fp32 logits) to half (bf16 logits) of the time of the plain call
(docs/benchmarks.md). On GPU the plain call is used: there one fused kernel beats a Python loop over blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
BLOCK_ELEMENTS = 1 << 20  # logits per block: 4 MiB in fp32, inside a core's share of L3


class _BlockedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor, rows: int) -> torch.Tensor:
        vocab = logits.size(-1)
        flat, target = logits.reshape(-1, vocab), labels.reshape(-1)
        valid = target != IGNORE_INDEX
        target = torch.where(valid, target, 0)
        lse = torch.empty(flat.size(0), dtype=torch.float32, device=flat.device)
        loss = torch.empty_like(lse)
        with torch.autocast(flat.device.type, enabled=False):  # fp32 throughout, whatever the caller's autocast
            for s in range(0, flat.size(0), rows):
                block = flat[s : s + rows].float()
                lse[s : s + rows] = torch.logsumexp(block, dim=-1)
                loss[s : s + rows] = lse[s : s + rows] - block.gather(1, target[s : s + rows, None]).squeeze(1)
        loss.masked_fill_(~valid, 0.0)
        ctx.save_for_backward(logits, lse, target, valid)
        ctx.rows = rows
        return loss.view(labels.shape)

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        logits, lse, target, valid = ctx.saved_tensors
        rows = ctx.rows
        vocab = logits.size(-1)
        flat = logits.reshape(-1, vocab)
        scale = grad_loss.reshape(-1).float() * valid
        grad = torch.empty_like(flat)
        minus_one = torch.full((min(rows, flat.size(0)), 1), -1.0, device=flat.device)
        with torch.autocast(flat.device.type, enabled=False):
            for s in range(0, flat.size(0), rows):
                # softmax of the block, in a fp32 copy: the saved logits stay intact
                p = flat[s : s + rows].to(torch.float32, copy=True).sub_(lse[s : s + rows, None]).exp_()
                p.scatter_add_(1, target[s : s + rows, None], minus_one[: p.size(0)])
                grad[s : s + rows] = p.mul_(scale[s : s + rows, None])
        return grad.view_as(logits), None, None


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy in fp32, shaped like `labels`; 0 where the label is IGNORE_INDEX (-100).
    `logits` is [..., vocab] in any float dtype; the loss is always computed in fp32."""
    if logits.device.type != "cpu":
        vocab = logits.size(-1)
        return F.cross_entropy(logits.float().reshape(-1, vocab), labels.reshape(-1), ignore_index=IGNORE_INDEX,
                               reduction="none").view(labels.shape)
    rows = max(1, BLOCK_ELEMENTS // logits.size(-1))
    return _BlockedCrossEntropy.apply(logits, labels, rows)
