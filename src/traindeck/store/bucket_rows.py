"""Exact buckets of a series (either engine), from the coarsest level that gives enough.

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

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from . import chunks, group_rows, rollup
from .chunk_rows import _fetch, _where
from .chunks import ROW_COLS, ChunkRow, Window, bucket_level, chunk_pieces, full_chunks
from .engine import Conn
from .packing import PCODEC, RAW, unpack_cols_many
from .rollup import UNIT_DTYPE, Cols, Units


def _sub_units(conn: Conn, series_id: int, located: list[tuple[int, int, int]],
               known: dict[int, bytes]) -> Callable[[list[int]], Cols]:
    """The sub-block units of the chunks ``(step_lo, step_hi, tbl)`` (whole, consecutive),
    as a function giving those of a run of them, as columns. A packed full chunk's are in
    ``chunk_rollups`` or, once its group took them, in the group's row; the others' (open
    chunks, raw ones written before schema 14) in the chunk's own row, but for the open
    chunks in ``known`` (``step_lo`` → their units, raw): one of at most ``SUB_BLOCK``
    points is one sub-block, its own summary, already read (a live series' tail is dozens
    of them, and their rows need not be read again)."""
    blobs: dict[int, tuple[bytes, int]] = {a: (b, RAW) for a, b in known.items()}
    grouped: Cols = {}
    in_group = np.zeros(len(located), dtype=bool)
    g_start = g_stop = np.zeros(len(located), dtype=np.int64)
    if located:
        lo, hi = located[0][0], located[-1][0]
        if any(t == 0 for _, _, t in located):
            blobs.update((int(a), (b, PCODEC)) for a, b in conn.execute(
                "SELECT step_lo, rollup FROM chunk_rollups WHERE series_id = ? "
                "AND step_lo BETWEEN ? AND ?", (series_id, lo, hi)))
        pending = [i for i, (a, _, t) in enumerate(located) if t == 0 and a not in blobs]
        if pending:
            grouped = group_rows.group_subs(conn, series_id, located[pending[0]][0],
                                               located[pending[-1]][0])
            at = np.array(pending, dtype=np.int64)
            firsts = grouped["first_step"]
            g_start = np.zeros(len(located), dtype=np.int64)
            g_stop = np.zeros(len(located), dtype=np.int64)
            g_start[at] = np.searchsorted(firsts, [located[i][0] for i in pending])
            g_stop[at] = np.searchsorted(firsts, [located[i][1] for i in pending], side="right")
            in_group = g_stop > g_start
        # open chunks, and full ones written before schema 14, keep them in their row
        inside: list[bool] = in_group.tolist()
        for table, name in enumerate(("chunks", "open_chunks")):
            missing = [a for (a, _, t), g in zip(located, inside, strict=True)
                       if t == table and not g and a not in blobs]
            if missing:
                wanted = set(missing)
                blobs.update((int(a), (b, c)) for a, b, c in conn.execute(
                    f"SELECT step_lo, rollup, codec FROM {name} WHERE series_id = ? "
                    "AND step_lo BETWEEN ? AND ?", (series_id, missing[0], missing[-1]))
                    if a in wanted)
    order = [a for a, _, _ in located]
    own, own_bounds = unpack_cols_many(
        [blobs[a] for a, g in zip(order, in_group.tolist(), strict=True) if not g])
    units, bounds = _assemble(own, np.asarray(own_bounds, dtype=np.int64), grouped, in_group,
                              g_start, g_stop)
    where = {lo: i for i, lo in enumerate(order)}

    def run(los: list[int]) -> Cols:
        return rollup.cols_slice(units, bounds[where[los[0]]], bounds[where[los[-1]] + 1])

    return run


def _assemble(own: Cols, own_bounds: npt.NDArray[np.int64], grouped: Cols,
              in_group: npt.NDArray[np.bool_], g_start: npt.NDArray[np.int64],
              g_stop: npt.NDArray[np.int64]) -> tuple[Cols, list[int]]:
    """The units of consecutive chunks as columns (and where each chunk's begin, plus the
    end): a chunk's from ``own`` (the chunks not ``in_group``, in order, split at
    ``own_bounds``) or its span ``[g_start, g_stop)`` of ``grouped``; runs of chunks whose
    units follow each other in one source are copied as one."""
    k = np.cumsum(~in_group) - 1  # each chunk's index among the own ones
    start = np.where(in_group, g_start, own_bounds[:-1][np.clip(k, 0, None)]
                     if len(own_bounds) > 1 else 0)
    stop = np.where(in_group, g_stop, own_bounds[1:][np.clip(k, 0, None)]
                    if len(own_bounds) > 1 else 0)
    bounds = np.concatenate([[0], np.cumsum(stop - start)]).tolist()
    if len(start) == 0:
        return own, bounds
    # a new segment where the source changes or a chunk's units do not follow the last's
    cut = np.flatnonzero((in_group[1:] != in_group[:-1]) | (start[1:] != stop[:-1])) + 1
    firsts = np.concatenate([[0], cut]).tolist()
    lasts = np.concatenate([cut - 1, [len(start) - 1]]).tolist()
    segments = [rollup.cols_slice(grouped if in_group[i] else own, start[i], stop[j])
                for i, j in zip(firsts, lasts, strict=True)]
    return (segments[0] if len(segments) == 1 else rollup.cols_concat(segments)), bounds


def _first_run(groups: group_rows.Groups, window: Window) -> npt.NDArray[np.int64]:
    """The indexes of the first run of adjacent groups lying wholly inside ``window``."""
    idx = np.flatnonzero(full_chunks(groups.units, window))
    if len(idx) < 2:
        return idx.astype(np.int64)
    breaks = np.flatnonzero((np.diff(idx) != 1) | (groups.lo[idx[1:]] != groups.end[idx[:-1]]))
    return idx[:breaks[0] + 1] if len(breaks) else idx


def _ranges(conn: Conn, series_id: int, window: Window,
            groups: group_rows.Groups, skip: npt.NDArray[np.int64]
            ) -> list[tuple[int, int]]:
    """The step ranges ``[lo, end)`` (``end`` LAST: to the end) whose chunks may hold
    points of ``window``, besides the groups ``skip``: on the step axis, before and after
    them (the window's own bounds do the rest); on the time axis, the other groups that may
    hold such points and the ungrouped tail, so no query walks the summaries of a whole
    long series."""
    first, last = group_rows.FIRST, group_rows.LAST
    if window.axis == "step":
        if len(skip) == 0:
            return [(first, last)]
        return [(first, int(groups.lo[skip[0]])), (int(groups.end[skip[-1]]), last)]
    tail = group_rows.last_end(conn, series_id)
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


def _summaries(conn: Conn, series_id: int, window: Window,
               ranges: list[tuple[int, int]]) -> tuple[Units, list[int]]:
    """The summaries of the chunks in ``window`` that start in ``ranges`` (by step)."""
    where, args = _where(window, series_id)
    parts = []
    for lo, end in ranges:
        # a range open at either end has no bound there (the largest step is a step too)
        cond, bounds = where, list(args)
        if lo != group_rows.FIRST:
            cond, bounds = cond + " AND step_lo >= ?", [*bounds, lo]
        if end != group_rows.LAST:
            cond, bounds = cond + " AND step_lo < ?", [*bounds, end]
        part = group_rows.summaries(conn, series_id, cond, bounds)
        if len(part[0]):
            parts.append(part)
    if len(parts) == 1:
        return parts[0]
    units = np.concatenate([u for u, _ in parts]) if parts else np.empty(0, dtype=UNIT_DTYPE)
    return units, [t for _, ts in parts for t in ts]


def _outside(conn: Conn, series_id: int, window: Window,
             groups: group_rows.Groups, run: npt.NDArray[np.int64]
             ) -> tuple[Units, list[int], int]:
    """The summaries of the chunks in ``window`` outside the groups ``run`` (by step), the
    table holding each, and where the run's chunks go among them."""
    outside, tables = _summaries(conn, series_id, window,
                                 _ranges(conn, series_id, window, groups, run))
    split = (int(np.searchsorted(outside["first_step"], groups.lo[run[0]])) if len(run)
             else len(outside))
    return outside, tables, split


def _chunk_summaries(conn: Conn, series_id: int, window: Window,
                     groups: group_rows.Groups, run: npt.NDArray[np.int64]
                     ) -> tuple[Units, list[int]]:
    """The summaries of the chunks in ``window`` and the table holding each: those of the
    groups ``run`` (wholly inside the window) from the groups' own rows (a few blobs, not a
    row a chunk), the others from the chunk summaries."""
    outside, tables, split = _outside(conn, series_id, window, groups, run)
    if len(run) == 0:
        return outside, tables
    a, b = int(groups.lo[run[0]]), int(groups.end[run[-1]])
    middle = group_rows.chunk_units(conn, series_id, a, b)
    # a rewrite can leave an open chunk inside a group: the one table that may hold it
    opened = {int(lo) for (lo,) in conn.execute(
        "SELECT step_lo FROM open_chunks WHERE series_id = ? AND step_lo >= ? AND step_lo < ?",
        (series_id, a, b))}
    units = np.concatenate([outside[:split], middle, outside[split:]])
    return units, [*tables[:split], *(int(lo in opened) for lo in middle["first_step"].tolist()),
                   *tables[split:]]


def _wide(conn: Conn, series_id: int, n_buckets: int, window: Window,
          x_axis: str, groups: group_rows.Groups, run: npt.NDArray[np.int64]
          ) -> rollup.Buckets:
    """Buckets of a window that whole groups (``run``) mostly fill, at the chunk or group
    level: those groups' units, and the summaries of the chunks around them."""
    a, b = int(groups.lo[run[0]]), int(groups.end[run[-1]])
    outside, tables, split = _outside(conn, series_id, window, groups, run)
    inside = groups.units[run]
    level = bucket_level(int(inside["n"].sum()) + int(outside["n"].sum()), n_buckets)
    middle = inside if level == "group" else group_rows.chunk_units(conn, series_id, a, b)
    pieces: list[Units | Cols] = []
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
    conn: Conn, series_id: int, n_buckets: int, window: Window, x_axis: str = "step"
) -> rollup.Buckets:
    """At most ``n_buckets`` exact buckets of one series inside ``window``."""
    groups = group_rows.overlapping(conn, series_id, window)
    run = _first_run(groups, window)
    if len(run) and int(groups.units["n"][run].sum()) > chunks.SUB_FACTOR * n_buckets:
        return _wide(conn, series_id, n_buckets, window, x_axis, groups, run)
    chunk_units, tables = _chunk_summaries(conn, series_id, window, groups, run)
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
        his: list[int] = chunk_units["last_step"].tolist()
        full = [(lo, hi, t) for lo, hi, t, f in zip(step_los, his, tables, is_full, strict=True)
                if f]
        ns: list[int] = chunk_units["n"].tolist()
        one = [i for i, (t, f, n) in enumerate(zip(tables, is_full, ns, strict=True))
               if f and t == 1 and n <= rollup.SUB_BLOCK]
        subs = _sub_units(conn, series_id, full,
                          {step_los[i]: chunk_units[i:i + 1].tobytes() for i in one})
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
