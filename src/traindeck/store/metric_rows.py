"""Metric series of the store: write points (with summary and heartbeat), list a
run's series, read raw points and exact buckets. Chunk rows are ``chunk_rows``'s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from . import bucket_rows, chunk_rows, chunks, group_rows
from .chunk_rows import both_chunks
from .codec import dumps_str
from .common_rows import fetch_run, runs_found, runs_statements
from .engine import Conn, Core, WriteTx, any_of, by_keys, execute_all, update_rows
from .errors import InvalidInput, NotFound
from .lifecycle import merge_summary
from .models import CompactResult, MetricWrite, Run, SeriesInfo
from .packing import PCODEC, Packer
from .rollup import Buckets
from .run_rows import revive

_F8: Final = np.dtype("<f8")
#: The SQL types of a series' newest point as written (``engine.update_rows``).
_HEAD_TYPES: Final = ("bigint", "double precision", "bytea", "bigint", "bigint", "bigint")
#: The SQL types of the run columns a write touches (``_touch_runs``).
_TOUCH_TYPES: Final = {"heartbeat_at": "double precision", "summary": "text", "seq": "bigint"}

#: A series' row with its chunks' count, first step, min and max: append ``WHERE …``.
SERIES_SQL: Final = (
    f"SELECT s.run_id, s.key, COALESCE({both_chunks('SUM', 'n')}, 0), "
    f"{both_chunks('MIN', 'step_lo')}, s.last_step, s.last_time, s.last_value, "
    f"{both_chunks('MIN', 'vmin')}, "
    f"{both_chunks('MAX', 'vmax')}, s.seq FROM series s "
)


def f8(blob: bytes | None) -> float | None:
    """A float64 stored as its 8 bytes (``series.last_value``)."""
    return None if blob is None else float(np.frombuffer(blob, dtype=_F8)[0])


def series_row(r: Sequence[Any]) -> SeriesInfo:
    return SeriesInfo(
        run_id=r[0], key=r[1], count=int(r[2]), first_step=r[3], last_step=r[4],
        last_time=r[5], last_value=f8(r[6]), min=r[7], max=r[8], seq=r[9],
    )


def _series_id(conn: Conn, run_id: str, key: str) -> int:
    row = conn.execute(
        "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise NotFound(f"no run {run_id!r}")
        raise NotFound(f"run {run_id!r} has no metric {key!r}")
    return int(row[0])


def _series_rows(conn: Conn, run_id: str, keys: Sequence[str]
                 ) -> dict[str, tuple[int, int | None]]:
    """``{key: (id, last_step)}`` of the run's series among ``keys`` (one query for a write's
    keys, in slices that stay under SQLite's limit of parameters)."""
    out: dict[str, tuple[int, int | None]] = {}
    for i in range(0, len(keys), 500):
        where, args = any_of(conn, "key", keys[i:i + 500], "text")
        for key, series_id, last_step in conn.execute(
                f"SELECT key, id, last_step FROM series WHERE run_id = ? AND {where}",
                (run_id, *args)):
            out[key] = (series_id, last_step)
    return out


def _series_rows_many(conn: Conn, pairs: Sequence[tuple[str, str]]
                      ) -> dict[tuple[str, str], tuple[int, int | None]]:
    """``_series_rows`` of several runs: ``{(run_id, key): (id, last_step)}``."""
    return _series_found([conn.execute(sql, args)
                          for sql, args in _series_statements(conn, pairs)])


def _series_statements(conn: Conn, pairs: Sequence[tuple[str, str]]
                       ) -> list[tuple[str, list[Any]]]:
    """The reads of ``_series_rows_many`` (to send with others: ``engine.execute_all``)."""
    out: list[tuple[str, list[Any]]] = []
    for i in range(0, len(pairs), 400):
        found, args = by_keys(conn, "series", "s", ("run_id", "key"), ("text", "text"),
                              pairs[i:i + 400])
        out.append((f"SELECT s.run_id, s.key, s.id, s.last_step FROM {found}", args))
    return out


def _series_found(results: Iterable[Iterable[Any]]
                  ) -> dict[tuple[str, str], tuple[int, int | None]]:
    return {(run_id, key): (series_id, last_step)
            for rows in results for run_id, key, series_id, last_step in rows}


def _pairs(items: Sequence[tuple[str, Mapping[str, chunks.Points]]]) -> list[tuple[str, str]]:
    """The (run, key) of every series a write has points for."""
    return [(run_id, key) for run_id, prepared in items
            for key, points in prepared.items() if len(points)]


class MetricTable:
    def __init__(self, core: Core, codec: int = PCODEC) -> None:
        self._core = core
        self._packer = Packer(codec)

    def write_metrics(
        self,
        run_id: str,
        series: Mapping[str, tuple[Any, Any, Any]],
        *,
        summary: Mapping[str, Any] | None = None,
        replace_summary: bool = False,
        heartbeat: float | None = None,
        batch_id: str | None = None,
    ) -> bool:
        """Write points ``{key: (steps, times, values)}`` in one transaction.

        With ``batch_id`` the batch is applied exactly once: its id is recorded in the
        same transaction, and a batch already recorded for the run writes nothing and
        returns False (True otherwise).

        Idempotent: a (run, key, step) written again replaces the earlier point. Optionally
        merges ``summary`` into the run's summary (or replaces it) and records a heartbeat
        in the same transaction (one commit per flush of the SDK). A heartbeat of a run
        that the reaper marked ``interrupted`` (its process was only stalled) brings it back.
        """
        prepared = chunks.prepare_many(series)
        with self._core.write() as tx:
            run = None  # read once (a batch's row does not change it)
            if batch_id is not None:
                run = fetch_run(tx.conn, run_id)
                if tx.execute("INSERT OR IGNORE INTO batches (run_id, batch_id, applied_at) "
                              "VALUES (?, ?, ?)", (run_id, batch_id, self._core.clock())
                              ).rowcount == 0:
                    return False
            if heartbeat is not None or summary:
                run = run or fetch_run(tx.conn, run_id)
                self._touch_runs(tx, [(run, summary, heartbeat)], replace_summary)
            self._write_points(tx, [(run_id, prepared)])
        return True

    def write_metrics_many(self, writes: Sequence[MetricWrite], *,
                           replace_summary: bool = False) -> None:
        """``write_metrics`` of several runs in one transaction, with a few statements in
        all (the runs read at once, one lookup of every series, the chunks of all of them
        written together), not a few a run: a server's group commit of many trainers'
        requests. One write a run; all of them or none."""
        ids = [w.run_id for w in writes]
        if len(set(ids)) != len(ids):
            raise InvalidInput("write_metrics_many takes one write a run")
        prepared = [(w, chunks.prepare_many(w.series)) for w in writes]
        if not writes:
            return
        items = [(w.run_id, points) for w, points in prepared]
        pairs = _pairs(items)
        with self._core.write() as tx:
            # the seq (points stamp their series), the runs and the series rows together:
            # one round trip on PostgreSQL
            run_reads = runs_statements(tx.conn, ids)
            reads = [*run_reads, *_series_statements(tx.conn, pairs)]
            results = tx.stamped(reads) if pairs else execute_all(tx.conn, reads)
            runs = runs_found(ids, results[:len(run_reads)])
            known = _series_found(results[len(run_reads):])
            self._touch_runs(tx, [(runs[w.run_id], w.summary, w.heartbeat) for w in writes
                                  if w.heartbeat is not None or w.summary], replace_summary)
            self._write_points(tx, items, pairs, known)

    def _touch_runs(self, tx: WriteTx,
                    touches: Sequence[tuple[Run, Mapping[str, Any] | None, float | None]],
                    replace_summary: bool) -> None:
        """Record the runs' heartbeats and merge (or set) their summaries: one statement a
        shape of update, not one a run; a heartbeat brings back a run reaped as
        ``interrupted``."""
        shapes: dict[tuple[str, ...], list[list[Any]]] = {}
        for run, summary, heartbeat in touches:
            sets: list[str] = []
            args: list[Any] = []
            if heartbeat is not None:
                sets.append("heartbeat_at")
                args.append(heartbeat)
            if summary is not None and (summary or replace_summary):
                merged = merge_summary(run.summary, summary, replace_summary)
                sets += ["summary", "seq"]
                args += [dumps_str(merged), tx.seq]
            if sets:
                shapes.setdefault(tuple(sets), []).append([*args, run.id])
        for shape, rows in shapes.items():
            update = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in shape)} WHERE id = ?"
            if len(rows) == 1:
                tx.execute(update, rows[0])
            else:
                update_rows(tx.conn, update, rows, [*(_TOUCH_TYPES[c] for c in shape), "text"])
        for run, _, heartbeat in touches:
            if heartbeat is not None and run.status == "interrupted":
                revive(tx, self._core.clock(), run.id)

    def _write_points(self, tx: WriteTx,
                      items: Sequence[tuple[str, Mapping[str, chunks.Points]]],
                      pairs: Sequence[tuple[str, str]] | None = None,
                      known: Mapping[tuple[str, str], tuple[int, int | None]] | None = None,
                      ) -> None:
        """The points of runs' series (made when new), their chunks written together, and
        each series' newest point. ``known``: the series rows of ``pairs`` (``_pairs``),
        when the caller read them."""
        if pairs is None or known is None:
            pairs = _pairs(items)
            if len(items) == 1:
                run_id = items[0][0]
                known = {(run_id, key): row for key, row in
                         _series_rows(tx.conn, run_id, [key for _, key in pairs]).items()}
            else:
                known = _series_rows_many(tx.conn, pairs)
        points_of = {run_id: prepared for run_id, prepared in items}
        writes: list[tuple[int, int | None, chunks.Points]] = []
        updates: list[tuple[object, ...]] = []
        for run_id, key in pairs:
            points = points_of[run_id][key]
            row = known.get((run_id, key))
            if row is None:
                try:
                    row = tx.execute(
                        "INSERT INTO series (run_id, key) VALUES (?, ?) "
                        "RETURNING id, last_step",
                        (run_id, key),
                    ).fetchone()
                except self._core.dialect.integrity_errors as exc:
                    raise NotFound(f"no run {run_id!r}") from exc
            series_id, last_step = row
            writes.append((series_id, last_step, points))
            top = int(points.steps[-1])
            if last_step is None or top >= last_step:
                updates.append((top, float(points.times[-1]), bytearray(points.values[-1:].data),
                                tx.seq, len(points), series_id))
            else:  # a backfill: the newest point stays
                tx.execute("UPDATE series SET seq = ?, written = written + ? WHERE id = ?",
                           (tx.seq, len(points), series_id))
        chunk_rows.write_series(tx.conn, writes, self._packer)
        if updates:
            update_rows(tx.conn, "UPDATE series SET last_step = ?, last_time = ?, "
                        "last_value = ?, seq = ?, written = written + ? WHERE id = ?",
                        updates, _HEAD_TYPES)

    def compact_metrics(self, progress: Callable[[int, int], None] | None = None,
                        *, batch: int = 256) -> CompactResult:
        """Bring the metric chunks of a store written by an older traindeck up to date:
        full chunks packed (``packing``), every series' chunk groups made or grown
        (``group_rows.extend``, as writes do since: a series' tail of 8 full chunks or
        more too, live or ended), and the groups' sub-block units gathered into their own
        rows (schema 15). Each step is its own transaction of at most ``batch`` chunks, so
        an interrupted compaction keeps what it did and the next one goes on from there.
        ``progress(done, total)`` is called as it goes; writers and readers carry on
        meanwhile."""
        with self._core.read() as conn:
            left = int(conn.execute("SELECT count(*) FROM chunks WHERE codec != ?",
                                    (self._packer.codec,)).fetchone()[0])
            series = [int(sid) for (sid,) in conn.execute("SELECT id FROM series ORDER BY id")]
        total, done, repacked = left + len(series), 0, 0
        if progress is not None:
            progress(0, total)
        while True:
            with self._core.write() as tx:
                n = chunk_rows.repack(tx.conn, self._packer, batch)
            if n == 0:
                break
            repacked += n
            done = min(done + n, left)
            if progress is not None:
                progress(done, total)
        made = updated = 0
        for i, series_id in enumerate(series):
            with self._core.write() as tx:
                made += group_rows.extend(tx.conn, series_id)
                updated += group_rows.take_all_subs(tx.conn, series_id)
            if progress is not None:
                progress(left + i + 1, total)
        return CompactResult(chunks_repacked=repacked, groups_made=made, groups_updated=updated)

    def metric_keys(self, run_id: str) -> list[SeriesInfo]:
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            rows = conn.execute(
                SERIES_SQL + "WHERE s.run_id = ? ORDER BY s.key", (run_id,)
            ).fetchall()
        return [series_row(r) for r in rows]

    def latest(self, run_id: str) -> dict[str, tuple[int, float, float]]:
        """The newest point of every series of a run: ``{key: (step, time, value)}``."""
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            rows = conn.execute(
                "SELECT key, last_step, last_time, last_value FROM series WHERE run_id = ? "
                "AND last_step IS NOT NULL ORDER BY key",
                (run_id,),
            ).fetchall()
        return {r[0]: (int(r[1]), float(r[2]), float(np.frombuffer(r[3], dtype=_F8)[0]))
                for r in rows}

    def read_buckets(
        self,
        run_id: str,
        key: str,
        *,
        n: int = 1000,
        step_min: int | None = None,
        step_max: int | None = None,
        time_min: float | None = None,
        time_max: float | None = None,
        x: str = "step",
    ) -> Buckets:
        """At most ``n`` exact buckets of a series over a step window or a time window."""
        if not 1 <= n <= 100_000:
            raise InvalidInput("n must be between 1 and 100000")
        if x not in ("step", "time"):
            raise InvalidInput("x must be 'step' or 'time'")
        if (step_min is not None or step_max is not None) and (
            time_min is not None or time_max is not None
        ):
            raise InvalidInput("give a step window or a time window, not both")
        if time_min is not None or time_max is not None:
            window = chunks.Window("time", time_min, time_max)
        else:
            window = chunks.Window("step", step_min, step_max)
        with self._core.read() as conn:
            series_id = _series_id(conn, run_id, key)
            return bucket_rows.read_buckets(conn, series_id, n, window, x)

    def read_points_many(
        self, reads: Sequence[tuple[str, str, int | None]], *, limit: int | None = None,
    ) -> dict[tuple[str, str, int | None], chunks.Points]:
        """``read_points(run_id, key, after_step=…, limit=…)`` of many series in one
        snapshot (what a live view reads every tick: one transaction, not one a series);
        series or runs that do not exist are left out."""
        with self._core.read() as conn:
            ids = _series_rows_many(conn, list(dict.fromkeys((r, k) for r, k, _ in reads)))
            found = [(read, ids[(read[0], read[1])][0]) for read in reads
                     if (read[0], read[1]) in ids]
            points = chunk_rows.read_points_many(
                conn, [(series_id, None if after is None else after + 1)
                       for (_, _, after), series_id in found], limit)
        return {read: p for (read, _), p in zip(found, points, strict=True)}

    def read_points(
        self,
        run_id: str,
        key: str,
        *,
        after_step: int | None = None,
        step_max: int | None = None,
        limit: int | None = None,
    ) -> chunks.Points:
        """Raw points with ``after_step < step <= step_max``, by step."""
        lo = None if after_step is None else after_step + 1
        with self._core.read() as conn:
            series_id = _series_id(conn, run_id, key)
            return chunk_rows.read_points(
                conn, series_id, chunks.Window("step", lo, step_max), limit)
