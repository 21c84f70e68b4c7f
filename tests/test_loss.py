"""The training loss computed in blocks of rows equals torch's cross-entropy, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from auroram.train import loss as loss_mod
from auroram.train.loss import token_cross_entropy


def _reference(logits, labels):
    v = logits.size(-1)
    return F.cross_entropy(logits.float().reshape(-1, v), labels.reshape(-1), ignore_index=-100,
                           reduction="none").view(labels.shape)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_blocked_cross_entropy_matches_torch(monkeypatch, dtype):
    monkeypatch.setattr(loss_mod, "BLOCK_ELEMENTS", 7 * 50)  # 7 rows a block: blocks end mid-sequence
    torch.manual_seed(0)
    labels = torch.randint(0, 50, (3, 11))
    labels[0, :4] = -100  # a masked prompt
    labels[2] = -100  # a row with no target at all
    base = (torch.randn(3, 11, 50) * 4).to(dtype)
    weights = torch.rand(3, 11)  # a non-uniform upstream gradient, as per-row sums and normalising give

    a = base.clone().requires_grad_(True)
    logits = a * 1.0  # a non-leaf, like a model's output
    got = token_cross_entropy(logits, labels)
    (got * weights).sum().backward()
    assert torch.equal(logits.detach(), base)  # backward leaves the logits as they were
    b = base.clone().requires_grad_(True)
    want = _reference(b, labels)
    (want * weights).sum().backward()

    assert got.dtype == torch.float32 and got.shape == labels.shape
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.all(got[labels == -100] == 0)
    assert a.grad.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-2  # bf16 gradients are rounded to bf16 either way
    assert torch.allclose(a.grad.float(), b.grad.float(), atol=tol)
    assert torch.all(a.grad[2] == 0)


def test_blocked_cross_entropy_under_autocast_stays_fp32():
    torch.manual_seed(1)
    labels = torch.randint(0, 64, (2, 9))
    logits = torch.randn(2, 9, 64, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = token_cross_entropy(logits, labels)
    assert got.dtype == torch.float32
    assert torch.allclose(got, _reference(logits.detach(), labels), atol=1e-5)
