"""Exact summaries of metric points, and the merge that turns them into chart buckets.

A *unit* summarises a contiguous run of points of one series (ordered by step): count, the
finite values' min/max/sum, how many were NaN/+Inf/-Inf, the first and last step and time,
the time range and the last value. Units merge exactly: the summary of two adjacent units is
a function of their summaries alone. The store keeps units at two levels (a sub-block of
``SUB_BLOCK`` points inside each chunk, and the chunk itself), so a read of N buckets merges
at most a few thousand units whatever the length of the series.

Non-finite values are counted, never folded into min/max/mean: a chart shows them as marks.
A unit with no finite value has ``vmin = +inf`` and ``vmax = -inf`` internally; the public
:class:`Buckets` turns those into ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: Points per sub-block rollup inside a chunk.
SUB_BLOCK: Final = 128

UNIT_DTYPE: Final = np.dtype(
    [
        ("n", "<i8"),
        ("nf", "<i8"),
        ("vmin", "<f8"),
        ("vmax", "<f8"),
        ("vsum", "<f8"),
        ("first_step", "<i8"),
        ("last_step", "<i8"),
        ("first_time", "<f8"),
        ("last_time", "<f8"),
        ("min_time", "<f8"),
        ("max_time", "<f8"),
        ("last_value", "<f8"),
        ("nnan", "<i8"),
        ("npinf", "<i8"),
        ("nninf", "<i8"),
    ]
)

Units = npt.NDArray[np.void]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: Units as one array a field (the names of UNIT_DTYPE): what a read decodes and merges. A
#: record a unit costs a write and a read of every field at a 120-byte stride; a read of
#: a million points merges ~8,000 units, and took twice as long so.
Cols = dict[str, npt.NDArray[Any]]
FIELDS: Final = tuple(UNIT_DTYPE.names or ())


def count(units: Units | Cols) -> int:
    """How many units, held as records or as columns."""
    return len(units["n"]) if isinstance(units, dict) else len(units)


def cols_slice(c: Cols, a: int, b: int) -> Cols:
    return {name: col[a:b] for name, col in c.items()}


def cols_concat(pieces: Sequence[Units | Cols]) -> Cols:
    """Units as columns, one after another (records or columns alike)."""
    return {name: np.concatenate([p[name] for p in pieces]) for name in FIELDS}


def records(units: Units | Cols) -> Units:
    """Units as records."""
    if not isinstance(units, dict):
        return units
    out = np.empty(count(units), dtype=UNIT_DTYPE)
    for name in FIELDS:
        out[name] = units[name]
    return out


def summarize(steps: I64, times: F64, values: F64, starts: I64) -> Units:
    """Summaries of the segments of sorted points that begin at ``starts``."""
    out = np.empty(len(starts), dtype=UNIT_DTYPE)
    if len(starts) == 0:
        return out
    ends = np.append(starts[1:], len(steps))
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    out["n"] = ends - starts
    if all_finite:  # the common case: no masked copies
        out["nf"] = out["n"]
        out["vmin"] = np.minimum.reduceat(values, starts)
        out["vmax"] = np.maximum.reduceat(values, starts)
        out["vsum"] = _sums(values, starts)
    else:
        out["nf"] = np.add.reduceat(finite.astype(np.int64), starts)
        out["vmin"] = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
        out["vmax"] = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
        out["vsum"] = _sums(np.where(finite, values, 0.0), starts)
    last = ends - 1
    out["first_step"] = steps[starts]
    out["last_step"] = steps[last]
    out["first_time"] = times[starts]
    out["last_time"] = times[last]
    out["min_time"] = np.minimum.reduceat(times, starts)
    out["max_time"] = np.maximum.reduceat(times, starts)
    out["last_value"] = values[last]
    if all_finite:
        out["nnan"] = 0
        out["npinf"] = 0
        out["nninf"] = 0
    else:
        out["nnan"] = np.add.reduceat(np.isnan(values).astype(np.int64), starts)
        out["npinf"] = np.add.reduceat((values == np.inf).astype(np.int64), starts)
        out["nninf"] = np.add.reduceat((values == -np.inf).astype(np.int64), starts)
    return out


def _sums(values: F64, starts: I64) -> F64:
    """``np.add.reduceat``, for finite values near the largest float too: a sum that
    overflows on the way is taken again scaled down (exact powers of two), so it is finite
    whenever the true sum is, and ±inf (never NaN) when it is not."""
    with np.errstate(over="ignore", invalid="ignore"):
        sums: F64 = np.add.reduceat(values, starts)
        bad = ~np.isfinite(sums)
        if bad.any():
            scaled = np.add.reduceat(values * 2.0**-64, starts) * 2.0**64
            sums = np.where(bad, scaled, sums)
    return sums


def sub_blocks(steps: I64, times: F64, values: F64) -> Units:
    """The sub-block rollup of one chunk's points."""
    return summarize(steps, times, values, np.arange(0, len(steps), SUB_BLOCK, dtype=np.int64))


def whole(steps: I64, times: F64, values: F64) -> Units:
    """One unit summarising all the given points (which must not be empty)."""
    return summarize(steps, times, values, np.zeros(1, dtype=np.int64))


def merge(units: Units | Cols, starts: I64) -> Units:
    """Merge consecutive units (records or columns) into groups that begin at ``starts``."""
    out = np.empty(len(starts), dtype=UNIT_DTYPE)
    if len(starts) == 0:
        return out
    ends = np.append(starts[1:], count(units))
    last = ends - 1
    with np.errstate(over="ignore", invalid="ignore"):  # sums of huge values: inf (a mean)
        for name in ("n", "nf", "vsum", "nnan", "npinf", "nninf"):
            out[name] = np.add.reduceat(units[name], starts)
    out["vmin"] = np.minimum.reduceat(units["vmin"], starts)
    out["vmax"] = np.maximum.reduceat(units["vmax"], starts)
    out["min_time"] = np.minimum.reduceat(units["min_time"], starts)
    out["max_time"] = np.maximum.reduceat(units["max_time"], starts)
    for name in ("first_step", "first_time"):
        out[name] = units[name][starts]
    for name in ("last_step", "last_time", "last_value"):
        out[name] = units[name][last]
    return out


def group_into(units: Units | Cols, n_buckets: int, lo: float, hi: float, axis: str
               ) -> Units:
    """Merge ordered units into at most ``n_buckets`` groups of equal width on ``axis``.

    ``axis`` is ``"step"`` or ``"time"``; a unit goes to the bucket its first point falls in,
    so no unit is split and every bucket stays exact.
    """
    if count(units) <= n_buckets:
        return records(units)
    x = units["first_step"] if axis == "step" else units["first_time"]
    width = (float(hi) - float(lo)) or 1.0
    idx = np.floor((x.astype(np.float64) - float(lo)) / width * n_buckets).astype(np.int64)
    idx = np.clip(idx, 0, n_buckets - 1)
    # Units are ordered by step; on the time axis, times may go backwards. Keep groups
    # contiguous (a bucket index never decreases) so the merge stays a merge of neighbours.
    idx = np.maximum.accumulate(idx)
    starts = np.flatnonzero(np.diff(idx, prepend=-1)).astype(np.int64)
    return merge(units, starts)


@dataclass(slots=True)
class Buckets:
    """At most N exact buckets of one series over a window, as columns.

    ``min``/``max``/``mean`` cover the finite values only (``None`` where a bucket holds
    none); ``nan``/``pinf``/``ninf`` count the non-finite ones; ``last`` is the value of the
    bucket's last step, exactly as logged (so it may be NaN or ±Inf).
    """

    units: Units

    def __len__(self) -> int:
        return len(self.units)

    @property
    def count(self) -> int:
        return int(self.units["n"].sum())

    def columns(self) -> dict[str, list[Any]]:
        """The buckets as JSON-ready columns (non-finite floats as strings, see codec).

        Exactly so: every float column is checked at once (numpy), so a writer may skip
        codec's walk over every value (``orjson.dumps`` writes them as ``codec.dumps``)."""
        from .codec import float_list

        u = self.units
        has_finite = u["nf"] > 0
        mean = np.divide(u["vsum"], u["nf"], out=np.zeros(len(u)), where=has_finite)
        return {
            "first_step": u["first_step"].tolist(),
            "last_step": u["last_step"].tolist(),
            "first_time": float_list(u["first_time"]),
            "last_time": float_list(u["last_time"]),
            "count": u["n"].tolist(),
            "min": _masked(u["vmin"], has_finite),
            "max": _masked(u["vmax"], has_finite),
            "mean": _masked(mean, has_finite),
            "last": float_list(u["last_value"]),
            "nan": u["nnan"].tolist(),
            "pinf": u["npinf"].tolist(),
            "ninf": u["nninf"].tolist(),
        }


def _masked(a: F64, keep: npt.NDArray[np.bool_]) -> list[float | str | None]:
    """``a`` where ``keep`` (non-finite values spelled, as a mean that overflowed), else None."""
    from .codec import float_list

    values: list[float | str | None] = list(float_list(a if keep.all() else np.where(keep, a, 0.0)))
    if keep.all():
        return values
    return [v if k else None for v, k in zip(values, keep.tolist(), strict=True)]
