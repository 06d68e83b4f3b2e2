"""The SQLite engine: one file, WAL, one writer connection, a reader connection per thread.

Every write runs in one ``BEGIN IMMEDIATE`` transaction that first bumps ``meta.seq``; the
rows it touches are stamped with that number. Since SQLite lets one writer in at a time,
``seq`` grows in commit order across every process sharing the file, and a follower that
remembers the last ``seq`` it saw (``changes_since``) misses nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import numpy as np

from . import chunks
from .checkpoint_rows import CheckpointRows
from .codec import dumps_str, loads
from .errors import Conflict, InvalidInput, NotFound
from .ids import is_valid_id, new_id
from .log_rows import LogRows
from .media_rows import MediaRows
from .models import (
    COMMAND_TRANSITIONS,
    LIVE_STATUSES,
    RUN_STATUSES,
    TERMINAL_STATUSES,
    Changes,
    Command,
    Event,
    Run,
    SeriesInfo,
)
from .rollup import Buckets
from .schema import MIGRATIONS, SCHEMA_VERSION
from .token_rows import TokenRows

#: Training processes and the server share the file: a writer waits for the lock this long
#: (milliseconds) before giving up, instead of failing at once.
BUSY_TIMEOUT_MS: Final = 15_000
#: WAL lets readers (the dashboard) run while a training process writes.
JOURNAL_MODE: Final = "WAL"
#: In WAL mode NORMAL is durable against a crash or kill of any process (the WAL is in the
#: OS); only a power cut can lose the last commits. FULL would fsync every commit.
SYNCHRONOUS: Final = "NORMAL"

Clock = Callable[[], float]

_RUN_COLS: Final = (
    "id, project, name, status, config, tags, notes, created_at, started_at, ended_at, "
    "heartbeat_at, heartbeat_timeout, host, pid, command, git_commit, git_dirty, env, "
    "commands_offered, summary, launch_spec, seq"
)
_JSON_RUN_FIELDS: Final = frozenset(
    {"config", "tags", "env", "commands_offered", "summary", "launch_spec"}
)
_UPDATABLE_RUN_FIELDS: Final = frozenset(
    {
        "project", "name", "config", "tags", "notes", "started_at", "ended_at", "heartbeat_at",
        "heartbeat_timeout", "host", "pid", "command", "git_commit", "git_dirty", "env",
        "commands_offered", "summary", "launch_spec",
    }
)
RUN_SORT_KEYS: Final = ("created_at", "name", "status", "project", "heartbeat_at", "ended_at")
_CMD_COLS: Final = (
    "id, run_id, name, args, status, created_at, delivered_at, finished_at, result, error, "
    "requested_by, seq"
)
_F8: Final = np.dtype("<f8")


def _run(row: Sequence[Any]) -> Run:
    return Run(
        id=row[0], project=row[1], name=row[2], status=row[3], config=loads(row[4], {}),
        tags=loads(row[5], []), notes=row[6], created_at=row[7], started_at=row[8],
        ended_at=row[9], heartbeat_at=row[10], heartbeat_timeout=row[11], host=row[12],
        pid=row[13], command=row[14], git_commit=row[15],
        git_dirty=None if row[16] is None else bool(row[16]), env=loads(row[17], {}),
        commands_offered=loads(row[18], []), summary=loads(row[19], {}),
        launch_spec=loads(row[20]), seq=row[21],
    )


def _command(row: Sequence[Any]) -> Command:
    return Command(
        id=row[0], run_id=row[1], name=row[2], args=loads(row[3], {}), status=row[4],
        created_at=row[5], delivered_at=row[6], finished_at=row[7], result=loads(row[8]),
        error=row[9], requested_by=row[10], seq=row[11],
    )


def _event(row: Sequence[Any]) -> Event:
    return Event(seq=row[0], run_id=row[1], time=row[2], kind=row[3], payload=loads(row[4], {}))


def _f8(blob: bytes | None) -> float | None:
    return None if blob is None else float(np.frombuffer(blob, dtype=_F8)[0])


class _ReaderHolder:
    """Owns one thread's reader connection (weak-referenceable, unlike a Connection)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class Tx:
    """An open write transaction: the connection and the ``seq`` it stamps rows with."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._seq: int | None = None

    @property
    def seq(self) -> int:
        if self._seq is None:
            self._seq = int(
                self.conn.execute(
                    "UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
                ).fetchone()[0]
            )
        return self._seq

    def execute(self, sql: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)


class SQLiteStore(CheckpointRows, TokenRows, LogRows, MediaRows):
    """traindeck's store on one SQLite file. Thread-safe; one instance per process is enough.

    ``clock`` is injected so that tests can move time (heartbeat timeouts) without sleeping.
    """

    def __init__(self, path: str | Path, *, clock: Clock = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._tx: Tx | None = None  # the open write transaction (its thread holds _lock)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._writer = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._writer.close()
            raise

    # -- connections ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Switching a new file to WAL needs a moment alone with it, and SQLite does not
        # always wait for that on its own: two processes opening a fresh file at once (the
        # demo's runs) could fail with "database is locked". Wait as a writer would.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute(f"PRAGMA journal_mode = {JOURNAL_MODE}")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    conn.close()
                    raise
                time.sleep(0.01)
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        return conn

    def _reader(self) -> sqlite3.Connection:
        holder: _ReaderHolder | None = getattr(self._local, "holder", None)
        if holder is None:
            if self._closed:
                raise RuntimeError("store is closed")
            conn = self._connect()
            holder = _ReaderHolder(conn)
            self._local.holder = holder
            with self._readers_lock:
                self._readers.append(conn)
            # Server worker threads come and go: when one ends, its thread-local holder
            # is freed and its connection closed, so connections never pile up.
            weakref.finalize(holder, self._drop_reader, conn)
        return holder.conn

    def _drop_reader(self, conn: sqlite3.Connection) -> None:
        with self._readers_lock:
            if conn in self._readers:
                self._readers.remove(conn)
                conn.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction (the only way anything is written). Called again inside
        one (same thread), it joins it: several store calls then commit together (the
        server applies an SDK batch that way)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            if self._tx is not None:
                yield self._tx
                return
            self._writer.execute("BEGIN IMMEDIATE")
            self._tx = Tx(self._writer)
            try:
                yield self._tx
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")
            finally:
                self._tx = None

    def _migrate(self) -> None:
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path} has schema version {version}, newer than this traindeck "
                        f"({SCHEMA_VERSION}); upgrade traindeck to open it"
                    )
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._writer.execute(statement)
                    self._writer.execute(f"PRAGMA user_version = {number + 1}")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self._reader().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------

    def create_run(
        self,
        *,
        project: str,
        name: str | None = None,
        id: str | None = None,
        status: str = "running",
        **fields: Any,
    ) -> Run:
        run_id = id or new_id(self.clock())
        if not is_valid_id(run_id):
            raise InvalidInput(f"invalid run id {run_id!r}: use letters, digits, '-', '_', '.'")
        if status not in RUN_STATUSES:
            raise InvalidInput(f"unknown status {status!r}")
        unknown = set(fields) - _UPDATABLE_RUN_FIELDS
        if unknown:
            raise InvalidInput(f"unknown run fields: {sorted(unknown)}")
        now = self.clock()
        values: dict[str, Any] = {
            "id": run_id, "project": project, "name": name or run_id, "status": status,
            "created_at": now,
        }
        if status in LIVE_STATUSES:
            values.setdefault("started_at", now)
            values.setdefault("heartbeat_at", now)
        values.update(fields)
        with self.write() as tx:
            if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise Conflict(f"run {run_id!r} already exists")
            values["seq"] = tx.seq
            cols = list(values)
            tx.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [self._col(c, values[c]) for c in cols],
            )
            # The tombstone of an earlier run with this id stays: a follower must still hear
            # of that deletion (it sees it before the new run; see changes_since).
            self._event(tx, run_id, "status_change", {"old_status": None, "new_status": status})
            return self._get_run(tx.conn, run_id)

    @staticmethod
    def _col(name: str, value: Any) -> Any:
        if name in _JSON_RUN_FIELDS:
            return None if value is None and name == "launch_spec" else dumps_str(value)
        if name == "git_dirty" and value is not None:
            return int(bool(value))
        return value

    def _get_run(self, conn: sqlite3.Connection, run_id: str) -> Run:
        row = conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r}")
        return _run(row)

    def get_run(self, run_id: str) -> Run:
        return self._get_run(self._reader(), run_id)

    def list_runs(
        self,
        *,
        project: str | None = None,
        status: str | Sequence[str] | None = None,
        tag: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Run], int]:
        """Runs matching every filter given, and how many match in all."""
        if sort not in RUN_SORT_KEYS:
            raise InvalidInput(f"cannot sort by {sort!r}; one of {', '.join(RUN_SORT_KEYS)}")
        where, args = [], []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
            args.append(tag)
        if search:
            where.append("(name LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = "%" + escaped + "%"
            args.extend([pattern, pattern])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        direction = "DESC" if descending else "ASC"
        order = f" ORDER BY {sort} {direction}, id {direction}"
        with self._read() as conn:
            total = int(conn.execute(f"SELECT count(*) FROM runs{clause}", args).fetchone()[0])
            rows = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs{clause}{order} LIMIT ? OFFSET ?",
                [*args, max(0, limit), max(0, offset)],
            ).fetchall()
        return [_run(r) for r in rows], total

    def projects(self) -> list[str]:
        return [r[0] for r in self._reader().execute(
            "SELECT DISTINCT project FROM runs ORDER BY project")]

    def update_run(self, run_id: str, **fields: Any) -> Run:
        """Change fields of a run (not its status: see ``set_status``)."""
        unknown = set(fields) - _UPDATABLE_RUN_FIELDS
        if unknown:
            raise InvalidInput(f"cannot update run fields {sorted(unknown)}")
        with self.write() as tx:
            self._get_run(tx.conn, run_id)
            sets = [f"{c} = ?" for c in fields] + ["seq = ?"]
            tx.execute(
                f"UPDATE runs SET {', '.join(sets)} WHERE id = ?",
                [*(self._col(c, v) for c, v in fields.items()), tx.seq, run_id],
            )
            return self._get_run(tx.conn, run_id)

    def set_status(self, run_id: str, status: str, **fields: Any) -> Run:
        """Move a run to ``status`` (an event records the change) and set other fields."""
        if status not in RUN_STATUSES:
            raise InvalidInput(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")
        unknown = set(fields) - _UPDATABLE_RUN_FIELDS
        if unknown:
            raise InvalidInput(f"cannot update run fields {sorted(unknown)}")
        now = self.clock()
        with self.write() as tx:
            old = self._get_run(tx.conn, run_id)
            if status in TERMINAL_STATUSES and old.ended_at is None:
                fields.setdefault("ended_at", now)
            if status in LIVE_STATUSES:
                fields.setdefault("heartbeat_at", now)
                if old.status not in LIVE_STATUSES:
                    fields.setdefault("ended_at", None)
                if old.started_at is None:
                    fields.setdefault("started_at", now)
            sets = ["status = ?", "seq = ?"] + [f"{c} = ?" for c in fields]
            tx.execute(
                f"UPDATE runs SET {', '.join(sets)} WHERE id = ?",
                [status, tx.seq, *(self._col(c, v) for c, v in fields.items()), run_id],
            )
            if old.status != status:
                self._event(
                    tx, run_id, "status_change", {"old_status": old.status, "new_status": status}
                )
                if status in TERMINAL_STATUSES:
                    self._expire_commands(tx, run_id, f"run ended ({status})")
            return self._get_run(tx.conn, run_id)

    def heartbeat(self, run_id: str, at: float | None = None) -> None:
        """Note that the run's process is alive. Not stamped with ``seq``: followers need
        not hear about every heartbeat."""
        with self.write() as tx:
            row = tx.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE id = ? RETURNING status",
                (self.clock() if at is None else at, run_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no run {run_id!r}")
            if row[0] == "interrupted":
                self._revive(tx, run_id)

    def _revive(self, tx: Tx, run_id: str) -> None:
        """A heartbeat of a run reaped for a lost heartbeat: it was stalled (SIGSTOP, a
        locked file, a sleeping laptop), not dead. Back to ``running``, with an event."""
        last = tx.execute(
            "SELECT payload FROM events WHERE run_id = ? AND kind = 'status_change' "
            "ORDER BY seq DESC LIMIT 1", (run_id,),
        ).fetchone()
        change = loads(last[0], {}) if last else {}
        if change.get("reason") != "heartbeat lost" or change.get("new_status") != "interrupted":
            return
        tx.execute("UPDATE runs SET status = ?, ended_at = NULL, seq = ? WHERE id = ?",
                   (change.get("old_status") or "running", tx.seq, run_id))
        self._event(tx, run_id, "status_change", {
            "old_status": "interrupted", "new_status": change.get("old_status") or "running",
            "reason": "heartbeat resumed",
        })

    def reap_stale(self) -> list[str]:
        """Runs whose heartbeat stopped become ``interrupted``; returns their ids."""
        now = self.clock()
        stale = [
            r[0]
            for r in self._reader().execute(
                "SELECT id FROM runs WHERE status IN ('running', 'paused') "
                "AND heartbeat_at IS NOT NULL AND heartbeat_at < ? - heartbeat_timeout",
                (now,),
            )
        ]
        reaped = []
        for run_id in stale:
            with self.write() as tx:
                # Check again inside the transaction: the run may have heartbeated since.
                row = tx.execute(
                    "SELECT status FROM runs WHERE id = ? AND status IN ('running', 'paused') "
                    "AND heartbeat_at < ? - heartbeat_timeout",
                    (run_id, now),
                ).fetchone()
                if row is None:
                    continue
                tx.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, seq = ? WHERE id = ?",
                    (now, tx.seq, run_id),
                )
                self._event(tx, run_id, "status_change", {
                    "old_status": row[0], "new_status": "interrupted",
                    "reason": "heartbeat lost",
                })
                self._expire_commands(tx, run_id, "run interrupted (heartbeat lost)")
                reaped.append(run_id)
        return reaped

    def delete_run(self, run_id: str) -> None:
        with self.write() as tx:
            self._get_run(tx.conn, run_id)
            tx.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            tx.execute(
                "INSERT OR REPLACE INTO deleted_runs (id, seq) VALUES (?, ?)", (run_id, tx.seq)
            )

    # -- metrics -------------------------------------------------------------------

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
        prepared: dict[str, chunks.Points] = {}
        for key, triple in series.items():
            try:
                steps, times, values = triple
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"metric {key!r}: give (steps, times, values)") from exc
            prepared[key] = chunks.prepare(key, steps, times, values)
        with self.write() as tx:
            if batch_id is not None:
                self._get_run(tx.conn, run_id)
                if tx.execute("INSERT OR IGNORE INTO batches (run_id, batch_id, applied_at) "
                              "VALUES (?, ?, ?)", (run_id, batch_id, self.clock())
                              ).rowcount == 0:
                    return False
            if heartbeat is not None or summary:
                run = self._get_run(tx.conn, run_id)
                sets: list[str] = []
                args: list[Any] = []
                if heartbeat is not None:
                    sets.append("heartbeat_at = ?")
                    args.append(heartbeat)
                if summary is not None and (summary or replace_summary):
                    merged = dict(summary) if replace_summary else {**run.summary, **summary}
                    sets += ["summary = ?", "seq = ?"]
                    args += [dumps_str(merged), tx.seq]
                tx.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", [*args, run_id])
                if heartbeat is not None and run.status == "interrupted":
                    self._revive(tx, run_id)
            for key, points in prepared.items():
                if len(points) == 0:
                    continue
                row = tx.execute(
                    "SELECT id, last_step FROM series WHERE run_id = ? AND key = ?", (run_id, key)
                ).fetchone()
                if row is None:
                    try:
                        row = tx.execute(
                            "INSERT INTO series (run_id, key) VALUES (?, ?) "
                            "RETURNING id, last_step",
                            (run_id, key),
                        ).fetchone()
                    except sqlite3.IntegrityError as exc:
                        raise NotFound(f"no run {run_id!r}") from exc
                series_id, last_step = row
                chunks.write_series(tx.conn, series_id, last_step, points)
                top = int(points.steps[-1])
                if last_step is None or top >= last_step:
                    tx.execute(
                        "UPDATE series SET last_step = ?, last_time = ?, last_value = ?, seq = ? "
                        "WHERE id = ?",
                        (top, float(points.times[-1]), points.values[-1:].tobytes(), tx.seq,
                         series_id),
                    )
                else:
                    tx.execute("UPDATE series SET seq = ? WHERE id = ?", (tx.seq, series_id))
        return True

    def _series_id(self, conn: sqlite3.Connection, run_id: str, key: str) -> int:
        row = conn.execute(
            "SELECT id FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise NotFound(f"no run {run_id!r}")
            raise NotFound(f"run {run_id!r} has no metric {key!r}")
        return int(row[0])

    _SERIES_SQL: Final = (
        "SELECT s.run_id, s.key, COALESCE(SUM(c.n), 0), MIN(c.step_lo), s.last_step, "
        "s.last_time, s.last_value, MIN(c.vmin), MAX(c.vmax), s.seq "
        "FROM series s LEFT JOIN chunks c ON c.series_id = s.id "
    )

    @staticmethod
    def _series_info(r: Sequence[Any]) -> SeriesInfo:
        return SeriesInfo(
            run_id=r[0], key=r[1], count=int(r[2]), first_step=r[3], last_step=r[4],
            last_time=r[5], last_value=_f8(r[6]), min=r[7], max=r[8], seq=r[9],
        )

    def metric_keys(self, run_id: str) -> list[SeriesInfo]:
        with self._read() as conn:
            self._get_run(conn, run_id)
            rows = conn.execute(
                self._SERIES_SQL + "WHERE s.run_id = ? GROUP BY s.id ORDER BY s.key", (run_id,)
            ).fetchall()
        return [self._series_info(r) for r in rows]

    def latest(self, run_id: str) -> dict[str, tuple[int, float, float]]:
        """The newest point of every series of a run: ``{key: (step, time, value)}``."""
        with self._read() as conn:
            self._get_run(conn, run_id)
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
        with self._read() as conn:
            series_id = self._series_id(conn, run_id, key)
            return chunks.read_buckets(conn, series_id, n, window, x)

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
        with self._read() as conn:
            series_id = self._series_id(conn, run_id, key)
            return chunks.read_points(conn, series_id, chunks.Window("step", lo, step_max), limit)

    # -- events --------------------------------------------------------------------

    def _event(self, tx: Tx, run_id: str, kind: str, payload: Mapping[str, Any]) -> int:
        return int(
            tx.execute(
                "INSERT INTO events (run_id, time, kind, payload) VALUES (?, ?, ?, ?) "
                "RETURNING seq",
                (run_id, self.clock(), kind, dumps_str(payload)),
            ).fetchone()[0]
        )

    def add_event(self, run_id: str, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        with self.write() as tx:
            self._get_run(tx.conn, run_id)
            return self._event(tx, run_id, kind, payload or {})

    def list_events(
        self, run_id: str, *, after_seq: int = 0, limit: int = 500, kind: str | None = None
    ) -> list[Event]:
        with self._read() as conn:
            self._get_run(conn, run_id)
            sql = "SELECT seq, run_id, time, kind, payload FROM events WHERE run_id = ? AND seq > ?"
            args: list[Any] = [run_id, after_seq]
            if kind is not None:
                sql += " AND kind = ?"
                args.append(kind)
            rows = conn.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit]).fetchall()
        return [_event(r) for r in rows]

    # -- commands ------------------------------------------------------------------

    def create_command(
        self,
        run_id: str,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        requested_by: str | None = None,
    ) -> Command:
        if not name or len(name) > 100:
            raise InvalidInput("a command name is 1 to 100 characters")
        with self.write() as tx:
            run = self._get_run(tx.conn, run_id)
            if run.status not in LIVE_STATUSES:
                raise Conflict(f"run {run_id!r} is {run.status}; commands reach live runs only")
            cmd_id = new_id(self.clock())
            tx.execute(
                f"INSERT INTO commands ({_CMD_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (cmd_id, run_id, name, dumps_str(dict(args or {})), "pending", self.clock(),
                 None, None, None, None, requested_by, tx.seq),
            )
            self._event(tx, run_id, "command", {"id": cmd_id, "name": name, "status": "pending"})
            return self._get_command(tx.conn, cmd_id)

    def _get_command(self, conn: sqlite3.Connection, cmd_id: str) -> Command:
        row = conn.execute(f"SELECT {_CMD_COLS} FROM commands WHERE id = ?", (cmd_id,)).fetchone()
        if row is None:
            raise NotFound(f"no command {cmd_id!r}")
        return _command(row)

    def get_command(self, cmd_id: str) -> Command:
        return self._get_command(self._reader(), cmd_id)

    def list_commands(
        self, run_id: str, *, status: str | None = None, limit: int = 200
    ) -> list[Command]:
        with self._read() as conn:
            self._get_run(conn, run_id)
            sql = f"SELECT {_CMD_COLS} FROM commands WHERE run_id = ?"
            args: list[Any] = [run_id]
            if status is not None:
                sql += " AND status = ?"
                args.append(status)
            rows = conn.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?",
                                [*args, limit]).fetchall()
        return [_command(r) for r in rows]

    def has_pending_commands(self, run_id: str) -> bool:
        """Cheap check for the SDK's poll loop (an index lookup, no write)."""
        return self._reader().execute(
            "SELECT 1 FROM commands WHERE run_id = ? AND status = 'pending' LIMIT 1", (run_id,)
        ).fetchone() is not None

    def take_pending_commands(self, run_id: str) -> list[Command]:
        """Mark the run's pending commands delivered and return them, oldest first."""
        if not self.has_pending_commands(run_id):
            return []
        with self.write() as tx:
            ids = [r[0] for r in tx.execute(
                "SELECT id FROM commands WHERE run_id = ? AND status = 'pending' "
                "ORDER BY created_at, id", (run_id,))]
            for cmd_id in ids:
                self._transition(tx, cmd_id, "delivered")
            return [self._get_command(tx.conn, i) for i in ids]

    def finish_command(
        self, cmd_id: str, *, ok: bool, result: Any = None, error: str | None = None
    ) -> Command:
        with self.write() as tx:
            return self._transition(tx, cmd_id, "done" if ok else "failed", result, error)

    def _transition(
        self, tx: Tx, cmd_id: str, status: str, result: Any = None, error: str | None = None
    ) -> Command:
        cmd = self._get_command(tx.conn, cmd_id)
        if status not in COMMAND_TRANSITIONS[cmd.status]:
            raise Conflict(f"command {cmd_id!r} is {cmd.status}; it cannot become {status}")
        now = self.clock()
        time_col = "delivered_at" if status == "delivered" else "finished_at"
        tx.execute(
            f"UPDATE commands SET status = ?, {time_col} = ?, result = ?, error = ?, seq = ? "
            "WHERE id = ?",
            (status, now, None if result is None else dumps_str(result), error, tx.seq, cmd_id),
        )
        payload: dict[str, Any] = {"id": cmd_id, "name": cmd.name, "status": status}
        if result is not None:
            payload["result"] = result
        if error is not None:
            payload["error"] = error
        self._event(tx, cmd.run_id, "command", payload)
        return self._get_command(tx.conn, cmd_id)

    def _expire_commands(self, tx: Tx, run_id: str, why: str) -> None:
        for (cmd_id,) in tx.execute(
            "SELECT id FROM commands WHERE run_id = ? AND status IN ('pending', 'delivered')",
            (run_id,),
        ).fetchall():
            self._transition(tx, cmd_id, "expired", error=why)

    # -- the change feed -----------------------------------------------------------

    def current_seq(self) -> tuple[int, int]:
        """``(seq, event_seq)``: where a follower starting now begins."""
        with self._read() as conn:
            seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            ev = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        return seq, int(ev)

    def changes_since(self, seq: int, event_seq: int, *, limit: int = 5000) -> Changes:
        """Everything stamped after ``seq`` and events after ``event_seq``, in one snapshot."""
        with self._read() as conn:
            now_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            if now_seq == seq:
                ev_rows = conn.execute(
                    "SELECT seq, run_id, time, kind, payload FROM events WHERE seq > ? "
                    "ORDER BY seq LIMIT ?", (event_seq, limit)).fetchall()
                return Changes(now_seq, [], [], [_event(r) for r in ev_rows], [], [])
            runs = [_run(r) for r in conn.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE seq > ? ORDER BY seq", (seq,))]
            series = [self._series_info(r) for r in conn.execute(
                self._SERIES_SQL + "WHERE s.seq > ? GROUP BY s.id ORDER BY s.seq", (seq,))]
            events = [_event(r) for r in conn.execute(
                "SELECT seq, run_id, time, kind, payload FROM events WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (event_seq, limit))]
            commands = [_command(r) for r in conn.execute(
                f"SELECT {_CMD_COLS} FROM commands WHERE seq > ? ORDER BY seq", (seq,))]
            deleted = [r[0] for r in conn.execute(
                "SELECT id FROM deleted_runs WHERE seq > ?", (seq,))]
            logs = {r[0]: int(r[1]) for r in conn.execute(
                "SELECT run_id, last_seq FROM log_heads WHERE seq > ?", (seq,))}
        return Changes(now_seq, runs, series, events, commands, deleted, logs)
