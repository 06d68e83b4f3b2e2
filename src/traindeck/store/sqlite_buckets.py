"""Exact buckets of a series in SQLite, from the coarsest level that gives enough of them.

A window is covered by raw points, 128-point sub-blocks, chunks or chunk groups (see
``chunks.bucket_level``). For wide windows (chunk and group levels) the groups lying wholly
inside the window give their units (one thin row each, their chunks' units from
``chunk_group_units``), and only the chunks outside them (the ungrouped tail, the window's
edges) are read from the chunk summaries: a read of 1,000 buckets of a billion points
merges ~4,000 group units and at most a few hundred chunk summaries. Narrower windows are
read from the chunk summaries and rows alone. On the time axis the groups also bound which
chunk summaries are looked at (those of the groups whose time range meets the window, and
the ungrouped tail), so no read walks every chunk of a long series.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from . import chunks, rollup, sqlite_groups
from .chunks import ROW_COLS, ChunkRow, Window, bucket_level, chunk_pieces, full_chunks
from .packing import PCODEC, unpack_units_many
from .rollup import UNIT_DTYPE, Units
from .sqlite_chunks import _fetch, _where


def _sub_units(conn: sqlite3.Connection, series_id: int, located: list[tuple[int, int]]
               ) -> Callable[[list[int]], Units]:
    """The sub-block units of the chunks ``(step_lo, tbl)`` (whole, consecutive), as a
    function giving those of a run of them."""
    blobs: dict[int, tuple[bytes, int]] = {}
    if located:
        lo, hi = located[0][0], located[-1][0]
        if any(t == 0 for _, t in located):
            blobs.update((int(a), (b, PCODEC)) for a, b in conn.execute(
                "SELECT step_lo, rollup FROM chunk_rollups WHERE series_id = ? "
                "AND step_lo BETWEEN ? AND ?", (series_id, lo, hi)))
        # open chunks, and full ones written before schema 14, keep them in their row
        for table, name in enumerate(("chunks", "open_chunks")):
            missing = [a for a, t in located if t == table and a not in blobs]
            if missing:
                wanted = set(missing)
                blobs.update((int(a), (b, c)) for a, b, c in conn.execute(
                    f"SELECT step_lo, rollup, codec FROM {name} WHERE series_id = ? "
                    "AND step_lo BETWEEN ? AND ?", (series_id, missing[0], missing[-1]))
                    if a in wanted)
    order = [lo for lo, _ in located]
    units, bounds = unpack_units_many([blobs[lo] for lo in order])
    where = {lo: i for i, lo in enumerate(order)}

    def run(los: list[int]) -> Units:
        return units[bounds[where[los[0]]]:bounds[where[los[-1]] + 1]]

    return run


def _first_run(groups: sqlite_groups.Groups, window: Window) -> npt.NDArray[np.int64]:
    """The indexes of the first run of adjacent groups lying wholly inside ``window``."""
    idx = np.flatnonzero(full_chunks(groups.units, window))
    if len(idx) < 2:
        return idx.astype(np.int64)
    breaks = np.flatnonzero((np.diff(idx) != 1) | (groups.lo[idx[1:]] != groups.end[idx[:-1]]))
    return idx[:breaks[0] + 1] if len(breaks) else idx


def _ranges(conn: sqlite3.Connection, series_id: int, window: Window,
            groups: sqlite_groups.Groups, skip: npt.NDArray[np.int64]
            ) -> list[tuple[int, int]]:
    """The step ranges ``[lo, end)`` (``end`` LAST: to the end) whose chunks may hold
    points of ``window``, besides the groups ``skip``: on the step axis, before and after
    them (the window's own bounds do the rest); on the time axis, the other groups that may
    hold such points and the ungrouped tail, so no query walks the summaries of a whole
    long series."""
    first, last = sqlite_groups.FIRST, sqlite_groups.LAST
    if window.axis == "step":
        if len(skip) == 0:
            return [(first, last)]
        return [(first, int(groups.lo[skip[0]])), (int(groups.end[skip[-1]]), last)]
    tail = sqlite_groups.last_end(conn, series_id)
    if tail is None:
        return [(first, last)]
    keep = np.ones(len(groups), dtype=bool)
    keep[skip] = False
    out: list[tuple[int, int]] = []
    for lo, end in zip(groups.lo[keep].tolist(), groups.end[keep].tolist(), strict=True):
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], end)
        else:
            out.append((lo, end))
    if out and out[-1][1] == tail:
        out[-1] = (out[-1][0], last)
    else:
        out.append((tail, last))
    return out


def _summaries(conn: sqlite3.Connection, series_id: int, window: Window,
               ranges: list[tuple[int, int]]) -> tuple[Units, list[int]]:
    """The summaries of the chunks in ``window`` that start in ``ranges`` (by step)."""
    where, args = _where(window, series_id)
    parts = []
    for lo, end in ranges:
        # a range open at either end has no bound there (the largest step is a step too)
        cond, bounds = where, list(args)
        if lo != sqlite_groups.FIRST:
            cond, bounds = cond + " AND step_lo >= ?", [*bounds, lo]
        if end != sqlite_groups.LAST:
            cond, bounds = cond + " AND step_lo < ?", [*bounds, end]
        part = sqlite_groups.summaries(conn, series_id, cond, bounds)
        if len(part[0]):
            parts.append(part)
    if len(parts) == 1:
        return parts[0]
    units = np.concatenate([u for u, _ in parts]) if parts else np.empty(0, dtype=UNIT_DTYPE)
    return units, [t for _, ts in parts for t in ts]


def _wide(conn: sqlite3.Connection, series_id: int, n_buckets: int, window: Window,
          x_axis: str, groups: sqlite_groups.Groups, run: npt.NDArray[np.int64]
          ) -> rollup.Buckets:
    """Buckets of a window that whole groups (``run``) mostly fill, at the chunk or group
    level: those groups' units, and the summaries of the chunks around them."""
    a, b = int(groups.lo[run[0]]), int(groups.end[run[-1]])
    outside, tables = _summaries(conn, series_id, window,
                                 _ranges(conn, series_id, window, groups, run))
    inside = groups.units[run]
    level = bucket_level(int(inside["n"].sum()) + int(outside["n"].sum()), n_buckets)
    middle = inside if level == "group" else sqlite_groups.chunk_units(conn, series_id, a, b)
    split = int(np.searchsorted(outside["first_step"], a))
    pieces: list[Units] = []
    for units, tbls, tail in ((outside[:split], tables[:split], [middle]),
                              (outside[split:], tables[split:], [])):
        is_full: list[bool] = full_chunks(units, window).tolist()
        edges = [(lo, t) for lo, t, f in
                 zip(units["first_step"].tolist(), tbls, is_full, strict=True) if not f]
        rows = _fetch(conn, series_id, ROW_COLS, edges)
        pieces += chunk_pieces(units, is_full, "chunk", rows, None, window)
        pieces += tail
    return chunks.to_buckets(pieces, n_buckets, x_axis)


def read_buckets(
    conn: sqlite3.Connection, series_id: int, n_buckets: int, window: Window, x_axis: str = "step"
) -> rollup.Buckets:
    """At most ``n_buckets`` exact buckets of one series inside ``window``."""
    groups = sqlite_groups.overlapping(conn, series_id, window)
    run = _first_run(groups, window)
    if len(run) and int(groups.units["n"][run].sum()) > chunks.SUB_FACTOR * n_buckets:
        return _wide(conn, series_id, n_buckets, window, x_axis, groups, run)
    chunk_units, tables = _summaries(conn, series_id, window, _ranges(
        conn, series_id, window, groups, np.empty(0, dtype=np.int64)))
    if len(chunk_units) == 0:
        return rollup.Buckets(np.empty(0, dtype=UNIT_DTYPE))
    level = bucket_level(int(chunk_units["n"].sum()), n_buckets)
    if level == "group":
        level = "chunk"
    is_full: list[bool] = full_chunks(chunk_units, window).tolist()
    step_los: list[int] = chunk_units["first_step"].tolist()
    rows: dict[int, ChunkRow] = {}
    subs = None
    # Chunk rows are fetched by key, from the table holding them: a condition on other
    # columns (the time window) would read every row's blobs to test it. On the step axis
    # the chunks wanted at the raw level are all those between the first and the last: one
    # range scan a table.
    if level == "sub":
        # Whole chunks merge from their sub-block units alone, read with one range scan a
        # table (packed full chunks keep them in ``chunk_rollups``); only the edge chunks
        # are decoded.
        full = [(lo, t) for lo, t, f in zip(step_los, tables, is_full, strict=True) if f]
        subs = _sub_units(conn, series_id, full)
        edges = [(lo, t) for lo, t, f in zip(step_los, tables, is_full, strict=True) if not f]
        rows.update(_fetch(conn, series_id, ROW_COLS, edges))
    elif level == "raw" and window.axis == "step":
        for table, name in enumerate(("chunks", "open_chunks")):
            los = [lo for lo, t in zip(step_los, tables, strict=True) if t == table]
            if los:
                for r in conn.execute(
                    f"SELECT {ROW_COLS} FROM {name} WHERE series_id = ? "
                    "AND step_lo BETWEEN ? AND ?", [series_id, los[0], los[-1]],
                ):
                    rows[int(r[0])] = tuple(r)
    else:
        wanted = [(lo, t) for lo, t, f in zip(step_los, tables, is_full, strict=True)
                  if level != "chunk" or not f]
        rows = _fetch(conn, series_id, ROW_COLS, wanted)
    pieces = chunk_pieces(chunk_units, is_full, level, rows, subs, window)
    return chunks.to_buckets(pieces, n_buckets, x_axis)
