"""What an export reads: the series of runs, chosen by key or glob, as blocks of columns.

An export never holds a whole run: raw points are read in step windows of
:data:`WINDOW` points (``Store.read_points(after_step=…, limit=…)``), each window one
:class:`Block`; with ``buckets=N`` each series is read as the store's N exact buckets
(``Store.read_buckets``), one block per series. Writers (``csv.py``, ``parquet.py``) turn
blocks into bytes; they never touch the store, so every engine exports alike.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from traindeck.store import SeriesInfo, Store

#: Points read from the store at once (one block) when exporting raw points.
WINDOW: Final = 1 << 17

#: The columns of a raw-points export (long format), in order.
POINT_COLUMNS: Final = ("run_id", "key", "step", "time", "value")
#: The columns of a bucketed export, in order: each bucket's step and time range, its
#: point count, min/max/mean of its finite values (empty where it has none), the value of
#: its last step as logged, and how many of its values were NaN, +Inf and -Inf.
BUCKET_COLUMNS: Final = ("run_id", "key", "first_step", "last_step", "first_time",
                         "last_time", "count", "min", "max", "mean", "last", "nan", "pinf",
                         "ninf")
#: Bucket columns that are integers (the others after run_id/key are floats).
BUCKET_INTS: Final = frozenset({"first_step", "last_step", "count", "nan", "pinf", "ninf"})
#: Bucket columns that are null where a bucket holds no finite value.
BUCKET_NULLABLE: Final = frozenset({"min", "max", "mean"})


@dataclass(frozen=True, slots=True)
class Block:
    """Rows of one series: ``columns`` maps each column after ``run_id``/``key`` to an
    array, all of one length; ``valid`` (bucketed exports) marks the rows whose
    min/max/mean are set."""

    run_id: str
    key: str
    columns: dict[str, npt.NDArray[np.generic]]
    valid: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def parse_keys(values: Iterable[str] | None, exact: Iterable[str] | None = None
               ) -> list[str]:
    """Key patterns from repeated and comma-separated values (``loss,val/*``), blanks
    dropped, then ``exact`` keys taken as they are (a comma, ``*``, ``?`` or ``[`` in one
    is part of the name); empty means every key."""
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in v.split(",") if p.strip())
    out.extend(literal(k) for k in exact or () if k)
    return out


def literal(key: str) -> str:
    """A glob that matches ``key`` alone (its ``*``, ``?`` and ``[`` bracketed)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in key)


def matches(key: str, patterns: Sequence[str]) -> bool:
    """Whether ``key`` is one of ``patterns`` or matches one as a glob (``*``, ``?``,
    ``[…]``; ``*`` also crosses ``/``); no patterns match every key."""
    return not patterns or any(key == p or fnmatch.fnmatchcase(key, p) for p in patterns)


def select_series(store: Store, run_id: str, patterns: Sequence[str]) -> list[SeriesInfo]:
    """The run's series whose key matches ``patterns``, by key (``NotFound``: no run)."""
    return [s for s in store.metric_keys(run_id) if matches(s.key, patterns)]


def point_blocks(store: Store, series: SeriesInfo, window: int = WINDOW) -> Iterator[Block]:
    """The raw points of one series, by step, ``window`` points per block."""
    after: int | None = None
    while True:
        p = store.read_points(series.run_id, series.key, after_step=after, limit=window)
        if len(p) == 0:
            return
        yield Block(series.run_id, series.key,
                    {"step": p.steps, "time": p.times, "value": p.values})
        if len(p) < window:
            return
        after = int(p.steps[-1])


def bucket_block(store: Store, series: SeriesInfo, n: int) -> Block:
    """One series as at most ``n`` exact buckets (``Store.read_buckets``)."""
    u = store.read_buckets(series.run_id, series.key, n=n).units
    valid = u["nf"] > 0
    nf = np.where(valid, u["nf"], 1)
    cols: dict[str, npt.NDArray[np.generic]] = {
        "first_step": u["first_step"], "last_step": u["last_step"],
        "first_time": u["first_time"], "last_time": u["last_time"], "count": u["n"],
        "min": np.where(valid, u["vmin"], np.nan), "max": np.where(valid, u["vmax"], np.nan),
        "mean": np.where(valid, u["vsum"] / nf, np.nan), "last": u["last_value"],
        "nan": u["nnan"], "pinf": u["npinf"], "ninf": u["nninf"],
    }
    return Block(series.run_id, series.key,
                 {k: np.ascontiguousarray(v) for k, v in cols.items()}, valid)


def blocks(store: Store, series: Iterable[SeriesInfo], buckets: int | None) -> Iterator[Block]:
    """Every block of every series, in order: raw points, or ``buckets`` buckets each."""
    for s in series:
        if buckets is None:
            yield from point_blocks(store, s)
        else:
            b = bucket_block(store, s, buckets)
            if len(b):
                yield b
