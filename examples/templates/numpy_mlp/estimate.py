"""The template's estimate hook: the MLP's size for a config (run by traindeck in a child
process when the run builder asks)."""

from __future__ import annotations

import itertools
from typing import Any

CLASSES = 3
FLOAT_BYTES = 8  # numpy float64


def estimate(config: dict[str, Any]) -> dict[str, Any]:
    width = int(config["width"])
    sizes = [2, width, width, CLASSES]
    params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    batch = int(config.get("batch", 64))
    return {
        "params": params,
        # weights, momentum and gradients, plus the activations of one batch
        "memory_bytes": FLOAT_BYTES * (3 * params + batch * sum(sizes)),
        "samples": int(config["steps"]) * batch,
    }
