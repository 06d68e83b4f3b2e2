"""Chunk rows in SQLite: write a series' points (idempotent) and read windows of them.

The encoding and the bucketing are ``chunks``'s; this module stores and fetches the rows
inside the caller's transaction or snapshot. Chunk summaries come from the covering index
``chunks_summary`` (schema migration 2), never from the chunk rows themselves: a summary
column stored after ~64 KiB of blobs costs a walk of the row's overflow pages. Chunk rows
are fetched by key only, for the same reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

import numpy as np

from . import chunks, sqlite_groups
from .chunks import (
    ROW_COLS,
    ChunkRow,
    Points,
    Window,
    decode,
    encode,
    merge_points,
    pieces,
)
from .packing import RAW, Packer

_F8: Final = np.dtype("<f8")
_I8: Final = np.dtype("<i8")
_CHUNK_COLS: Final = (
    "series_id, step_lo, step_hi, n, stride, steps, times, vals, rollup, nf, vmin, vmax, vsum, "
    "first_time, last_time, min_time, max_time, last_value, nnan, npinf, nninf, codec"
)
#: Chunk rows fetched by key at a time (read_points).
_FETCH: Final = 32
_VALUES: Final = "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#: Open chunks are rewritten at every flush: kept raw. Full ones are compressed.
_OPEN_PACKER: Final = Packer(RAW)
#: Where a chunk is written: full ones (CHUNK_MAX points) among the full, the others apart
#: (schema migration 13: appending to them rewrites small rows packed together).
_INSERT_FULL: Final = f"INSERT OR REPLACE INTO chunks ({_CHUNK_COLS}) {_VALUES}"
_INSERT_OPEN: Final = f"INSERT OR REPLACE INTO open_chunks ({_CHUNK_COLS}) {_VALUES}"
_DELETE: Final = ("DELETE FROM chunks WHERE series_id = ? AND step_lo = ?",
                  "DELETE FROM open_chunks WHERE series_id = ? AND step_lo = ?")
#: A packed full chunk's sub-block units live apart (schema 14), in a small row that a read
#: of many chunks' sub-blocks scans without walking the chunk rows' overflow pages.
_INSERT_ROLLUP: Final = ("INSERT OR REPLACE INTO chunk_rollups (series_id, step_lo, rollup) "
                         "VALUES (?, ?, ?)")
_DELETE_ROLLUP: Final = "DELETE FROM chunk_rollups WHERE series_id = ? AND step_lo = ?"
_ROLLUP_AT: Final = 8  # where encode's row (after series_id) has the rollup blob
#: A series' chunks by step, each with the table holding it (0: chunks, 1: open_chunks).
_LIST: Final = (
    "SELECT step_lo, n, 0 FROM chunks WHERE series_id = ? UNION ALL "
    "SELECT step_lo, n, 1 FROM open_chunks WHERE series_id = ? ORDER BY step_lo"
)

def both_chunks(fn: str, col: str, series: str = "s.id") -> str:
    """SQL for ``fn(col)`` (SUM, MIN or MAX) over the chunks of the series ``series`` names,
    in both tables, each read from its covering index: a join with the ``all_chunks`` view
    (or an aggregate over it in a join) would materialize the whole view."""
    a, b = (f"(SELECT {fn}({col}) FROM {t} WHERE series_id = {series})"
            for t in ("chunks", "open_chunks"))
    combined = f"{a} + {b}" if fn == "SUM" else f"{fn.lower()}({a}, {b})"
    return f"COALESCE({combined}, {a}, {b})"


def _load(conn: sqlite3.Connection, series_id: int, step_lo: int, table: int) -> Points:
    row = conn.execute(
        f"SELECT {ROW_COLS} FROM "
        f"{'open_chunks' if table else 'chunks'} WHERE series_id = ? AND step_lo = ?",
        (series_id, step_lo),
    ).fetchone()
    return decode(*row)


def _drop(conn: sqlite3.Connection, series_id: int, found: list[tuple[int, int, int]]) -> None:
    """Delete chunks ``(step_lo, n, table)`` from the tables holding them."""
    for table in (0, 1):
        los = [(series_id, lo) for lo, _, t in found if t == table]
        if los:
            conn.executemany(_DELETE[table], los)
            if table == 0:
                conn.executemany(_DELETE_ROLLUP, los)


def _insert_full(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert full chunk rows (``series_id, *encode(...)``): a packed one's sub-block units
    into ``chunk_rollups``, its own ``rollup`` left empty."""
    rollups = [(r[0], r[1], r[_ROLLUP_AT]) for r in rows if r[-1] != RAW]
    if rollups:
        rows = [(*r[:_ROLLUP_AT], b"", *r[_ROLLUP_AT + 1:]) if r[-1] != RAW else r
                for r in rows]
        conn.executemany(_INSERT_ROLLUP, rollups)
    conn.executemany(_INSERT_FULL, rows)


def _write_pieces(conn: sqlite3.Connection, series_id: int, p: Points, packer: Packer) -> bool:
    """``p`` as chunks: the full ones into ``chunks`` (packed by ``packer``), a partial one
    into ``open_chunks``, raw (the caller deleted whatever held those steps before).
    Whether any full chunk was written."""
    full: list[tuple[object, ...]] = []
    partial: list[tuple[object, ...]] = []
    for part in pieces(p):
        if len(part) >= chunks.CHUNK_MAX:
            full.append((series_id, *encode(part, packer)))
        else:
            partial.append((series_id, *encode(part, _OPEN_PACKER)))
    if full:
        _insert_full(conn, full)
    if partial:
        conn.executemany(_INSERT_OPEN, partial)
    return bool(full)


def _append(conn: sqlite3.Connection, series_id: int, p: Points, packer: Packer) -> None:
    """Points after the series' last step: the cost follows what is appended, not the
    chunk size (a training loop appends one point per key per flush).

    The chunks at the end holding fewer than ``CHUNK_MAX`` points are *open*. The newest is
    rewritten with the new points while it holds fewer than ``chunks.tail_max()``; past
    that the points start a new open chunk. Once the open chunks and the new points make a
    whole chunk, they are merged into full chunks (and a small remainder): each point is
    rewritten a bounded number of times, and a series keeps at most about
    ``CHUNK_MAX / tail_max`` open chunks besides its full ones.
    """
    tail_max = chunks.tail_max()
    open_: list[tuple[int, int, int]] = []  # (step_lo, n, table), newest first
    for lo, n, table in conn.execute(
        f"{_LIST} DESC LIMIT ?", (series_id, series_id, chunks.CHUNK_MAX // tail_max + 2),
    ):
        if n >= chunks.CHUNK_MAX:
            break
        open_.append((lo, n, table))
    rewritten = open_  # the open chunks rewritten (their groups, if any, are recomputed)
    if open_ and sum(n for _, n, _ in open_) + len(p) >= chunks.CHUNK_MAX:
        merged = Points.concat([*(_load(conn, series_id, lo, t) for lo, _, t in reversed(open_)),
                                p])
        _drop(conn, series_id, open_)
        wrote_full = _write_pieces(conn, series_id, merged, packer)
    elif open_ and open_[0][1] < tail_max:
        lo, _, table = open_[0]
        tail = _load(conn, series_id, lo, table)
        if table == 0:  # a partial chunk among the full (written before migration 13)
            _drop(conn, series_id, open_[:1])
        rewritten = open_[:1]
        wrote_full = _write_pieces(conn, series_id, Points.concat([tail, p]), packer)
    else:
        rewritten = []
        wrote_full = _write_pieces(conn, series_id, p, packer)
    if rewritten:
        # open chunks are mostly past the last group, but a rewrite in the middle can leave
        # one inside a group (the newest chunk there)
        sqlite_groups.refresh(conn, series_id, rewritten[-1][0], sqlite_groups.LAST)
    if wrote_full:
        sqlite_groups.extend(conn, series_id)


def write_series(
    conn: sqlite3.Connection, series_id: int, last_step: int | None, p: Points, packer: Packer
) -> None:
    """Write normalised points of one series inside the caller's transaction; full chunks
    are packed by ``packer``."""
    if len(p) == 0:
        return
    if last_step is None or int(p.steps[0]) > last_step:
        _append(conn, series_id, p, packer)
        return
    found = [(int(lo), int(n), int(t)) for lo, n, t in
             conn.execute(_LIST, (series_id, series_id))]
    if not found:
        if _write_pieces(conn, series_id, p, packer):
            sqlite_groups.extend(conn, series_id)
        return
    los = np.array([lo for lo, _, _ in found], dtype=_I8)
    which = np.clip(np.searchsorted(los, p.steps, side="right") - 1, 0, None)
    bounds = np.flatnonzero(np.diff(which, prepend=-1))
    lo, hi = int(p.steps[0]), int(p.steps[-1])
    for i, start in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(p)
        chunk = found[int(which[start])]
        merged = merge_points(_load(conn, series_id, chunk[0], chunk[2]),
                              p.take(slice(start, end)))
        lo, hi = min(lo, chunk[0]), max(hi, int(merged.steps[-1]))
        _drop(conn, series_id, [chunk])
        _write_pieces(conn, series_id, merged, packer)
    # the chunks rewritten all start between lo and hi: their groups are recomputed, and
    # full chunks written past the last group may make new ones
    sqlite_groups.refresh(conn, series_id, lo, hi)
    sqlite_groups.extend(conn, series_id)


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
            " AND step_lo >= COALESCE((SELECT step_lo FROM all_chunks WHERE series_id = ? "
            "AND step_lo <= ? ORDER BY step_lo DESC LIMIT 1), ?)"
        )
        args += [series_id, window.lo, window.lo]
    return where, args


def _fetch(conn: sqlite3.Connection, series_id: int, cols: str,
           located: Sequence[tuple[int, int]]) -> dict[int, ChunkRow]:
    """The rows (``cols``, ``step_lo`` first) of the chunks ``(step_lo, tbl)``, each read
    by key from the table holding it."""
    rows: dict[int, ChunkRow] = {}
    for table, name in enumerate(("chunks", "open_chunks")):
        los = [lo for lo, t in located if t == table]
        for i in range(0, len(los), 500):
            part = los[i:i + 500]
            for r in conn.execute(
                f"SELECT {cols} FROM {name} WHERE series_id = ? "
                f"AND step_lo IN ({','.join('?' * len(part))})", [series_id, *part]):
                rows[int(r[0])] = tuple(r)
    return rows


def _fetch_range(conn: sqlite3.Connection, series_id: int, cols: str,
                 located: Sequence[tuple[int, int]]) -> dict[int, ChunkRow]:
    """Like ``_fetch`` for consecutive chunks: one range scan a table (a scan steps from row
    to row; each key of an ``IN`` list is a seek, which in ``chunks`` compares big rows)."""
    rows: dict[int, ChunkRow] = {}
    for table, name in enumerate(("chunks", "open_chunks")):
        los = [lo for lo, t in located if t == table]
        if los:
            for r in conn.execute(
                f"SELECT {cols} FROM {name} WHERE series_id = ? AND step_lo BETWEEN ? AND ?",
                [series_id, los[0], los[-1]],
            ):
                rows[int(r[0])] = tuple(r)
    return rows


def read_points(
    conn: sqlite3.Connection, series_id: int, window: Window, limit: int | None = None
) -> Points:
    """Raw points of one series inside ``window``, by step (at most ``limit``): the chunks
    are found in the summary indexes, then fetched by key from the table holding each."""
    where, args = _where(window, series_id)
    # read lazily: with a limit, only the chunks it needs are located (a window of a
    # long series would otherwise list every chunk after it, for each page)
    locate = conn.execute(
        f"SELECT step_lo, tbl FROM all_chunks WHERE series_id = ?{where} ORDER BY step_lo",
        [series_id, *args])
    parts: list[Points] = []
    got = 0
    while wanted := [(int(lo), int(t)) for lo, t in locate.fetchmany(_FETCH)]:
        rows = _fetch_range(conn, series_id, ROW_COLS, wanted)
        for lo, _ in wanted:
            p = decode(*rows[lo])  # type: ignore[arg-type]
            p = p.take(window.mask(p))
            parts.append(p)
            got += len(p)
            if limit is not None and got >= limit:
                locate.close()
                return Points.concat(parts).take(slice(0, limit))
    return Points.concat(parts)




def pack_open(conn: sqlite3.Connection, run_id: str, packer: Packer) -> None:
    """Pack the raw open chunks of a run that ended: its last points are not appended to
    any more (and if it comes back, appending unpacks them again)."""
    rows = conn.execute(
        f"SELECT o.series_id, {', '.join('o.' + c for c in ROW_COLS.split(', '))} "
        "FROM open_chunks o JOIN series s ON s.id = o.series_id "
        "WHERE s.run_id = ? AND o.codec = ?", (run_id, RAW)).fetchall()
    packed = [(sid, *encode(decode(*row), packer)) for sid, *row in rows]
    if packed:
        conn.executemany(_INSERT_OPEN, packed)


def repack(conn: sqlite3.Connection, packer: Packer, limit: int) -> int:
    """Re-pack up to ``limit`` full chunks not packed by ``packer`` (a store written before
    migration 14 holds raw ones); how many were."""
    rows = conn.execute(
        f"SELECT series_id, {ROW_COLS} FROM chunks WHERE codec != ? LIMIT ?",
        (packer.codec, limit)).fetchall()
    if rows:
        _insert_full(conn, [(sid, *encode(decode(*row), packer)) for sid, *row in rows])
    return len(rows)
