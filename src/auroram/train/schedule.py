"""Learning-rate schedules, re-warmed from zero at the start of every stage.

Continual pretraining re-warms the LR when new data arrives (Gupta et al., 2023; Aurora-M per stage):
jumping straight to the peak on a shifted distribution causes loss spikes.
"""

from __future__ import annotations

import math

from auroram.config import ScheduleConfig


def lr_at(step: int, total_steps: int, peak_lr: float, cfg: ScheduleConfig) -> float:
    """LR for optimizer step `step` (0-based) of a stage with `total_steps` steps."""
    min_lr = peak_lr * cfg.min_lr_ratio
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    if step < warmup:
        return peak_lr * (step + 1) / (warmup + 1)  # never exactly 0: a step at LR 0 is wasted compute
    if cfg.kind == "constant":
        return peak_lr
    if cfg.kind == "cosine":
        span = max(total_steps - warmup - 1, 1)
        progress = min(max((step - warmup) / span, 0.0), 1.0)
        return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.kind == "wsd":
        # stable at the peak, then a linear decay over the last `decay_fraction` of the stage
        decay_steps = max(int(round(total_steps * cfg.decay_fraction)), 1)
        decay_start = max(total_steps - decay_steps, warmup)
        if step < decay_start:
            return peak_lr
        progress = min((step - decay_start + 1) / max(total_steps - decay_start, 1), 1.0)
        return peak_lr + (min_lr - peak_lr) * progress
    raise ValueError(f"unknown schedule kind {cfg.kind!r}")
