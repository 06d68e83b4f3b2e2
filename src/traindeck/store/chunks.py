"""Metric points in chunks: encode, decode, write (idempotent), and bucketed reads.

These functions work on an open SQLite connection; ``SQLiteStore`` owns the connections
and the transactions. See ``schema.py`` for the table and ``rollup.py`` for the summaries.

Write: the points of one series are sorted by step and de-duplicated (the last write of a
step wins). If they all come after the series' last step (the common case) they extend the
tail chunk; otherwise each point goes to the chunk whose range it falls in, and those chunks
are merged and rewritten. Chunks longer than ``CHUNK_MAX`` are split. Every rewritten chunk
gets fresh summaries, so buckets stay exact when a batch is delivered twice.

Read: a window (steps or wall time) is covered by units from the coarsest level that still
gives enough of them — raw points for small windows, 64-point sub-blocks, whole chunks for
long windows — with partial chunks at the edges decoded and cut exactly. The units are then
merged into at most N equal-width buckets. The work is O(N + chunks in the window), and a
chunk holds ``CHUNK_MAX`` points, so a 10M-point series reads ~2,500 summary rows. Those come
from the covering index ``chunks_summary`` (schema migration 2), never from the chunk rows
themselves: a summary column stored after ~64 KiB of blobs costs a walk of the row's overflow
pages. Chunk rows are fetched by key only, for the same reason.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from . import rollup
from .errors import InvalidInput
from .rollup import F64, I64, UNIT_DTYPE, Units

#: Points per chunk.
CHUNK_MAX: Final = 4096
#: Windows with at most this many points x N buckets are read from raw points.
RAW_FACTOR: Final = 32
#: Windows with at most this many points x N buckets are read from sub-block rollups.
SUB_FACTOR: Final = 2048

_F8: Final = np.dtype("<f8")
_I8: Final = np.dtype("<i8")

_CHUNK_COLS: Final = (
    "series_id, step_lo, step_hi, n, stride, steps, times, vals, rollup, nf, vmin, vmax, vsum, "
    "first_time, last_time, min_time, max_time, last_value, nnan, npinf, nninf"
)
_INSERT_CHUNK: Final = (
    f"INSERT OR REPLACE INTO chunks ({_CHUNK_COLS}) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# The chunk summary as the fields of rollup.UNIT_DTYPE, in order (last_value is a blob).
_UNIT_COLS: Final = (
    "n, nf, COALESCE(vmin, 9e999), COALESCE(vmax, -9e999), vsum, step_lo, step_hi, "
    "first_time, last_time, min_time, max_time, last_value, nnan, npinf, nninf"
)


@dataclass(slots=True)
class Points:
    """Points of one series, sorted by step, one per step."""

    steps: I64
    times: F64
    values: F64

    def __len__(self) -> int:
        return len(self.steps)

    @staticmethod
    def empty() -> Points:
        return Points(np.empty(0, _I8), np.empty(0, _F8), np.empty(0, _F8))

    @staticmethod
    def concat(parts: list[Points]) -> Points:
        if not parts:
            return Points.empty()
        if len(parts) == 1:
            return parts[0]
        return Points(
            np.concatenate([p.steps for p in parts]),
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.values for p in parts]),
        )

    def take(self, mask_or_index: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | slice) -> Points:
        return Points(
            self.steps[mask_or_index], self.times[mask_or_index], self.values[mask_or_index]
        )


def prepare(key: str, steps: object, times: object, values: object) -> Points:
    """Checked and normalised points of series ``key``, as a caller hands them in.

    Steps must be integers, the three arrays one-dimensional and of one length, and times
    finite (a wall-clock time); values may be anything a float64 holds.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"a metric key is a non-empty string, not {key!r}")
    try:
        s = np.asarray(steps)
        t = np.asarray(times, dtype=_F8)
        v = np.asarray(values, dtype=_F8)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"metric {key!r}: {exc}") from exc
    if not (s.ndim == t.ndim == v.ndim == 1 and len(s) == len(t) == len(v)):
        raise InvalidInput(
            f"metric {key!r}: steps, times and values must be flat arrays of one length "
            f"(got shapes {s.shape}, {t.shape}, {v.shape})"
        )
    if len(s) and s.dtype.kind not in "iu":
        integral = s.dtype.kind == "f" and bool(np.isfinite(s).all()) and bool(
            (np.floor(s) == s).all() and np.abs(s).max() < 2.0**63
        )
        if not integral:
            raise InvalidInput(f"metric {key!r}: steps must be integers")
    elif s.dtype.kind == "u" and len(s) and int(s.max()) > np.iinfo(_I8).max:
        raise InvalidInput(f"metric {key!r}: a step does not fit in 64 bits")
    if not bool(np.isfinite(t).all()):
        raise InvalidInput(f"metric {key!r}: times must be finite")
    return normalize(s.astype(_I8), t, v)


def normalize(steps: I64, times: F64, values: F64) -> Points:
    """Sort by step (stable) and keep the last of each repeated step."""
    steps = np.asarray(steps, dtype=_I8)
    times = np.asarray(times, dtype=_F8)
    values = np.asarray(values, dtype=_F8)
    if len(steps) > 1 and not bool(np.all(steps[1:] > steps[:-1])):
        order = np.argsort(steps, kind="stable")
        steps, times, values = steps[order], times[order], values[order]
        keep = np.append(steps[1:] != steps[:-1], True)
        steps, times, values = steps[keep], times[keep], values[keep]
    return Points(steps, times, values)


def encode(series_id: int, p: Points) -> tuple[object, ...]:
    """A chunk row for ``p`` (sorted, unique steps, not empty)."""
    n = len(p)
    stride = 0
    if n == 1:
        stride = 1
    else:
        d = np.diff(p.steps)
        first = int(d[0])
        if first > 0 and bool(np.all(d == first)):
            stride = first
    steps_blob = b"" if stride else p.steps.astype(_I8).tobytes()
    w = rollup.whole(p.steps, p.times, p.values)[0]
    nf = int(w["nf"])
    return (
        series_id,
        int(p.steps[0]),
        int(p.steps[-1]),
        n,
        stride,
        steps_blob,
        p.times.astype(_F8).tobytes(),
        p.values.astype(_F8).tobytes(),
        rollup.sub_blocks(p.steps, p.times, p.values).tobytes(),
        nf,
        float(w["vmin"]) if nf else None,
        float(w["vmax"]) if nf else None,
        float(w["vsum"]),
        float(w["first_time"]),
        float(w["last_time"]),
        float(w["min_time"]),
        float(w["max_time"]),
        np.float64(w["last_value"]).astype(_F8).tobytes(),
        int(w["nnan"]),
        int(w["npinf"]),
        int(w["nninf"]),
    )


def decode(step_lo: int, n: int, stride: int, steps: bytes, times: bytes, vals: bytes) -> Points:
    if stride:
        s = step_lo + np.arange(n, dtype=_I8) * stride
    else:
        s = np.frombuffer(steps, dtype=_I8)
    return Points(s, np.frombuffer(times, dtype=_F8), np.frombuffer(vals, dtype=_F8))


def _load(conn: sqlite3.Connection, series_id: int, step_lo: int) -> Points:
    row = conn.execute(
        "SELECT step_lo, n, stride, steps, times, vals FROM chunks "
        "WHERE series_id = ? AND step_lo = ?",
        (series_id, step_lo),
    ).fetchone()
    return decode(*row)


def _write_pieces(conn: sqlite3.Connection, series_id: int, p: Points) -> None:
    rows = [
        encode(series_id, p.take(slice(i, i + CHUNK_MAX)))
        for i in range(0, len(p), CHUNK_MAX)
    ]
    conn.executemany(_INSERT_CHUNK, rows)


def _merge(old: Points, new: Points) -> Points:
    """Old and new points of one chunk; a step in both keeps the new point."""
    both = Points.concat([old, new])
    order = np.argsort(both.steps, kind="stable")
    both = both.take(order)
    keep = np.append(both.steps[1:] != both.steps[:-1], True)
    return both.take(keep)


def write_series(
    conn: sqlite3.Connection, series_id: int, last_step: int | None, p: Points
) -> None:
    """Write normalised points of one series inside the caller's transaction."""
    if len(p) == 0:
        return
    if last_step is None or int(p.steps[0]) > last_step:
        tail = conn.execute(
            "SELECT step_lo, n, stride, steps, times, vals FROM chunks "
            "WHERE series_id = ? ORDER BY step_lo DESC LIMIT 1",
            (series_id,),
        ).fetchone()
        if tail is not None and tail[1] < CHUNK_MAX:
            p = Points.concat([decode(*tail), p])
        _write_pieces(conn, series_id, p)
        return
    los = np.array(
        [r[0] for r in conn.execute(
            "SELECT step_lo FROM chunks WHERE series_id = ? ORDER BY step_lo", (series_id,)
        )],
        dtype=_I8,
    )
    if len(los) == 0:
        _write_pieces(conn, series_id, p)
        return
    which = np.clip(np.searchsorted(los, p.steps, side="right") - 1, 0, None)
    bounds = np.flatnonzero(np.diff(which, prepend=-1))
    for i, start in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(p)
        lo = int(los[which[start]])
        merged = _merge(_load(conn, series_id, lo), p.take(slice(start, end)))
        conn.execute("DELETE FROM chunks WHERE series_id = ? AND step_lo = ?", (series_id, lo))
        _write_pieces(conn, series_id, merged)


@dataclass(slots=True, frozen=True)
class Window:
    """A window on one axis, bounds inclusive; ``None`` is open."""

    axis: str  # "step" or "time"
    lo: float | None = None
    hi: float | None = None

    def sql(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        lo_col, hi_col = ("step_lo", "step_hi") if self.axis == "step" else ("min_time", "max_time")
        if self.lo is not None:
            clauses.append(f"{hi_col} >= ?")
            args.append(self.lo)
        if self.hi is not None:
            clauses.append(f"{lo_col} <= ?")
            args.append(self.hi)
        return (" AND " + " AND ".join(clauses) if clauses else ""), args

    def contains(self, lo: float, hi: float) -> bool:
        return (self.lo is None or lo >= self.lo) and (self.hi is None or hi <= self.hi)

    def mask(self, p: Points) -> npt.NDArray[np.bool_]:
        x = p.steps if self.axis == "step" else p.times
        m = np.ones(len(p), dtype=bool)
        if self.lo is not None:
            m &= x >= self.lo
        if self.hi is not None:
            m &= x <= self.hi
        return m


def _where(window: Window, series_id: int) -> tuple[str, list[object]]:
    """The SQL condition (after ``series_id = ?``) for the chunks that overlap ``window``.

    Chunks of a series never overlap in steps, so on the step axis the first chunk is found
    by one index seek (the last chunk starting at or before ``lo``) instead of a scan of
    every chunk before the window.
    """
    where, args = window.sql()
    if window.axis == "step" and window.lo is not None:
        where += (
            " AND step_lo >= COALESCE((SELECT step_lo FROM chunks WHERE series_id = ? "
            "AND step_lo <= ? ORDER BY step_lo DESC LIMIT 1), ?)"
        )
        args += [series_id, window.lo, window.lo]
    return where, args


def _summaries(conn: sqlite3.Connection, series_id: int, where: str, args: list[object]) -> Units:
    """The chunk summaries (one unit a chunk), read from the covering index."""
    rows = conn.execute(
        f"SELECT {_UNIT_COLS} FROM chunks WHERE series_id = ?{where} ORDER BY step_lo",
        [series_id, *args],
    ).fetchall()
    units = np.empty(len(rows), dtype=UNIT_DTYPE)
    if rows:
        names = UNIT_DTYPE.names or ()
        for name, col in zip(names, zip(*rows, strict=True), strict=True):
            if name == "last_value":
                units[name] = np.frombuffer(b"".join(col), dtype=_F8)
            else:
                units[name] = col
    return units


def _concat(pieces: list[Units]) -> Units:
    """``np.concatenate`` for units, without its per-piece cost on structured dtypes."""
    out = np.empty(sum(len(u) for u in pieces), dtype=UNIT_DTYPE)
    at = 0
    for u in pieces:
        out[at:at + len(u)] = u
        at += len(u)
    return out


def read_points(
    conn: sqlite3.Connection, series_id: int, window: Window, limit: int | None = None
) -> Points:
    """Raw points of one series inside ``window``, by step (at most ``limit``)."""
    where, args = _where(window, series_id)
    parts: list[Points] = []
    got = 0
    cur = conn.execute(
        "SELECT step_lo, n, stride, steps, times, vals FROM chunks "
        f"WHERE series_id = ?{where} ORDER BY step_lo",
        [series_id, *args],
    )
    for row in cur:
        p = decode(*row)
        p = p.take(window.mask(p))
        parts.append(p)
        got += len(p)
        if limit is not None and got >= limit:
            break
    out = Points.concat(parts)
    return out.take(slice(0, limit)) if limit is not None else out


def read_buckets(
    conn: sqlite3.Connection, series_id: int, n_buckets: int, window: Window, x_axis: str = "step"
) -> rollup.Buckets:
    """At most ``n_buckets`` exact buckets of one series inside ``window``."""
    where, args = _where(window, series_id)
    chunk_units = _summaries(conn, series_id, where, args)
    if len(chunk_units) == 0:
        return rollup.Buckets(np.empty(0, dtype=UNIT_DTYPE))
    total = int(chunk_units["n"].sum())
    if window.axis == "step":
        lo_x, hi_x = chunk_units["first_step"], chunk_units["last_step"]
    else:
        lo_x, hi_x = chunk_units["min_time"], chunk_units["max_time"]
    full = np.ones(len(chunk_units), dtype=bool)
    if window.lo is not None:
        full &= lo_x >= window.lo
    if window.hi is not None:
        full &= hi_x <= window.hi
    level = (
        "raw" if total <= RAW_FACTOR * n_buckets
        else "sub" if total <= SUB_FACTOR * n_buckets
        else "chunk"
    )
    step_los: list[int] = chunk_units["first_step"].tolist()
    is_full: list[bool] = full.tolist()
    rows: dict[int, tuple[object, ...]] = {}
    cols = "step_lo, n, stride, steps, times, vals" + (", rollup" if level == "sub" else "")
    # Chunk rows are fetched by key: a condition on other columns (the time window) would
    # read every row's blobs to test it. On the step axis the chunks wanted below the chunk
    # level are all those between the first and the last: one range scan.
    if level != "chunk" and window.axis == "step":
        for r in conn.execute(
            f"SELECT {cols} FROM chunks WHERE series_id = ? AND step_lo BETWEEN ? AND ?",
            [series_id, step_los[0], step_los[-1]],
        ):
            rows[int(r[0])] = tuple(r)
    else:
        wanted = step_los if level != "chunk" else [
            s for s, f in zip(step_los, is_full, strict=True) if not f
        ]
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            marks = ",".join("?" * len(part))
            for r in conn.execute(
                f"SELECT {cols} FROM chunks WHERE series_id = ? AND step_lo IN ({marks})",
                [series_id, *part],
            ):
                rows[int(r[0])] = tuple(r)

    pieces: list[Units] = []
    raw: list[Points] = []  # consecutive points not yet summarised (raw level, edges)

    def flush_raw() -> None:
        if raw:
            p = Points.concat(raw)
            step = 1 if level == "raw" else rollup.SUB_BLOCK
            starts = np.arange(0, len(p), step, dtype=np.int64)
            pieces.append(rollup.summarize(p.steps, p.times, p.values, starts))
            raw.clear()

    i, n_chunks = 0, len(step_los)
    while i < n_chunks:
        if is_full[i] and level != "raw":
            j = i + 1
            while j < n_chunks and is_full[j]:
                j += 1
            flush_raw()
            if level == "chunk":
                pieces.append(chunk_units[i:j])
            else:
                blob = b"".join(rows[s][6] for s in step_los[i:j])  # type: ignore[misc]
                pieces.append(np.frombuffer(blob, dtype=UNIT_DTYPE))
            i = j
            continue
        p = decode(*rows[step_los[i]][:6])  # type: ignore[arg-type]
        if not is_full[i]:
            p = p.take(window.mask(p))
        if len(p):
            raw.append(p)
            if level != "raw":
                flush_raw()  # an edge chunk: its own sub-blocks
        i += 1
    flush_raw()
    if not pieces:
        return rollup.Buckets(np.empty(0, dtype=UNIT_DTYPE))
    units = pieces[0] if len(pieces) == 1 else _concat(pieces)
    if x_axis == "step":
        lo = float(units["first_step"][0])
        hi = float(units["last_step"][-1]) + 1.0
    else:
        lo = float(units["min_time"].min())
        hi = float(units["max_time"].max())
        hi = float(np.nextafter(hi, np.inf))
    return rollup.Buckets(rollup.group_into(units, n_buckets, lo, hi, x_axis))
