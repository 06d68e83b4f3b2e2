"""Chunk rows (either engine): write a series' points (idempotent) and read windows of them.

The encoding and the bucketing are ``chunks``'s; this module stores and fetches the rows
inside the caller's transaction or snapshot. Chunk summaries come from the covering index
``chunks_summary`` (schema migration 2), never from the chunk rows themselves: a summary
column stored after ~64 KiB of blobs costs a walk of the row's overflow pages. Chunk rows
are fetched by key only, for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import numpy as np

from . import chunks, group_rows
from .chunks import (
    ROW_COLS,
    ChunkRow,
    Points,
    Window,
    decode,
    encode,
    encode_flat,
    encode_many,
    merge_points,
    pieces,
)
from .engine import (
    Conn,
    Params,
    Pipelined,
    any_of,
    by_keys,
    execute_all,
    insert_rows,
    values_table,
)
from .packing import RAW, Packer
from .rollup import I64

_F8: Final = np.dtype("<f8")
_I8: Final = np.dtype("<i8")
_CHUNK_COLS: Final = (
    "series_id, step_lo, step_hi, n, stride, steps, times, vals, rollup, nf, vmin, vmax, vsum, "
    "first_time, last_time, min_time, max_time, last_value, nnan, npinf, nninf, codec"
)
#: ``ROW_COLS`` of a chunk table named ``c``.
_C_ROW_COLS: Final = ", ".join("c." + col for col in ROW_COLS.split(", "))
#: Chunk rows fetched by key at a time (read_points).
_FETCH: Final = 32
_VALUES: Final = "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#: Open chunks are rewritten at every flush: kept raw. Full ones are compressed.
_OPEN_PACKER: Final = Packer(RAW)
#: Where a chunk is written: full ones (CHUNK_MAX points) among the full, the others apart
#: (schema migration 13: appending to them rewrites small rows packed together).
_INSERT_FULL: Final = f"INSERT OR REPLACE INTO chunks ({_CHUNK_COLS}) {_VALUES}"
#: An open chunk rewritten in place (an upsert, not ``OR REPLACE``): ``OR REPLACE`` deletes
#: the row and inserts a new one under a new rowid, rewriting its entry in the key's index
#: too, where an update keeps both. Every live write rewrites its series' newest open chunk.
_INSERT_OPEN: Final = (
    f"INSERT INTO open_chunks ({_CHUNK_COLS}) {_VALUES} ON CONFLICT (series_id, step_lo) "
    "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _CHUNK_COLS.split(", ")
                                 if c not in ("series_id", "step_lo")))
_DELETE: Final = ("DELETE FROM chunks WHERE series_id = ? AND step_lo = ?",
                  "DELETE FROM open_chunks WHERE series_id = ? AND step_lo = ?")
#: A packed full chunk's sub-block units live apart (schema 14), in a small row that a read
#: of many chunks' sub-blocks scans without walking the chunk rows' overflow pages.
_INSERT_ROLLUP: Final = ("INSERT OR REPLACE INTO chunk_rollups (series_id, step_lo, rollup) "
                         "VALUES (?, ?, ?)")
_DELETE_ROLLUP: Final = "DELETE FROM chunk_rollups WHERE series_id = ? AND step_lo = ?"
_DELETE_OPEN_SPAN: Final = ("DELETE FROM open_chunks WHERE series_id = ? "
                            "AND step_lo BETWEEN ? AND ?")
_ROLLUP_AT: Final = 8  # where encode's row (after series_id) has the rollup blob
#: Chunks encoded together (``_encode``): ~64k points, ~1.5 MB of arrays.
_ENCODE_RUN: Final = 16
#: The SQL types of ``_CHUNK_COLS`` and of a rollup row (``engine.insert_rows``).
_CHUNK_TYPES: Final = (
    *["bigint"] * 5, *["bytea"] * 4, "bigint", *["double precision"] * 7, "bytea",
    *["bigint"] * 4)
_ROLLUP_TYPES: Final = ("bigint", "bigint", "bytea")
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


def _load(conn: Conn, series_id: int, step_lo: int, table: int) -> Points:
    row = conn.execute(
        f"SELECT {ROW_COLS} FROM "
        f"{'open_chunks' if table else 'chunks'} WHERE series_id = ? AND step_lo = ?",
        (series_id, step_lo),
    ).fetchone()
    return decode(*row)


def _load_all(conn: Conn, series_id: int, found: list[tuple[int, int]]) -> list[Points]:
    """The chunks ``found`` (``(step_lo, table)``, consecutive, oldest first) of a series:
    those of ``open_chunks`` with one statement (a merge reads up to
    ``CHUNK_MAX / tail_max`` of them, and a statement a chunk was a round trip each on
    PostgreSQL: ~15 ms a series, seconds when a step fills the chunks of many series)."""
    opened = [lo for lo, table in found if table]
    got: dict[int, Points] = {}
    if opened:
        got = {int(lo): decode(*row) for lo, *row in conn.execute(
            f"SELECT step_lo, {ROW_COLS} FROM open_chunks "
            "WHERE series_id = ? AND step_lo BETWEEN ? AND ?",
            (series_id, min(opened), max(opened)))}
    return [got[lo] if table and lo in got else _load(conn, series_id, lo, table)
            for lo, table in found]


class _Rows:
    """What one write does to the chunk tables, gathered for all its series so that each
    statement runs once a write, not once a series, and the chunks' summaries are computed
    together (``chunks.encode_many``): the chunks deleted, the pieces written, the groups
    to recompute or extend. Applied in that order; each series' part only touches that
    series' rows."""

    def __init__(self) -> None:
        self.drops: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        #: Open chunks deleted by span: (series_id, first step_lo, last step_lo).
        self.spans: list[tuple[int, int, int]] = []
        self.full: list[Points] = []
        self.full_ids: list[int] = []
        self.open: list[Points] = []
        self.open_ids: list[int] = []
        #: Open chunks given laid end to end: (series ids, their points, sizes).
        self.tails: list[tuple[list[int], Points, I64]] = []
        self.refresh: list[tuple[int, int, int]] = []  # (series_id, lo, hi)
        self.extend: list[int] = []  # series_id

    def drop(self, series_id: int, found: list[tuple[int, int, int]]) -> None:
        """Delete chunks ``(step_lo, n, table)`` from the tables holding them."""
        for lo, _, table in found:
            self.drops[table].append((series_id, lo))

    def drop_newest(self, series_id: int, found: list[tuple[int, int, int]]) -> None:
        """``drop`` of a series' newest chunks, every one of them from the oldest in
        ``found`` on: its open chunks with one statement (a merge drops up to
        ``CHUNK_MAX / tail_max`` of them, a statement each, ~14,000 when a step fills
        the chunks of 225 series)."""
        opened = [lo for lo, _, table in found if table]
        if opened:
            self.spans.append((series_id, min(opened), max(opened)))
        self.drop(series_id, [f for f in found if not f[2]])

    def apply(self, conn: Conn, packer: Packer) -> None:
        full, open_ = self.drops
        if full:
            conn.executemany(_DELETE[0], full)
            conn.executemany(_DELETE_ROLLUP, full)
        if open_:
            conn.executemany(_DELETE[1], open_)
        if self.spans:
            conn.executemany(_DELETE_OPEN_SPAN, self.spans)
        if self.full:
            _insert_full(conn, [(sid, *row) for sid, row in zip(
                self.full_ids, _encode(self.full, packer), strict=True)])
        opened: list[tuple[object, ...]] = []
        if self.open:
            opened += [(sid, *row) for sid, row in zip(
                self.open_ids, _encode(self.open, _OPEN_PACKER), strict=True)]
        for ids, flat, sizes in self.tails:
            opened += [(sid, *row) for sid, row in zip(
                ids, encode_flat(flat, sizes, _OPEN_PACKER), strict=True)]
        if opened:
            _insert_rows(conn, _INSERT_OPEN, opened)
        for series_id, lo, hi in self.refresh:
            group_rows.refresh(conn, series_id, lo, hi)
        for series_id in dict.fromkeys(self.extend):
            group_rows.extend(conn, series_id)


def _encode(parts: list[Points], packer: Packer) -> list[tuple[object, ...]]:
    """``encode_many`` in runs of at most ``_ENCODE_RUN`` chunks: a write of many chunks
    (all of a fast loop's points, after it) would otherwise go through numpy as arrays too
    big for the CPU's caches."""
    if len(parts) <= _ENCODE_RUN:
        return encode_many(parts, packer)
    return [row for i in range(0, len(parts), _ENCODE_RUN)
            for row in encode_many(parts[i:i + _ENCODE_RUN], packer)]


def _insert_full(conn: Conn, rows: list[tuple[object, ...]]) -> None:
    """Insert full chunk rows (``series_id, *encode(...)``): a packed one's sub-block units
    into ``chunk_rollups``, its own ``rollup`` left empty."""
    rollups: list[tuple[object, ...]] = [(r[0], r[1], r[_ROLLUP_AT]) for r in rows
                                         if r[-1] != RAW]
    if rollups:
        rows = [(*r[:_ROLLUP_AT], b"", *r[_ROLLUP_AT + 1:]) if r[-1] != RAW else r
                for r in rows]
        _insert_rows(conn, _INSERT_ROLLUP, rollups, _ROLLUP_TYPES)
    _insert_rows(conn, _INSERT_FULL, rows)


def _insert_rows(conn: Conn, insert: str, rows: list[tuple[object, ...]],
                 types: tuple[str, ...] = _CHUNK_TYPES) -> None:
    """``engine.insert_rows`` of chunk rows (``_CHUNK_COLS``; or of ``types``), keyed by
    ``(series_id, step_lo)``."""
    insert_rows(conn, insert, rows, types, key=2)


def _write_pieces(rows: _Rows, series_id: int, p: Points) -> bool:
    """``p`` as chunks: the full ones into ``chunks`` (packed), a partial one into
    ``open_chunks``, raw (whatever held those steps before is dropped first). Whether any
    full chunk is written."""
    wrote_full = False
    for part in pieces(p):
        if len(part) >= chunks.CHUNK_MAX:
            rows.full.append(part)
            rows.full_ids.append(series_id)
            wrote_full = True
        else:
            rows.open.append(part)
            rows.open_ids.append(series_id)
    return wrote_full


def _append(conn: Conn, rows: _Rows, series_id: int, p: Points) -> None:
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
        merged = Points.concat([*_load_all(conn, series_id,
                                           [(lo, t) for lo, _, t in reversed(open_)]), p])
        rows.drop_newest(series_id, open_)
        wrote_full = _write_pieces(rows, series_id, merged)
    elif open_ and open_[0][1] < tail_max:
        lo, _, table = open_[0]
        tail = _load(conn, series_id, lo, table)
        if table == 0:  # a partial chunk among the full (written before migration 13)
            rows.drop(series_id, open_[:1])
        rewritten = open_[:1]
        wrote_full = _write_pieces(rows, series_id, Points.concat([tail, p]))
    else:
        rewritten = []
        wrote_full = _write_pieces(rows, series_id, p)
    if rewritten:
        # open chunks are mostly past the last group, but a rewrite in the middle can leave
        # one inside a group (the newest chunk there)
        rows.refresh.append((series_id, rewritten[-1][0], group_rows.LAST))
    if wrote_full:
        rows.extend.append(series_id)


def _rewrite(conn: Conn, rows: _Rows, series_id: int, p: Points) -> None:
    """Points among the series' own: each chunk they fall in is merged with them."""
    found = [(int(lo), int(n), int(t)) for lo, n, t in
             conn.execute(_LIST, (series_id, series_id))]
    if not found:
        if _write_pieces(rows, series_id, p):
            rows.extend.append(series_id)
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
        rows.drop(series_id, [chunk])
        _write_pieces(rows, series_id, merged)
    # the chunks rewritten all start between lo and hi: their groups are recomputed, and
    # full chunks written past the last group may make new ones
    rows.refresh.append((series_id, lo, hi))
    rows.extend.append(series_id)


#: The tail of many series at once (``_tails``): per series, the open chunks after its
#: newest full one (their points, NULL when there are none; the newest's start and size:
#: one scan of them a series, where a count of them was a second), whether a chunk
#: of ``chunks`` that is not full is newer (written before migration 13), and where its
#: last group ends.
_TAILS: Final = """
WITH s(id) AS (SELECT value FROM json_each(?)),
     f(id, lo, n) AS (
       SELECT s.id,
              (SELECT step_lo FROM chunks INDEXED BY chunks_summary WHERE series_id = s.id
               ORDER BY step_lo DESC LIMIT 1),
              (SELECT n FROM chunks INDEXED BY chunks_summary WHERE series_id = s.id
               ORDER BY step_lo DESC LIMIT 1)
       FROM s)
SELECT f.id, f.n,
       (SELECT sum(o.n) FROM open_chunks o WHERE o.series_id = f.id
                                             AND o.step_lo > COALESCE(f.lo, -9223372036854775808)),
       (SELECT o.step_lo FROM open_chunks o WHERE o.series_id = f.id ORDER BY o.step_lo DESC
        LIMIT 1),
       (SELECT o.n FROM open_chunks o WHERE o.series_id = f.id ORDER BY o.step_lo DESC LIMIT 1),
       (SELECT g.step_end FROM chunk_groups g WHERE g.series_id = f.id
        ORDER BY g.step_lo DESC LIMIT 1)
FROM f
"""

#: The newest open chunk of each series of a JSON array of ids (``_TAILS``' ``lo``), for
#: PostgreSQL only (``_append_many`` sends it on a ``Pipelined`` connection): one index
#: lookup an id, whatever the plan cache holds. (Written as a join, PostgreSQL kept the
#: plan it made while the table was small, a scan of every open chunk of the store, and
#: under issue 14's load that cost 29 ms a group commit: a third of the cluster's time.)
_NEWEST_OPEN: Final = (
    f"WITH s(id) AS (SELECT value FROM json_each(?)) SELECT s.id, {_C_ROW_COLS} FROM s "
    f"CROSS JOIN LATERAL (SELECT {ROW_COLS} FROM open_chunks o WHERE o.series_id = s.id "
    "ORDER BY o.step_lo DESC LIMIT 1) c")


def _append_many(conn: Conn, rows: _Rows,
                 appends: list[tuple[int, Points]]) -> None:
    """``_append`` for many series with a few statements in all, not a few a series (a
    live run logging 200 keys appends a point to each at every flush). A series whose
    open chunks fill a chunk, or whose tail is unusual (a partial chunk among the full
    ones), goes through ``_append``."""
    tail_max = chunks.tail_max()
    points = dict(appends)
    ids = (json.dumps(list(points)),)
    loaded: dict[int, ChunkRow] = {}
    if isinstance(conn, Pipelined):
        # each series' newest open chunk read with its tail, ahead of knowing whether it
        # is rewritten (most are, in a live run's appends): one round trip on PostgreSQL.
        # Not in process (SQLite): the rows not needed would cost more than it saves.
        tails, newest_rows = conn.execute_all([(_TAILS, ids), (_NEWEST_OPEN, ids)])
        loaded = {int(sid): tuple(row) for sid, *row in newest_rows}
    else:
        tails = conn.execute(_TAILS, ids)
    newest: dict[int, tuple[int, int | None]] = {}  # series -> (newest open lo, group end)
    for sid, full_n, total, lo, n, g_end in tails:
        p = points[sid]
        if (full_n is not None and full_n < chunks.CHUNK_MAX) or (
                total is not None and total + len(p) >= chunks.CHUNK_MAX):
            _append(conn, rows, sid, p)  # a merge into full chunks, or an old file's tail
        elif total is not None and n < tail_max:
            newest[sid] = (lo, g_end)
        elif _write_pieces(rows, sid, p):
            rows.extend.append(sid)
    if not newest:
        return
    keys = [(sid, lo) for sid, (lo, _) in newest.items() if sid not in loaded]
    for i in range(0, len(keys), 400):
        found, args = by_keys(conn, "open_chunks", "c", ("series_id", "step_lo"),
                              ("bigint", "bigint"), keys[i:i + 400])
        for sid, *row in conn.execute(f"SELECT c.series_id, {_C_ROW_COLS} FROM {found}", args):
            loaded[int(sid)] = row
    most = min(_TAIL_FLAT, chunks.CHUNK_MAX - 1)  # and the chunk stays open
    small = [sid for sid in newest if loaded[sid][6] == RAW
             and int(loaded[sid][1]) + len(points[sid]) <= most]  # type: ignore[call-overload]
    if small and (joined := _joined_tails(small, loaded, points)) is not None:
        rows.tails.append(joined)
        done = set(small)
    else:
        done = set()
    for sid, (lo, g_end) in newest.items():
        if sid not in done and _write_pieces(
                rows, sid, Points.concat([decode(*loaded[sid]), points[sid]])):  # type: ignore[arg-type]
            rows.extend.append(sid)
        if g_end is not None and lo < g_end:  # left inside a group by a rewrite
            rows.refresh.append((sid, lo, group_rows.LAST))


#: Open chunks that take their appended points together (``_joined_tails``) when old and
#: new points make at most this many (a bigger append goes series by series).
_TAIL_FLAT: Final = 256


def _joined_tails(sids: list[int], loaded: dict[int, ChunkRow], points: dict[int, Points]
                  ) -> tuple[list[int], Points, I64] | None:
    """The newest open chunks of ``sids`` (raw rows, as fetched) with each series'
    appended points after them, laid end to end for ``encode_flat``: a live run's flush
    appends a point or two to each of many series, and a pass of numpy over all of them
    costs the writer (which holds the GIL) less than a few numpy calls a series. ``None``
    when a row's blobs do not hold what its ``n`` says (then series by series)."""
    olds = [loaded[sid] for sid in sids]
    news = [points[sid] for sid in sids]
    n_old = np.array([r[1] for r in olds], np.int64)
    n_new = np.fromiter(map(len, news), np.int64, len(news))
    total = int(n_old.sum())
    old_t = np.frombuffer(b"".join(r[4] for r in olds), _F8)  # type: ignore[misc]
    old_v = np.frombuffer(b"".join(r[5] for r in olds), _F8)  # type: ignore[misc]
    if len(old_t) != total or len(old_v) != total:
        return None
    starts = np.cumsum(n_old) - n_old
    offsets = np.arange(total, dtype=np.int64) - np.repeat(starts, n_old)
    old_s = (np.repeat(np.array([r[0] for r in olds], np.int64), n_old)
             + offsets * np.repeat(np.array([r[2] for r in olds], np.int64), n_old))
    for i, r in enumerate(olds):
        if not r[2]:  # no stride: the steps are stored
            stored = np.frombuffer(r[3], _I8)  # type: ignore[call-overload]
            if len(stored) != int(n_old[i]):
                return None
            old_s[int(starts[i]):int(starts[i]) + len(stored)] = stored
    new = Points.concat(news)
    who = np.arange(len(sids), dtype=np.int64)
    order = np.argsort(np.concatenate([np.repeat(who, n_old), np.repeat(who, n_new)]),
                       kind="stable")
    flat = Points(np.concatenate([old_s, new.steps])[order],
                  np.concatenate([old_t, new.times])[order],
                  np.concatenate([old_v, new.values])[order])
    return sids, flat, n_old + n_new


def write_series(conn: Conn,
                 writes: Sequence[tuple[int, int | None, Points]], packer: Packer) -> None:
    """Write normalised points of series ``(series_id, last_step, points)`` inside the
    caller's transaction; full chunks are packed by ``packer``. The chunks of all of them
    are encoded together and written with one statement a table."""
    rows = _Rows()
    appends: list[tuple[int, Points]] = []
    for series_id, last_step, p in writes:
        if len(p) == 0:
            continue
        if last_step is None or int(p.steps[0]) > last_step:
            appends.append((series_id, p))
        else:
            _rewrite(conn, rows, series_id, p)
    if len(appends) == 1:
        _append(conn, rows, *appends[0])
    elif appends:
        _append_many(conn, rows, appends)
    rows.apply(conn, packer)


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


def _fetch(conn: Conn, series_id: int, cols: str,
           located: Sequence[tuple[int, int]]) -> dict[int, ChunkRow]:
    """The rows (``cols``, ``step_lo`` first) of the chunks ``(step_lo, tbl)``, each read
    by key from the table holding it."""
    rows: dict[int, ChunkRow] = {}
    for table, name in enumerate(("chunks", "open_chunks")):
        los = [lo for lo, t in located if t == table]
        for i in range(0, len(los), 500):
            where, args = any_of(conn, "step_lo", los[i:i + 500], "bigint")
            for r in conn.execute(f"SELECT {cols} FROM {name} WHERE series_id = ? AND {where}",
                                  [series_id, *args]):
                rows[int(r[0])] = tuple(r)
    return rows


def _fetch_range(conn: Conn, series_id: int, cols: str,
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
    conn: Conn, series_id: int, window: Window, limit: int | None = None
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




#: Series located by one statement of ``read_points_many``.
_MANY_READS: Final = 300
#: A step below every step (a read from the first point).
_LOWEST: Final = -(2**62)


def read_points_many(conn: Conn, reads: Sequence[tuple[int, int | None]],
                     limit: int | None = None) -> list[Points]:
    """``read_points`` of many series ``(series_id, lowest step)`` (a live view's tick):
    the chunks of all of them are located with one statement and fetched with one a table,
    not three statements a series. A read whose chunks hold more than ``limit`` points (a
    client catching up) goes through ``read_points``, which reads only what it needs."""
    out: list[Points] = [Points.empty()] * len(reads)
    for start in range(0, len(reads), _MANY_READS):
        part = range(start, min(start + _MANY_READS, len(reads)))
        starts, args = values_table(
            conn, [(i, reads[i][0], _LOWEST if reads[i][1] is None else reads[i][1])
                   for i in part], ("bigint", "bigint", "bigint"))
        located: dict[int, list[tuple[int, int]]] = {}
        sizes: dict[int, int] = {}
        # as ``_where``: the chunks ending at or after ``lo``, from the last one starting
        # at or before it (one index seek, not a scan of the series' chunks before it)
        for i, lo, table, n in conn.execute(
                f"SELECT v.column1, c.step_lo, c.tbl, c.n FROM {starts} "
                "JOIN all_chunks c ON c.series_id = v.column2 AND c.step_hi >= v.column3 "
                "AND c.step_lo >= COALESCE((SELECT step_lo FROM all_chunks WHERE "
                "series_id = v.column2 AND step_lo <= v.column3 "
                "ORDER BY step_lo DESC LIMIT 1), v.column3)",
                args):
            located.setdefault(int(i), []).append((int(lo), int(table)))
            sizes[int(i)] = sizes.get(int(i), 0) + int(n)
        wanted: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        for i, chunks_of in list(located.items()):
            if limit is not None and sizes[i] > limit:
                del located[i]
                out[i] = read_points(conn, reads[i][0], Window("step", reads[i][1], None),
                                     limit)
                continue
            for lo, table in chunks_of:
                wanted[table].append((reads[i][0], lo))
        # the rows of both tables, fetched by key (sent together: one round trip to a
        # PostgreSQL cluster)
        fetches: list[tuple[str, Params]] = []
        for table, name in enumerate(("chunks", "open_chunks")):
            keys = wanted[table]
            for k in range(0, len(keys), 400):
                keyed, args = by_keys(conn, name, "c", ("series_id", "step_lo"),
                                      ("bigint", "bigint"), keys[k:k + 400])
                fetches.append((f"SELECT c.series_id, {_C_ROW_COLS} FROM {keyed}", args))
        rows: dict[tuple[int, int], ChunkRow] = {}
        for fetched in execute_all(conn, fetches):
            for series_id, *row in fetched:
                rows[(int(series_id), int(row[0]))] = row
        for i, chunks_of in located.items():
            series_id, lo = reads[i]
            window = Window("step", lo, None)
            parts = []
            for step_lo, _ in sorted(chunks_of):
                got = decode(*rows[(series_id, step_lo)])  # type: ignore[arg-type]
                parts.append(got.take(window.mask(got)))
            found = Points.concat(parts)
            out[i] = found if limit is None else found.take(slice(0, limit))
    return out


#: Open chunks smaller than this stay raw when their run ends: packing a few points saves
#: a few bytes and costs a run with many short series (10k runs of 20 keys) seconds.
PACK_MIN: Final = 256


def pack_open(conn: Conn, run_id: str, packer: Packer) -> None:
    """Pack the raw open chunks of a run that ended: its last points are not appended to
    any more (and if it comes back, appending unpacks them again)."""
    rows = conn.execute(
        f"SELECT o.series_id, {', '.join('o.' + c for c in ROW_COLS.split(', '))} "
        "FROM open_chunks o JOIN series s ON s.id = o.series_id "
        "WHERE s.run_id = ? AND o.codec = ? AND o.n >= ?", (run_id, RAW, PACK_MIN)).fetchall()
    if rows:
        encoded = _encode([decode(*row) for _, *row in rows], packer)
        _insert_rows(conn, _INSERT_OPEN, [(r[0], *e) for r, e in zip(rows, encoded, strict=True)])


def repack(conn: Conn, packer: Packer, limit: int) -> int:
    """Re-pack up to ``limit`` full chunks not packed by ``packer`` (a store written before
    migration 14 holds raw ones); how many were."""
    rows = conn.execute(
        f"SELECT series_id, {ROW_COLS} FROM chunks WHERE codec != ? LIMIT ?",
        (packer.codec, limit)).fetchall()
    if rows:
        _insert_full(conn, [(sid, *encode(decode(*row), packer)) for sid, *row in rows])
    return len(rows)
