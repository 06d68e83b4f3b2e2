"""``define_metric``: which step a metric is plotted against, and what its summary keeps.

wandb's ``run.define_metric(name, step_metric=..., summary=..., goal=...)`` maps onto
traindeck as follows (docs/integrations.md, "wandb drop-in"):

- ``step_metric="epoch"``: the metric's points are stored at ``step = int(epoch)`` (the
  value of ``epoch`` in the same row, else the last one logged), so its chart's x axis is
  the epoch. A step metric that is not a whole number leaves the point at the run's step.
- ``summary="min"`` (``max``, ``mean``, ``first``, ``last``, ``best``, ``none``, or several
  joined with commas): the run's summary keeps ``<name>.min`` … as the values arrive;
  ``last`` is ``<name>`` itself, ``best`` follows ``goal`` (``minimize``/``maximize``),
  ``none`` keeps nothing. Without a rule the summary keeps the last value (``<name>``).
- ``name`` may be a glob (``"val/*"``); an exact name wins over a glob.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Final

AGGREGATES: Final = frozenset({"min", "max", "mean", "first", "last", "best", "none", "copy"})
GOALS: Final = {"minimize": "min", "min": "min", "maximize": "max", "max": "max"}


@dataclass(frozen=True)
class MetricRule:
    """One ``define_metric`` call, as traindeck applies it."""

    name: str
    step_metric: str | None = None
    summary: tuple[str, ...] = ()
    goal: str | None = None  # "min" or "max"
    hidden: bool = False


def parse_summary(summary: str | None) -> tuple[tuple[str, ...], list[str]]:
    """``"min,max"`` → ``(("min", "max"), [unknown words])``."""
    if not summary:
        return (), []
    words = [w.strip().lower() for w in str(summary).split(",") if w.strip()]
    known = tuple(("last" if w == "copy" else w) for w in words if w in AGGREGATES)
    return known, [w for w in words if w not in AGGREGATES]


class Metrics:
    """The rules ``define_metric`` made, looked up per key (cached)."""

    def __init__(self) -> None:
        self._exact: dict[str, MetricRule] = {}
        self._globs: list[MetricRule] = []
        self._cache: dict[str, MetricRule | None] = {}

    def define(self, rule: MetricRule) -> None:
        if any(c in rule.name for c in "*?["):
            self._globs = [r for r in self._globs if r.name != rule.name] + [rule]
        else:
            self._exact[rule.name] = rule
        self._cache.clear()

    def rule(self, key: str) -> MetricRule | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._exact.get(key)
        if found is None:
            # the most recent matching glob wins
            found = next((r for r in reversed(self._globs) if fnmatch.fnmatchcase(key, r.name)),
                         None)
        self._cache[key] = found
        return found


@dataclass
class _Running:
    first: float
    min: float
    max: float
    total: float = 0.0
    count: int = 0
    values: dict[str, float] = field(default_factory=dict)


class Aggregates:
    """The summary values a run's metrics give: the last value of every key (``last``),
    and the aggregates ``define_metric`` asked for."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}
        self._running: dict[str, _Running] = {}

    def add(self, key: str, value: float, rule: MetricRule | None) -> dict[str, float]:
        """Take one point; return the summary entries it changed (aggregates only: the
        last values are in :attr:`last`)."""
        self.last[key] = value
        if rule is None or not rule.summary:
            return {}
        v = float(value)
        r = self._running.get(key)
        if r is None:
            r = self._running[key] = _Running(first=v, min=v, max=v)
        elif not math.isnan(v):
            r.min = v if math.isnan(r.min) else min(r.min, v)
            r.max = v if math.isnan(r.max) else max(r.max, v)
        r.total += v
        r.count += 1
        changed: dict[str, float] = {}
        for agg in rule.summary:
            if agg in ("last", "none"):
                continue
            if agg == "best":
                now = r.min if (rule.goal or "min") == "min" else r.max
            elif agg == "mean":
                now = r.total / r.count
            else:
                now = {"min": r.min, "max": r.max, "first": r.first}[agg]
            name = f"{key}.{agg}"
            old = r.values.get(name)
            if old is None or not (old == now or (math.isnan(old) and math.isnan(now))):
                r.values[name] = now
                changed[name] = now
        return changed

    def final(self, rules: Metrics, explicit: set[str]) -> dict[str, Any]:
        """The last values the summary keeps at the end: every key's, except keys whose
        rule names aggregates without ``last`` (or ``none``), and keys the script set."""
        out: dict[str, Any] = {}
        for key, value in self.last.items():
            if key in explicit:
                continue
            rule = rules.rule(key)
            if rule is not None and rule.summary and "last" not in rule.summary:
                continue
            out[key] = value
        return out
