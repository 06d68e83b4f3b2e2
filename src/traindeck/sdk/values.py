"""What ``log()`` takes: numbers, and how anything else is turned into one or refused.

``log()`` itself only checks each value's class against :data:`NUMBER` (the fast path);
the rest is here, for the values that need it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from .policy import FailurePolicy

#: The classes ``log()`` stores as they are.
NUMBER: Final = frozenset({float, int})


def coerce_step(step: Any, policy: FailurePolicy) -> int | None:
    """``step`` as an int (numpy and torch integers too), or None (reported)."""
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        policy.report("log(step=...)", TypeError(f"step must be an integer, got {step!r}"))
        return None
    return int(step.__index__())


def check_total(total: Any) -> int | None:
    """``total_steps`` as an int (numpy and torch integers too) or None; ``TypeError`` /
    ``ValueError`` saying what it must be."""
    if total is None:
        return None
    if isinstance(total, bool) or not hasattr(total, "__index__"):
        raise TypeError(f"total_steps must be a positive integer or None, got {total!r:.80}")
    value = int(total.__index__())
    if not 0 < value < 2**63:
        raise ValueError(f"total_steps must be a positive integer or None, got {value}")
    return value


def coerce_time(time: Any, policy: FailurePolicy) -> float | None:
    """``time`` (seconds since the epoch: an int, a float, a numpy or torch scalar) as a
    float, or None (reported) when it is not a finite number >= 0."""
    if isinstance(time, bool | str | bytes) or time is None:
        t = math.nan
    else:
        try:
            t = float(time)
        except (TypeError, ValueError):
            t = math.nan
    if not (math.isfinite(t) and t >= 0.0):
        policy.report("log(time=...)", ValueError(
            f"time must be a finite number of seconds since the epoch (>= 0), got {time!r:.80}"))
        return None
    return t


def convert(data: Mapping[str, Any], policy: FailurePolicy) -> dict[str, Any]:
    """The values as numbers (``float()`` of numpy and torch scalars); any other value is
    reported and left out."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if v.__class__ in NUMBER:
            out[k] = v
            continue
        try:
            if isinstance(v, str | bytes) or v is None:
                raise TypeError
            out[k] = float(v)
        except (TypeError, ValueError):
            policy.report(f"log() of {k!r}", TypeError(
                f"the value of {k!r} must be a number, got {type(v).__name__} {v!r:.80}"))
    return out
