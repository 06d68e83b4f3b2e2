"""What each rule kind watches: one small state per (rule, run, key), fed new points.

A check gets each follow tick's new points of its series as numpy arrays (``steps``,
``values``, by step) and answers a :class:`Hit` or ``None``; the time-based ones also
answer :meth:`Check.due` on the evaluator's timer. Work is per batch of new points,
vectorised, so a check costs about the same whether a tick brings 1 point or 1,000.

Which kinds fire once per episode and re-arm: ``nan`` (re-arms on a finite value),
``threshold`` and ``disk`` (re-arm when the condition is false again), ``plateau`` (fires
after ``steps`` steps without improvement, then again only after ``steps`` more),
``gpu_idle`` and ``stall`` (re-arm when busy / progressing again). ``spike`` fires on every
spike. On top of that a rule's ``cooldown_s`` holds back a firing of the same rule on the
same run (``evaluator.py``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Steps = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]

#: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_SCALE: Final = 1.4826
_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


@dataclass(slots=True, frozen=True)
class Hit:
    """A firing: where and what (the evaluator adds the run and the rule)."""

    step: int | None
    value: float | None
    title: str
    text: str


def _num(x: float) -> str:
    return "NaN" if x != x else ("Infinity" if x == math.inf else
                                  ("-Infinity" if x == -math.inf else f"{x:.6g}"))


def _median(x: Values) -> float:
    """The median (of an even count: the upper middle value), without ``np.median``'s
    overhead."""
    mid = len(x) // 2
    return float(np.partition(x, mid)[mid])


def _first_rise(active: bool, on: npt.NDArray[np.bool_]) -> int | None:
    """Where ``on`` first turns true after being false (``active``: true before the
    batch), or ``None``."""
    before = np.concatenate(([active], on[:-1]))
    rises = on & ~before
    return int(np.argmax(rises)) if rises.any() else None


class Check:
    """A check of one series (or one run, for ``stall``); the base answers nothing."""

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        return None

    def due(self, now: float) -> Hit | None:
        return None


class NanCheck(Check):
    def __init__(self, key: str) -> None:
        self.key = key
        self.active = False

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        bad = ~np.isfinite(values)
        hit = None
        if (i := _first_rise(self.active, bad)) is not None:
            v = float(values[i])
            hit = Hit(int(steps[i]), v, f"{self.key} is {_num(v)}",
                      f"{self.key} became {_num(v)} at step {int(steps[i])}")
        self.active = bool(bad[-1])
        return hit


class ThresholdCheck(Check):
    def __init__(self, key: str, op: str, value: float, after_step: int) -> None:
        self.key, self.op, self.value, self.after_step = key, op, value, after_step
        self._cmp = _OPS[op]
        self.active = False

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        late = steps >= self.after_step
        if not late.any():
            return None
        with np.errstate(invalid="ignore"):
            true = late & self._cmp(values, self.value)
        hit = None
        if (i := _first_rise(self.active, true)) is not None:
            step, v = int(steps[i]), float(values[i])
            after = f" after step {self.after_step}" if self.after_step else ""
            hit = Hit(step, v, f"{self.key} {self.op} {_num(self.value)}",
                      f"{self.key} = {_num(v)} at step {step} ({self.op} {_num(self.value)}"
                      f"{after})")
        self.active = bool(true[-1])
        return hit


class DiskCheck(Check):
    """``sys/disk_percent`` (used) → free = 100 - used, below ``min_free_percent``."""

    def __init__(self, key: str, min_free_percent: float) -> None:
        self.key, self.limit = key, min_free_percent
        self.active = False

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        free = 100.0 - values
        with np.errstate(invalid="ignore"):
            low = free < self.limit
        hit = None
        if (i := _first_rise(self.active, low)) is not None:
            hit = Hit(int(steps[i]), float(values[i]), f"disk {_num(float(free[i]))}% free",
                      f"{self.key}: {_num(float(free[i]))}% free (below "
                      f"{_num(self.limit)}%) at step {int(steps[i])}")
        self.active = bool(low[-1])
        return hit


class SpikeCheck(Check):
    """A value whose robust z-score (distance to the median of the previous ``window``
    finite values, over 1.4826 x their median absolute deviation; the standard deviation
    when the MAD is 0) is above ``k``. New points are judged in slices of at most a
    quarter window against the window before each slice. A constant history (no spread)
    judges nothing; non-finite values are the ``nan`` kind's."""

    def __init__(self, key: str, k: float, window: int, min_points: int) -> None:
        self.key, self.k, self.window, self.min_points = key, k, window, min_points
        self.buf: Values = np.empty(0, dtype=np.float64)
        self._ref: tuple[float, float] | None = None  # (median, scale) of the window
        self._since_ref = 0  # values added since the reference was computed

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        ok = np.isfinite(values)
        if not ok.all():
            steps, values = steps[ok], values[ok]
        hit = None
        size = max(1, self.window // 4)
        for lo in range(0, len(values), size):
            seg = values[lo:lo + size]
            if hit is None and len(self.buf) >= self.min_points:
                hit = self._judge(steps[lo:lo + size], seg, size)
            self.buf = np.concatenate((self.buf, seg))[-self.window:]
            self._since_ref += len(seg)
        return hit

    def _judge(self, steps: Steps, seg: Values, size: int) -> Hit | None:
        # The window's median and spread, computed again once a slice's worth of values
        # came in (a reference at most a quarter window old, at a fraction of the cost).
        if self._ref is None or self._since_ref >= size:
            med = _median(self.buf)
            scale = MAD_SCALE * _median(np.abs(self.buf - med))
            self._ref, self._since_ref = (med, scale or float(np.std(self.buf))), 0
        med, scale = self._ref
        if scale == 0.0:
            return None
        z = np.abs(seg - med) / scale
        over = z > self.k
        if not over.any():
            return None
        i = int(np.argmax(over))
        v = float(seg[i])
        return Hit(int(steps[i]), v, f"{self.key} spiked to {_num(v)}",
                   f"{self.key} = {_num(v)} at step {int(steps[i])}: {float(z[i]):.1f} x the "
                   f"recent spread from the median {_num(med)} (k = {_num(self.k)})")


class PlateauCheck(Check):
    """No improvement of the best value by more than ``min_delta`` over the last ``steps``
    steps (``direction`` ``min``: lower is better), judged at the end of each batch of new
    points against the best as it was ``steps`` steps before. Holds the running best of
    the last ``steps`` steps (two arrays); after firing it starts over from the last point.
    """

    def __init__(self, key: str, steps: int, min_delta: float, direction: str) -> None:
        self.key, self.n, self.min_delta = key, steps, min_delta
        self.sign = 1.0 if direction == "min" else -1.0  # best = min(sign * value)
        self.best: float | None = None
        self.h_steps: Steps = np.empty(0, dtype=np.int64)
        self.h_best: Values = np.empty(0, dtype=np.float64)

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        ok = np.isfinite(values)
        if not ok.any():
            return None
        steps, signed = steps[ok], values[ok] * self.sign
        running = np.minimum.accumulate(signed)
        if self.best is not None:
            running = np.minimum(running, self.best)
        self.best = float(running[-1])
        self.h_steps = np.concatenate((self.h_steps, steps.astype(np.int64)))
        self.h_best = np.concatenate((self.h_best, running))
        last = int(steps[-1])
        i = int(np.searchsorted(self.h_steps, last - self.n, side="right")) - 1
        if i < 0:
            return None
        base = float(self.h_best[i])
        self.h_steps, self.h_best = self.h_steps[i:], self.h_best[i:]
        if base - self.best > self.min_delta:
            return None
        self.h_steps, self.h_best = self.h_steps[-1:], self.h_best[-1:]
        best = self.best * self.sign
        return Hit(last, best, f"{self.key} plateaued at {_num(best)}",
                   f"{self.key}: no improvement above {_num(self.min_delta)} in the "
                   f"{self.n} steps up to step {last} (best {_num(best)})")


class GpuIdleCheck(Check):
    """The series' values below ``below`` (percent) for ``minutes`` on the server's clock
    (judged on the timer, while the run is running)."""

    def __init__(self, key: str, below: float, minutes: float) -> None:
        self.key, self.below, self.seconds = key, below, minutes * 60
        self.since: float | None = None
        self.last: tuple[int, float] | None = None
        self.active = False

    def feed(self, steps: Steps, values: Values, now: float) -> Hit | None:
        with np.errstate(invalid="ignore"):
            busy = ~(values < self.below)
        self.last = (int(steps[-1]), float(values[-1]))
        if busy.any():
            self.active = False
            self.since = None if busy[-1] else now
        elif self.since is None:
            self.since = now
        return None

    def due(self, now: float) -> Hit | None:
        if self.active or self.since is None or now - self.since < self.seconds:
            return None
        self.active = True
        step, v = self.last if self.last is not None else (None, None)
        return Hit(step, v, f"{self.key} idle",
                   f"{self.key} below {_num(self.below)}% for {(now - self.since) / 60:.1f} "
                   f"min (last {_num(v) if v is not None else '?'}%)")


class StallCheck(Check):
    """A running run with no new step for ``minutes`` on the server's clock."""

    def __init__(self, minutes: float, now: float) -> None:
        self.seconds = minutes * 60
        self.since = now
        self.active = False

    def progressed(self, now: float) -> None:
        self.since = now
        self.active = False

    def due(self, now: float) -> Hit | None:
        if self.active or now - self.since < self.seconds:
            return None
        self.active = True
        return Hit(None, None, "no new step",
                   f"no new step for {(now - self.since) / 60:.1f} min while running")


def make_check(kind: str, key: str, params: dict[str, Any], now: float) -> Check:
    """The check of a metric rule for one series (``stall``: use :class:`StallCheck`)."""
    if kind == "nan":
        return NanCheck(key)
    if kind == "threshold":
        return ThresholdCheck(key, params["op"], float(params["value"]),
                              int(params["after_step"]))
    if kind == "spike":
        return SpikeCheck(key, float(params["k"]), int(params["window"]),
                          int(params["min_points"]))
    if kind == "plateau":
        return PlateauCheck(key, int(params["steps"]), float(params["min_delta"]),
                            str(params["direction"]))
    if kind == "gpu_idle":
        return GpuIdleCheck(key, float(params["below"]), float(params["minutes"]))
    if kind == "disk":
        return DiskCheck(key, float(params["min_free_percent"]))
    return Check()
