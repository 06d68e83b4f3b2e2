"""Exact buckets of a series in SQLite, from the coarsest level that gives enough of them.

A window is covered by raw points, 64-point sub-blocks, chunks or chunk groups (see
``chunks.bucket_level``). For wide windows (chunk and group levels) the groups lying wholly
inside the window give their units in one row each, and only the chunks outside them (the
ungrouped tail, the window's edges) are read from the chunk summaries: a read of 1,000
buckets of a billion points merges ~4,000 group units and at most a few hundred chunk
summaries. Narrower windows are read from the chunk summaries and rows alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

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


def _inside(groups: list[tuple[int, int, int, bytes]], window: Window
            ) -> tuple[int, int, list[Units]]:
    """The first run of consecutive groups lying wholly inside ``window``: its step
    boundaries ``[lo, end)`` and the groups' units (``lo == end`` when there is none)."""
    run: list[Units] = []
    lo = end = 0
    for g_lo, g_end, _, unit in groups:
        u = np.frombuffer(unit, dtype=UNIT_DTYPE)
        if bool(full_chunks(u, window)[0]) and (not run or g_lo == end):
            if not run:
                lo = g_lo
            run.append(u)
            end = g_end
        elif run:
            break
    return lo, end, run


def _chunk_level(conn: sqlite3.Connection, series_id: int, n_buckets: int, window: Window,
                 x_axis: str) -> rollup.Buckets | None:
    """Buckets read through the chunk groups, or None when the window is too narrow for
    the chunk level (the caller then reads chunk summaries and rows)."""
    groups = sqlite_groups.overlapping(conn, series_id, window)
    g_lo, g_end, inside = _inside(groups, window)
    inside_n = sum(int(u["n"][0]) for u in inside)
    if inside_n <= chunks.SUB_FACTOR * n_buckets:
        return None
    where, args = _where(window, series_id)
    before, b_tables = sqlite_groups.summaries(
        conn, series_id, where + " AND step_lo < ?", [*args, g_lo])
    after, a_tables = sqlite_groups.summaries(
        conn, series_id, where + " AND step_lo >= ?", [*args, g_end])
    total = inside_n + int(before["n"].sum()) + int(after["n"].sum())
    level = bucket_level(total, n_buckets)
    if level == "group":
        middle = inside
    else:
        middle = sqlite_groups.chunk_units(conn, series_id, g_lo, g_end)
    pieces: list[Units] = []
    for units, tables, tail in ((before, b_tables, middle), (after, a_tables, [])):
        is_full: list[bool] = full_chunks(units, window).tolist()
        edges = [(lo, t) for lo, t, f in
                 zip(units["first_step"].tolist(), tables, is_full, strict=True) if not f]
        rows = _fetch(conn, series_id, ROW_COLS, edges)
        pieces += chunk_pieces(units, is_full, "chunk", rows, None, window)
        pieces += tail
    return chunks.to_buckets(pieces, n_buckets, x_axis)


def read_buckets(
    conn: sqlite3.Connection, series_id: int, n_buckets: int, window: Window, x_axis: str = "step"
) -> rollup.Buckets:
    """At most ``n_buckets`` exact buckets of one series inside ``window``."""
    wide = _chunk_level(conn, series_id, n_buckets, window, x_axis)
    if wide is not None:
        return wide
    where, args = _where(window, series_id)
    chunk_units, tables = sqlite_groups.summaries(conn, series_id, where, args)
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
