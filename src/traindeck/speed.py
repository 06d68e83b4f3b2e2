"""Training speed, progress and ETA: pure functions of what a run logged, with no clock.

The speed comes from the run's own points: each observation is the highest training step
(keys outside ``sys/``) and the wall time its point was logged at, so the estimate is the
same whether the points came over HTTP in batches or straight into the store, and however
late the observer reads them. It is an exponentially weighted moving average of the rate
between observations, weighted by the time they span (time constant :data:`TAU_S`): a
step of 10 ms and one of 10 s count for what they last, not once each.

A gap much longer than the current speed explains (a paused run, a process restarted from
a checkpoint) moves the anchor without pulling the speed down; a step lower than the last
one (a rewind, a backfill) is not progress and is ignored.

The server's progress tracker (``server/progress.py``) and ``traindeck tail`` use these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

#: The smoothing time constant: the weight of what happened ``TAU_S`` seconds ago is 1/e.
TAU_S: Final = 20.0
#: A gap is a pause (not slowness) when it lasts this many times the time the current
#: speed gives its steps, and at least :data:`PAUSE_MIN_S` seconds.
PAUSE_FACTOR: Final = 10.0
PAUSE_MIN_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Speed:
    """Where a run was last seen (``step`` at ``time``) and its smoothed steps per second
    (``None`` until two observations span some time)."""

    step: int
    time: float
    rate: float | None = None
    #: The next observation only moves the anchor (see :func:`resumed`).
    gap: bool = False


def observe(speed: Speed | None, step: int, time: float, *, tau: float = TAU_S) -> Speed:
    """The estimate after seeing the run reach ``step`` at ``time`` (seconds, the point's
    own wall time)."""
    if speed is None:
        return Speed(step, time)
    if speed.gap:
        return Speed(step, time, speed.rate) if step > speed.step else speed
    ds, dt = step - speed.step, time - speed.time
    if ds <= 0:
        return speed  # nothing new, or a lower step (a rewind, a backfill)
    if dt < 0:
        return Speed(step, time, speed.rate)  # the clock went back (another host): re-anchor
    if dt == 0:
        return speed  # same instant: wait until time has passed, keeping the anchor
    if speed.rate is not None and dt > max(PAUSE_MIN_S, PAUSE_FACTOR * ds / speed.rate):
        return Speed(step, time, speed.rate)  # a pause or a restart, not a slow step
    now = ds / dt
    if speed.rate is None:
        return Speed(step, time, now)
    weight = 1.0 - math.exp(-dt / tau)
    return Speed(step, time, speed.rate + weight * (now - speed.rate))


def resumed(speed: Speed | None) -> Speed | None:
    """The estimate of a run back from a pause: the time away is no step's, so the next
    observation only moves the anchor; the speed is kept."""
    return None if speed is None else Speed(speed.step, speed.time, speed.rate, gap=True)


def progress(step: int | None, total: int | None, *, completed: bool = False) -> float | None:
    """``step / total`` in 0-1; ``None`` without both. A completed run whose last step is
    at least ``total - 1`` (steps counted from 0 or from 1) reached its total: 1."""
    if step is None or total is None or total <= 0:
        return None
    if completed and step + 1 >= total:
        return 1.0
    return min(1.0, max(0.0, step / total))


def eta(step: int | None, total: int | None, rate: float | None) -> float | None:
    """Seconds until ``total`` at ``rate`` steps per second; ``None`` without all three
    (or without a positive rate); 0 once the total is reached."""
    if step is None or total is None or rate is None or not rate > 0 or not math.isfinite(rate):
        return None
    return max(0.0, (total - step) / rate)


def estimate(status: str, step: int | None, total: int | None, rate: float | None
             ) -> tuple[float | None, float | None, float | None]:
    """``(progress, steps_per_s, eta_s)`` of a run, rounded as stored: the ETA only while
    it is ``running``; the speed is kept after it ends (how fast it ran)."""
    p = progress(step, total, completed=status == "completed")
    left = eta(step, total, rate) if status == "running" else None
    return (None if p is None else round(p, 6),
            None if rate is None or not math.isfinite(rate) else float(f"{rate:.4g}"),
            None if left is None else round(left, 1))
