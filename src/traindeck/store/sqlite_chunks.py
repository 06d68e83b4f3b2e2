"""Chunk rows in SQLite: write a series' points (idempotent) and read windows of them.

The encoding and the bucketing are ``chunks``'s; this module stores and fetches the rows
inside the caller's transaction or snapshot. Chunk summaries come from the covering index
``chunks_summary`` (schema migration 2), never from the chunk rows themselves: a summary
column stored after ~64 KiB of blobs costs a walk of the row's overflow pages. Chunk rows
are fetched by key only, for the same reason.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import numpy as np

from . import chunks, rollup
from .chunks import (
    ChunkRow,
    Points,
    Window,
    assemble_buckets,
    bucket_level,
    decode,
    encode,
    full_chunks,
    merge_points,
    pieces,
)
from .rollup import UNIT_DTYPE, Units

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


def _load(conn: sqlite3.Connection, series_id: int, step_lo: int) -> Points:
    row = conn.execute(
        "SELECT step_lo, n, stride, steps, times, vals FROM chunks "
        "WHERE series_id = ? AND step_lo = ?",
        (series_id, step_lo),
    ).fetchone()
    return decode(*row)


def _write_pieces(conn: sqlite3.Connection, series_id: int, p: Points) -> None:
    conn.executemany(_INSERT_CHUNK, [(series_id, *encode(part)) for part in pieces(p)])


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
        if tail is not None and tail[1] < chunks.CHUNK_MAX:
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
        merged = merge_points(_load(conn, series_id, lo), p.take(slice(start, end)))
        conn.execute("DELETE FROM chunks WHERE series_id = ? AND step_lo = ?", (series_id, lo))
        _write_pieces(conn, series_id, merged)


def _where(window: Window, series_id: int) -> tuple[str, list[object]]:
    """The SQL condition (after ``series_id = ?``) for the chunks that overlap ``window``.

    Chunks of a series never overlap in steps, so on the step axis the first chunk is found
    by one index seek (the last chunk starting at or before ``lo``) instead of a scan of
    every chunk before the window.
    """
    clauses: list[str] = []
    args: list[object] = []
    lo_col, hi_col = ("step_lo", "step_hi") if window.axis == "step" else ("min_time", "max_time")
    if window.lo is not None:
        clauses.append(f"{hi_col} >= ?")
        args.append(window.lo)
    if window.hi is not None:
        clauses.append(f"{lo_col} <= ?")
        args.append(window.hi)
    where = " AND " + " AND ".join(clauses) if clauses else ""
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
    level = bucket_level(int(chunk_units["n"].sum()), n_buckets)
    is_full: list[bool] = full_chunks(chunk_units, window).tolist()
    step_los: list[int] = chunk_units["first_step"].tolist()
    rows: dict[int, ChunkRow] = {}
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
    return assemble_buckets(chunk_units, is_full, level, rows, window, n_buckets, x_axis)
