"""What a training script logs each step, shared by the benches that compare trackers'
cost in the training loop (``peers_side_by_side.py``, ``writer_share.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def training_metrics(steps: int) -> list[dict[str, Any]]:
    """What a training script logs each step; built before the timed loop."""
    rng = np.random.default_rng(15)
    i = np.arange(steps, dtype=np.float64)
    noise = rng.standard_normal((3, steps))
    loss = (0.35 + 2.0 * np.exp(-i / (0.2 * steps)) + 0.05 * noise[0]).astype(np.float32)
    acc = np.clip(0.98 - 0.88 * np.exp(-i / (0.25 * steps)) + 0.01 * noise[1], 0, 1)
    grad = np.exp(0.3 * noise[2]) * (0.5 + 2.0 * np.exp(-i / (0.1 * steps)))
    acc32, grad32 = acc.astype(np.float32), grad.astype(np.float32)
    warmup, per_epoch = max(1, steps // 50), max(1, steps // 10)
    out = []
    for s in range(steps):
        lr = 3e-4 * min(1.0, (s + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * s / steps))
        out.append({"loss": float(loss[s]), "acc": float(acc32[s]), "lr": lr,
                    "grad_norm": float(grad32[s]), "epoch": s // per_epoch})
    return out
