"""The SQLite engine's core: one file, WAL, one writer connection, a reader per thread.

Every write runs in one ``BEGIN IMMEDIATE`` transaction that first bumps ``meta.seq``; the
rows it touches are stamped with that number. Since SQLite lets one writer in at a time,
``seq`` grows in commit order across every process sharing the file, and a follower that
remembers the last ``seq`` it saw (``changes_since``) misses nothing.

The table classes (``run_rows``, ``metric_rows``, ``checkpoint_rows``…) take a
:class:`SQLiteCore` and use only its connections and transactions; ``SQLiteStore`` puts
them together. SQLite's "try again later" failures (a file locked past the busy timeout,
a disk I/O error, a full disk) leave the store as :class:`~.errors.Unavailable` through
:func:`guard`, so callers never see ``sqlite3``.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

from .engine import Clock, Dialect
from .errors import StoreError, Unavailable
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

#: Training processes and the server share the file: a writer waits for the lock this long
#: (milliseconds) before giving up, instead of failing at once.
BUSY_TIMEOUT_MS: Final = 15_000
#: Seconds a writer sleeps between tries for the write lock another process holds: short
#: and flat. SQLite's own busy handler backs off to sleeps of up to 100 ms, so with five
#: training processes taking the lock ~10 ms at a time a write waited p99 0.4-0.8 s, most
#: of it asleep while the lock was free.
LOCK_RETRY_S: Final = 0.001
#: Seconds between a follower's looks for a commit (``wait_for_writes``); ``WATCH_IDLE_S``
#: once nothing was committed for ``WATCH_IDLE_AFTER_S`` (an idle server wakes less often).
WATCH_EVERY_S: Final = 0.005
WATCH_IDLE_S: Final = 0.025
WATCH_IDLE_AFTER_S: Final = 2.0
#: WAL lets readers (the dashboard) run while a training process writes.
JOURNAL_MODE: Final = "WAL"
#: In WAL mode NORMAL is durable against a crash or kill of any process (the WAL is in the
#: OS); only a power cut can lose the last commits. FULL would fsync every commit.
SYNCHRONOUS: Final = "NORMAL"
#: SQLite's primary result codes that mean "nothing was written; the same request may work
#: later": BUSY, LOCKED, IOERR, FULL.
TRANSIENT_CODES: Final = frozenset({5, 6, 10, 13})

#: What the tables need to know of SQLite besides its SQL (``engine.Dialect``).
DIALECT: Final = Dialect("sqlite", integrity_errors=(sqlite3.IntegrityError,),
                         transient_errors=(sqlite3.OperationalError,))
P = ParamSpec("P")
R = TypeVar("R")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite said another connection holds the lock (SQLITE_BUSY)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) == 5
    return "locked" in str(exc) or "busy" in str(exc)


def is_transient(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed for a reason that may pass (locked, busy, I/O, full)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in TRANSIENT_CODES
    text = str(exc)
    return any(s in text for s in ("locked", "busy", "disk I/O error", "disk is full"))


def store_error(exc: sqlite3.Error) -> Exception:
    """What SQLite's error becomes for callers: :class:`Unavailable` for a failure that may
    pass, a :class:`StoreError` for a file that is not a readable database, else itself
    (a bug: the server answers 500)."""
    if isinstance(exc, sqlite3.OperationalError) and is_transient(exc):
        return Unavailable(f"the store is unavailable right now ({exc}); try again later")
    if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "malformed"
        return StoreError(f"the store's database file cannot be read ({exc})")
    return exc


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with SQLite's failures raised as store errors (see :func:`store_error`)."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            err = store_error(exc)
            if err is exc:
                raise
            raise err from exc

    return guarded


def engine_version() -> str:
    """The engine and its version (``SQLite 3.45.1``)."""
    return f"SQLite {sqlite3.sqlite_version}"


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

    def stamped(self, statements: Sequence[tuple[str, Any]], /) -> list[sqlite3.Cursor]:
        """``engine.WriteTx.stamped``: in process, one statement after another."""
        self.seq  # noqa: B018 (taken)
        return [self.conn.execute(sql, args) for sql, args in statements]


class SQLiteCore:
    """Connections and transactions on one SQLite file. Thread-safe.

    ``busy_timeout`` (seconds) is how long a writer waits for another process's lock
    before the store reports :class:`Unavailable`; tests shorten it.
    """

    def __init__(self, path: str | Path, *, clock: Clock = time.time,
                 busy_timeout: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self.path = Path(path)
        self.clock = clock
        self.dialect = DIALECT
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._tx: Tx | None = None  # the open write transaction (its thread holds _lock)
        self._tx_owner: int | None = None  # the thread of that transaction
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._owners: dict[int, threading.Thread] = {}  # id(reader) -> the thread using it
        self._leads: dict[str, int] = {}  # role -> the open, locked file (``lead``)
        self._closed = False
        self._watch_lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None  # ``wait_for_writes``'s connection
        self._watched = 0
        self._watched_at = 0.0  # when ``_watched`` last changed (monotonic)
        try:
            self._writer = self._connect(writer=True)
        except sqlite3.DatabaseError as exc:
            err = store_error(exc)
            if err is exc:
                raise
            raise err from exc
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._writer.close()
            err = store_error(exc)
            if err is exc:
                raise
            raise err from exc
        except BaseException:
            self._writer.close()
            raise

    def _connect(self, *, writer: bool = False) -> sqlite3.Connection:
        """A connection to the file; the writer's waits for the write lock are its own
        (``_begin``), not SQLite's busy handler."""
        timeout = 0.0 if writer else self.busy_timeout
        conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # Switching a new file to WAL needs a moment alone with it, and SQLite does not
        # always wait for that on its own: two processes opening a fresh file at once (the
        # demo's runs) could fail with "database is locked". Wait as a writer would.
        deadline = time.monotonic() + self.busy_timeout
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

    def _own_tx(self) -> bool:
        """Whether this thread is inside the open write transaction."""
        return self._tx is not None and self._tx_owner == threading.get_ident()

    def reader(self) -> sqlite3.Connection:
        """This thread's reader connection (autocommit: each query sees the latest commit);
        inside a write transaction, its connection: reads see what it wrote so far (a
        batch that records a checkpoint and then deletes it)."""
        if self._closed:
            raise RuntimeError("store is closed")
        if self._own_tx():
            return self._writer
        holder: _ReaderHolder | None = getattr(self._local, "holder", None)
        if holder is None:
            conn = self._connect()
            holder = _ReaderHolder(conn)
            self._local.holder = holder
            with self._readers_lock:
                self._readers.append(conn)
                self._owners[id(conn)] = threading.current_thread()
            # Server worker threads come and go: when one ends, its thread-local holder
            # is freed and its connection closed, so connections never pile up.
            weakref.finalize(holder, self._drop_reader, conn)
        return holder.conn

    def _drop_reader(self, conn: sqlite3.Connection) -> None:
        with self._readers_lock:
            self._owners.pop(id(conn), None)
            if conn in self._readers:
                self._readers.remove(conn)
                conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries (inside a write transaction: it)."""
        if self._own_tx():
            yield self._writer
            return
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction (the only way anything is written). Called again inside
        one (same thread), it joins it: several store calls then commit together (the
        store applies an SDK batch that way)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            if self._tx is not None:
                yield self._tx
                return
            self._begin()
            self._tx = Tx(self._writer)
            self._tx_owner = threading.get_ident()
            try:
                yield self._tx
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:  # a failed COMMIT may leave it open
                    self._writer.execute("ROLLBACK")
                raise
            finally:
                self._tx = None

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``: the write lock, tried every ``LOCK_RETRY_S`` while another
        process holds it, for up to ``busy_timeout`` seconds (then SQLite's "database is
        locked" goes up, as :class:`Unavailable` through ``guard``)."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_RETRY_S)

    def _migrate(self) -> None:
        with self._lock:
            self._begin()
            try:
                version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
                if version > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path} has schema version {version}, newer than this traindeck "
                        f"({SCHEMA_VERSION}); upgrade traindeck to open it"
                    )
                if 0 < version < SCHEMA_VERSION:  # a rewrite of big tables can take a while
                    log.warning("upgrading %s from store schema %d to %d; a big store may "
                                "take a while", self.path, version, SCHEMA_VERSION)
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
        return int(self.reader().execute("PRAGMA user_version").fetchone()[0])

    def wait_for_writes(self, timeout: float) -> bool:
        """Block until a commit to the file (True: any process's, this one's too) or
        ``timeout`` passes (False). SQLite tells no one, so a connection of its own looks
        at ``PRAGMA data_version`` (shared memory, no read of the file) every
        ``WATCH_EVERY_S`` (``WATCH_IDLE_S`` when idle); commits since the last call count,
        several are one."""
        deadline = time.monotonic() + timeout
        with self._watch_lock:
            if self._watcher is None and not self._closed:
                self._watcher = self._connect()
                self._watched = self._data_version()
                self._watched_at = time.monotonic()
                return True  # what was committed before watching is unknown
            while not self._closed:
                version = self._data_version()
                now = time.monotonic()
                if version != self._watched:
                    self._watched, self._watched_at = version, now
                    return True
                if now >= deadline:
                    return False
                idle = now - self._watched_at > WATCH_IDLE_AFTER_S
                time.sleep(min(WATCH_IDLE_S if idle else WATCH_EVERY_S, deadline - now))
        time.sleep(max(0.0, deadline - time.monotonic()))  # closed: nothing will come
        return False

    def _data_version(self) -> int:
        assert self._watcher is not None
        return int(self._watcher.execute("PRAGMA data_version").fetchone()[0])

    def lead(self, role: str) -> bool:
        """An exclusive ``flock`` on ``<file>.lead-<role>``, kept open while this core
        lives: the OS lets it go when the process dies."""
        with self._lock:
            if role in self._leads:
                return True
            fd = os.open(f"{self.path}.lead-{role}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._leads[role] = fd
            return True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
            for fd in self._leads.values():
                os.close(fd)  # its lock goes with it
            self._leads.clear()
        with self._watch_lock:  # a wait in progress sees ``_closed`` within WATCH_EVERY_S
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
        # Another live thread's reader may be in the middle of a query (a worker thread the
        # server's shutdown did not wait for): closing it under that thread can crash the
        # process, so it is left to close when its thread ends (its finalizer); the store
        # refuses every read from now on.
        me = threading.current_thread()
        with self._readers_lock:
            for conn in list(self._readers):
                owner = self._owners.get(id(conn))
                if owner is None or owner is me or not owner.is_alive():
                    self._readers.remove(conn)
                    self._owners.pop(id(conn), None)
                    conn.close()
