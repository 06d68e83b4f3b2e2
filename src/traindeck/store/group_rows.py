"""Chunk summaries and chunk groups (either engine): the coarse rollup level (schema 14).

A *group* summarises the chunks of a series whose ``step_lo`` lies in ``[step_lo,
step_end)``: one unit for all of them (``unit``, in the thin row of ``chunk_groups``) and
one per chunk (``chunk_group_units``). Groups are made at the tail (the first starts at
the smallest step, so no chunk can ever land before it) each time at least
``GROUP_CHUNKS // TAIL_DIVISOR`` full chunks lie after the last group, whether the run is
live or ended (``extend``): the last group takes them while it holds fewer than
``chunks.GROUP_CHUNKS`` chunks, a new group the rest; their starts never move. A write
that rewrites chunks inside groups (points logged again, out of order) recomputes
those groups from the chunks' summaries, so every group stays exact whatever is written
where. Chunks after the last group are *ungrouped*: reads take them from the chunks' own
summaries.

A group also keeps the 128-point sub-block units of its packed full chunks, all in one row
(``chunk_group_subs``, schema 15), moved out of ``chunk_rollups`` when the group is made or
recomputed: a packed full chunk's sub-blocks are in ``chunk_rollups`` until its group
takes them, then in the group's row (a chunk rewritten since has a fresh row in
``chunk_rollups`` until its group, recomputed in the same transaction, takes that one). Raw
full chunks (written before schema 14, not compacted) keep theirs in their own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from . import chunks, rollup
from .engine import Conn
from .packing import PCODEC, Packer, unpack_cols_many, unpack_units
from .rollup import UNIT_DTYPE, Cols, Units

_F8: Final = np.dtype("<f8")
#: The smallest step: where the first group of a series starts.
FIRST: Final = -(2**63)
#: The largest step.
LAST: Final = 2**63 - 1
#: ``extend`` groups a series' full chunks after its last group once there are
#: ``GROUP_CHUNKS // TAIL_DIVISOR`` of them (8 of 64).
TAIL_DIVISOR: Final = 8
# The chunk summary as the fields of rollup.UNIT_DTYPE, in order (last_value is a blob).
_UNIT_COLS: Final = (
    "n, nf, COALESCE(vmin, 9e999), COALESCE(vmax, -9e999), vsum, step_lo, step_hi, "
    "first_time, last_time, min_time, max_time, last_value, nnan, npinf, nninf"
)
_PUT: Final = (
    "INSERT OR REPLACE INTO chunk_groups (series_id, step_lo, step_end, n, min_time, max_time, "
    "unit) VALUES (?,?,?,?,?,?,?)"
)
_PUT_UNITS: Final = (
    "INSERT OR REPLACE INTO chunk_group_units (series_id, step_lo, units) VALUES (?,?,?)"
)
_PUT_SUBS: Final = (
    "INSERT OR REPLACE INTO chunk_group_subs (series_id, step_lo, subs) VALUES (?,?,?)"
)
_GROUP_TABLES: Final = ("chunk_groups", "chunk_group_units", "chunk_group_subs")

def summaries(conn: Conn, series_id: int, where: str, args: list[object]
              ) -> tuple[Units, list[int]]:
    """The summaries (one unit a chunk, by step) of the chunks of a series that match
    ``where`` (SQL after ``series_id = ?``), read from the covering indexes, and the table
    holding each chunk (``tbl``: 0 ``chunks``, 1 ``open_chunks``)."""
    rows = conn.execute(
        f"SELECT {_UNIT_COLS}, tbl FROM all_chunks WHERE series_id = ?{where} ORDER BY step_lo",
        [series_id, *args],
    ).fetchall()
    tables = [int(r[-1]) for r in rows]
    units = np.empty(len(rows), dtype=UNIT_DTYPE)
    if rows:
        names = UNIT_DTYPE.names or ()
        for name, col in zip(names, list(zip(*rows, strict=True))[:-1], strict=True):
            if name == "last_value":
                units[name] = np.frombuffer(b"".join(col), dtype=_F8)
            else:
                units[name] = col
    return units, tables


def _put(conn: Conn, series_id: int, lo: int, end: int) -> None:
    """(Re)compute the group ``[lo, end)`` from its chunks' summaries."""
    units, tables = summaries(conn, series_id, " AND step_lo >= ? AND step_lo < ?", [lo, end])
    if len(units) == 0:
        for table in _GROUP_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE series_id = ? AND step_lo = ?",
                         (series_id, lo))
        return
    whole = rollup.merge(units, np.zeros(1, dtype=np.int64))
    conn.execute(_PUT, (series_id, lo, end, int(whole["n"][0]), float(units["min_time"].min()),
                        float(units["max_time"].max()), whole.tobytes()))
    conn.execute(_PUT_UNITS, (series_id, lo, units.tobytes()))
    _take_subs(conn, series_id, lo, end, units, tables)


def _take_subs(conn: Conn, series_id: int, lo: int, end: int, units: Units,
               tables: list[int]) -> None:
    """Gather the sub-block units of the group ``[lo, end)``'s packed full chunks (its
    chunks ``units``, in ``tables``) into the group's row: those in ``chunk_rollups`` (new
    or rewritten chunks; their rows are then deleted), and the others from the group's row
    as it was (a chunk's are those starting within its steps)."""
    fresh = {int(a): b for a, b in conn.execute(
        "SELECT step_lo, rollup FROM chunk_rollups WHERE series_id = ? AND step_lo >= ? "
        "AND step_lo < ?", (series_id, lo, end))}
    row = conn.execute("SELECT subs FROM chunk_group_subs WHERE series_id = ? AND step_lo = ?",
                       (series_id, lo)).fetchone()
    old = unpack_units(row[0], PCODEC) if row else np.empty(0, dtype=UNIT_DTYPE)
    firsts: list[int] = units["first_step"].tolist()
    starts = np.searchsorted(old["first_step"], units["first_step"]).tolist()
    stops = np.searchsorted(old["first_step"], units["last_step"], side="right").tolist()
    order = sorted(fresh)
    cols, bounds = unpack_cols_many([(fresh[k], PCODEC) for k in order])
    new = rollup.records(cols)
    at = {k: i for i, k in enumerate(order)}
    parts: list[Units] = []
    taken: list[tuple[int, int]] = []
    for first, table, a, b in zip(firsts, tables, starts, stops, strict=True):
        if table != 0:
            continue  # an open chunk keeps its own
        i = at.get(first)
        if i is not None:
            parts.append(new[bounds[i]:bounds[i + 1]])
            taken.append((series_id, first))
        elif b > a:
            parts.append(old[a:b])
    if parts:
        subs = np.concatenate(parts)
        conn.execute(_PUT_SUBS, (series_id, lo, Packer(PCODEC).units_many(
            subs, [0], [len(subs)])[0]))
    elif row is not None:
        conn.execute("DELETE FROM chunk_group_subs WHERE series_id = ? AND step_lo = ?",
                     (series_id, lo))
    conn.executemany("DELETE FROM chunk_rollups WHERE series_id = ? AND step_lo = ?", taken)


def group_subs(conn: Conn, series_id: int, lo: int, hi: int) -> Cols:
    """The sub-block units that the groups holding chunks starting between steps ``lo``
    and ``hi`` keep, by step, as columns (one decode a group: ~2,000 units)."""
    rows = conn.execute(
        "SELECT subs FROM chunk_group_subs WHERE series_id = ? AND step_lo <= ? AND step_lo >= "
        "COALESCE((SELECT step_lo FROM chunk_groups WHERE series_id = ? AND step_lo <= ? "
        "ORDER BY step_lo DESC LIMIT 1), ?) ORDER BY step_lo",
        (series_id, hi, series_id, lo, lo)).fetchall()
    return unpack_cols_many([(b, PCODEC) for (b,) in rows])[0]


def take_all_subs(conn: Conn, series_id: int) -> int:
    """Recompute the groups of a series whose chunks still keep sub-block units in
    ``chunk_rollups`` (groups made before schema 15, or raw chunks packed since); how many
    were."""
    found = conn.execute(
        "SELECT g.step_lo, g.step_end FROM chunk_groups g WHERE g.series_id = ? AND EXISTS "
        "(SELECT 1 FROM chunk_rollups r WHERE r.series_id = g.series_id "
        "AND r.step_lo >= g.step_lo AND r.step_lo < g.step_end)", (series_id,)).fetchall()
    for lo, end in found:
        _put(conn, series_id, int(lo), int(end))
    return len(found)


def extend(conn: Conn, series_id: int) -> int:
    """Group the full chunks after the last group once there are at least
    ``GROUP_CHUNKS // TAIL_DIVISOR`` of them (called after a write that made full chunks,
    and by ``compact`` for series an older traindeck wrote): the last group takes them
    while it holds fewer than ``GROUP_CHUNKS`` chunks, new groups of up to ``GROUP_CHUNKS``
    the rest. A read of a series, live or ended, then decodes a group's row for each
    ~262k points and at most ``GROUP_CHUNKS // TAIL_DIVISOR - 1`` chunks' own rows (a
    100k-point live series: one row, not 24); fewer are left as they are (a read decodes
    them in no time; regrouping for each new chunk would cost the writes more than it
    saves). Group starts never move. How many groups were made or grown."""
    last = conn.execute(
        "SELECT step_lo, step_end FROM chunk_groups WHERE series_id = ? ORDER BY step_lo DESC "
        "LIMIT 1", (series_id,)).fetchone()
    start = FIRST if last is None else int(last[1])
    his = [int(r[0]) for r in conn.execute(
        "SELECT step_hi FROM chunks WHERE series_id = ? AND step_lo >= ? AND n >= ? "
        "ORDER BY step_lo", (series_id, start, chunks.CHUNK_MAX))]
    if len(his) < max(1, chunks.GROUP_CHUNKS // TAIL_DIVISOR):
        return 0
    made = 0
    if last is not None:
        held = int(conn.execute(
            "SELECT count(*) FROM all_chunks WHERE series_id = ? AND step_lo >= ? "
            "AND step_lo < ?", (series_id, int(last[0]), start)).fetchone()[0])
        room = max(0, chunks.GROUP_CHUNKS - held)
        if room:
            start = his[:room][-1] + 1
            _put(conn, series_id, int(last[0]), start)
            his = his[room:]
            made += 1
    for i in range(0, len(his), chunks.GROUP_CHUNKS):
        end = his[i:i + chunks.GROUP_CHUNKS][-1] + 1
        _put(conn, series_id, start, end)
        start = end
        made += 1
    return made


def refresh(conn: Conn, series_id: int, lo: int, hi: int) -> None:
    """Recompute the groups holding chunks that start between steps ``lo`` and ``hi``
    (after chunks there were rewritten)."""
    # groups are contiguous: walk back from the last one starting at or before ``hi``
    # (an index seek) until one ends at or before ``lo`` (appends look at one group only)
    found: list[tuple[int, int]] = []
    cur = conn.execute(
        "SELECT step_lo, step_end FROM chunk_groups WHERE series_id = ? AND step_lo <= ? "
        "ORDER BY step_lo DESC", (series_id, hi))
    for g_lo, g_end in cur:
        if g_end <= lo:
            break
        found.append((int(g_lo), int(g_end)))
    cur.close()
    for g_lo, g_end in found:
        _put(conn, series_id, g_lo, g_end)


@dataclass(slots=True)
class Groups:
    """Groups of a series, by step: their boundaries and summaries (one unit each)."""

    lo: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    units: Units

    def __len__(self) -> int:
        return len(self.lo)


def overlapping(conn: Conn, series_id: int, window: chunks.Window) -> Groups:
    """The groups whose points may lie in ``window``, by step (thin rows: a billion points
    are ~3,800 of them). On the step axis the first is found by one index seek."""
    if window.axis == "step":
        where, args = "", []
        if window.lo is not None:
            where += (" AND step_lo >= COALESCE((SELECT step_lo FROM chunk_groups WHERE "
                      "series_id = ? AND step_lo <= ? ORDER BY step_lo DESC LIMIT 1), ?)")
            args += [series_id, window.lo, window.lo]
        if window.hi is not None:
            where += " AND step_lo <= ?"
            args.append(window.hi)
    else:
        clauses = [(c, a) for c, a in (("max_time >= ?", window.lo), ("min_time <= ?", window.hi))
                   if a is not None]
        where = "".join(f" AND {c}" for c, _ in clauses)
        args = [a for _, a in clauses]
    rows = conn.execute(
        f"SELECT step_lo, step_end, unit FROM chunk_groups WHERE series_id = ?{where} "
        "ORDER BY step_lo", [series_id, *args]).fetchall()
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return Groups(empty, empty, np.empty(0, dtype=UNIT_DTYPE))
    lo, end, unit = zip(*rows, strict=True)
    return Groups(np.array(lo, dtype=np.int64), np.array(end, dtype=np.int64),
                  np.frombuffer(b"".join(unit), dtype=UNIT_DTYPE))


def last_end(conn: Conn, series_id: int) -> int | None:
    """Where the series' last group ends (its ungrouped chunks start there), if any."""
    row = conn.execute(
        "SELECT step_end FROM chunk_groups WHERE series_id = ? ORDER BY step_lo DESC LIMIT 1",
        (series_id,)).fetchone()
    return None if row is None else int(row[0])


def chunk_units(conn: Conn, series_id: int, lo: int, end: int) -> Units:
    """The chunk summaries that the groups starting in ``[lo, end)`` keep, by step."""
    blobs = [b for (b,) in conn.execute(
        "SELECT units FROM chunk_group_units WHERE series_id = ? AND step_lo >= ? "
        "AND step_lo < ? ORDER BY step_lo", (series_id, lo, end))]
    return np.frombuffer(b"".join(blobs), dtype=UNIT_DTYPE)
