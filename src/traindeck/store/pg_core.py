"""The PostgreSQL engine's core: a pool of readers, one writer, every write in commit order.

Every write transaction first takes the store's advisory lock (``pg_advisory_xact_lock``),
as SQLite's ``BEGIN IMMEDIATE`` takes its file's: writes to one store commit one at a time,
across every server process, so ``meta.seq`` grows in commit order and a follower that
remembers the last ``seq`` it saw (``changes_since``) misses nothing, as with SQLite. A
write is one transaction of many rows (an SDK batch), so taking turns costs little; reads
never wait for it. Statements are SQLite's, translated once each (``pg_sql``).

The URL is libpq's (``postgresql://user:password@host:port/db?sslmode=…``) with one more
parameter, ``schema``: the tables go in that schema (created if missing; default
``public``), so several stores can share a database. Migrations (``pg_schema``) run under
a second advisory lock, so several servers starting at once apply each exactly once.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import ConnectionPool

from .engine import Clock, Dialect, Params
from .errors import InvalidInput, Unavailable
from .pg_schema import MIGRATIONS
from .pg_sql import translate
from .urls import redact

#: What the tables need to know of PostgreSQL besides its SQL (``engine.Dialect``).
DIALECT: Final = Dialect("postgresql", integrity_errors=(psycopg.IntegrityError,),
                         transient_errors=(psycopg.OperationalError,))
#: Readers a server process keeps at most; a read waits this long for one (seconds).
POOL_MAX: Final = 12
POOL_TIMEOUT: Final = 30.0
#: Seconds a new connection may take (unless the URL says ``connect_timeout``).
CONNECT_TIMEOUT: Final = 10
#: libpq's limit on the parameters of one statement.
MAX_PARAMS: Final = 65_535
#: The first key of the store's advisory locks (the second is the schema's checksum).
_LOCK_SPACE: Final = 0x7D_ECC0
_WRITE, _MIGRATE, _LEAD = 1, 2, 3
_BEGIN_READ: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
#: A write's ``seq``, with ``pg_notify`` in the same statement (sent at commit, as NOTIFY).
_SEQ: Final = ("UPDATE meta SET value = value + 1 WHERE key = 'seq' "
               "RETURNING value, pg_notify(?, '')")


class _BoolText(Dumper):
    """Python's bools as the integers SQLite keeps them as (the columns are ``bigint``)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _BoolBinary(_BoolText):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return (1 if obj else 0).to_bytes(8, "big")


class _NumericLoader(Loader):
    """``numeric`` (what PostgreSQL's SUM and AVG of integers give) as SQLite gives it: an
    int when whole, else a float; never a Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        if b"." in text or b"N" in text or b"e" in text or b"I" in text:
            return float(text)
        return int(text)


def configure(conn: psycopg.Connection[Any]) -> None:
    """Adapters every connection of the store uses."""
    conn.adapters.register_dumper(bool, _BoolText)
    conn.adapters.register_dumper(bool, _BoolBinary)
    # lists (the arrays of ``unnest``, ``= ANY``) go in binary: bytea arrays as text cost
    # both sides their hex escapes (a group commit's chunk rows: 2.5x the CPU)
    conn.adapters.register_dumper(list, ListBinaryDumper)
    conn.adapters.register_loader("numeric", _NumericLoader)


def split_url(url: str) -> tuple[str, str]:
    """``(libpq conninfo URL, schema)`` of a store URL (``schema=`` taken out)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidInput(f"not a PostgreSQL URL: {redact(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    kept: list[tuple[str, str]] = []
    for k, v in query:
        if k == "schema":
            schema = v
        else:
            kept.append((k, v))
    if not schema or len(schema) > 63 or "\x00" in schema:
        raise InvalidInput("the schema= of a PostgreSQL URL is 1 to 63 characters")
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


class Rows:
    """A statement's rows, fetched (``engine.Cursor``): a pooled connection goes back to
    the pool at once, and a statement without rows answers ``fetchone() is None`` as
    SQLite's does."""

    __slots__ = ("_i", "_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._i = 0
        self.rowcount = rowcount

    @classmethod
    def of(cls, cur: psycopg.Cursor[Any]) -> Rows:
        return cls(cur.fetchall() if cur.description is not None else [], cur.rowcount)

    def fetchone(self) -> Any:
        if self._i >= len(self._rows):
            return None
        self._i += 1
        return self._rows[self._i - 1]

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._i:]
        self._i = len(self._rows)
        return rows

    def fetchmany(self, size: int = 1, /) -> list[Any]:
        rows = self._rows[self._i:self._i + size]
        self._i += len(rows)
        return rows

    def close(self) -> None:
        self._i = len(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


#: The SQL types ``unnest`` takes arrays of (``engine.Arrays``).
ARRAY_TYPES: Final = frozenset({"text", "bigint", "double precision", "bytea"})


def unnest(types: Sequence[str]) -> str:
    """``engine.Arrays.unnest``: one array parameter a column, named as a ``VALUES`` list's."""
    if not types or not set(types) <= ARRAY_TYPES:
        raise ValueError(f"unnest takes arrays of {sorted(ARRAY_TYPES)}, not {list(types)}")
    arrays = ", ".join(f"?::{t}[]" for t in types)
    names = ", ".join(f"column{i}" for i in range(1, len(types) + 1))
    return f"unnest({arrays}) AS v({names})"


class Conn:
    """One psycopg connection running the store's SQL (``engine.Conn``)."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Params = (), /) -> Rows:
        with self.raw.cursor() as cur:
            cur.execute(translate(sql), parameters)  # even (): its %% become %
            return Rows.of(cur)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Rows:
        with self.raw.cursor() as cur:
            cur.executemany(translate(sql), list(seq_of_parameters))
            return Rows([], cur.rowcount)

    def execute_all(self, statements: Sequence[tuple[str, Params]], /) -> list[Rows]:
        """Statements sent together in one pipeline, answered together (``engine.execute_all``):
        one round trip, the pipeline's end (its ``Sync``) sending them and fetching every
        answer. (A ``sync()`` inside the block, then its end, made it two.)"""
        cursors = [self.raw.cursor() for _ in statements]
        try:
            with self.raw.pipeline():
                self._before_all()
                for cur, (sql, args) in zip(cursors, statements, strict=True):
                    cur.execute(translate(sql), args)
            return [Rows.of(cur) for cur in cursors]
        finally:
            for cur in cursors:
                cur.close()

    def _before_all(self) -> None:
        """What goes first in ``execute_all``'s pipeline (nothing here)."""

    def getlimit(self, category: int, /) -> int:
        return MAX_PARAMS

    def unnest(self, types: Sequence[str], /) -> str:
        return unnest(types)


class _TxConn(Conn):
    """The write transaction's connection. What nothing reads the answer of waits, and goes
    out with the next statement or the ``COMMIT`` in one pipeline: the ``BEGIN`` and the
    write lock, and the ``executemany`` statements (a group commit's chunk rows, series
    heads, heartbeats, batch ids). A group commit's first read thus carries its ``BEGIN``,
    and its writes and commit are one round trip to the cluster, not one each. Each round
    trip is a wait for the cluster's process and then for this one's turn on a busy CPU,
    and under issue 14's bar load they made up most of the writer's time.

    The statements run in order all the same (the lock before any read); one that fails
    fails the transaction (at the next statement or the commit, which then raises its
    error)."""

    __slots__ = ("_later", "_opening")

    def __init__(self, raw: psycopg.Connection[Any], lock: str) -> None:
        super().__init__(raw)
        #: The ``BEGIN`` and the lock, until they are sent.
        self._opening: tuple[str, ...] = ("BEGIN", lock)
        self._later: list[tuple[str, list[Params]]] = []

    @property
    def began(self) -> bool:
        """Whether the ``BEGIN`` was sent (a ``ROLLBACK`` is needed after a failure)."""
        return not self._opening

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Rows:
        rows = list(seq_of_parameters)
        if rows:
            self._later.append((translate(sql), rows))
        return Rows([], -1)  # the count is not known yet (DB-API's "unknown")

    def execute(self, sql: str, parameters: Params = (), /) -> Rows:
        if self.began and not self._later:
            return super().execute(sql, parameters)
        return self.execute_all([(sql, parameters)])[0]

    def _before_all(self) -> None:
        self._send_later()

    def commit(self) -> None:
        """``COMMIT``, with what waits sent before it (nothing at all when the transaction
        has nothing to send: it never began)."""
        if not self._later:
            if self.began:
                self.raw.execute("COMMIT")
            return
        with self.raw.pipeline():
            self._send_later()
            self.raw.execute("COMMIT")

    def _send_later(self) -> None:
        opening, self._opening = self._opening, ()
        later, self._later = self._later, []
        with self.raw.cursor() as cur:
            for sql in opening:
                cur.execute(sql)
            for sql, rows in later:
                cur.executemany(sql, rows)


class _Snapshot(Conn):
    """A read snapshot's connection: its ``BEGIN`` goes with its first statement, in one
    pipeline (a round trip fewer for each of the live server's reads)."""

    __slots__ = ("began",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        super().__init__(raw)
        self.began = False

    def execute(self, sql: str, parameters: Params = (), /) -> Rows:
        if self.began:
            return super().execute(sql, parameters)
        return self.execute_all([(sql, parameters)])[0]

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Rows:
        self._before_all()
        return super().executemany(sql, seq_of_parameters)

    def _before_all(self) -> None:
        if not self.began:
            self.raw.execute(_BEGIN_READ)  # in a pipeline, queued with what follows
            self.began = True


class _PoolReader:
    """``reader()``: each statement on a pooled connection, in autocommit."""

    __slots__ = ("_pool",)

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def execute(self, sql: str, parameters: Params = (), /) -> Rows:
        for attempt in (1, 2):
            with self._pool.connection() as raw:
                try:
                    return Conn(raw).execute(sql, parameters)
                except psycopg.OperationalError:
                    # a connection the database dropped (it restarted): the pool discards
                    # it; a read is tried once more on a fresh one
                    if attempt == 2 or not raw.broken:
                        raise
        raise AssertionError("unreachable")

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Rows:
        with self._pool.connection() as raw:
            return Conn(raw).executemany(sql, seq_of_parameters)

    def execute_all(self, statements: Sequence[tuple[str, Params]], /) -> list[Rows]:
        with self._pool.connection() as raw:
            return Conn(raw).execute_all(statements)

    def getlimit(self, category: int, /) -> int:
        return MAX_PARAMS

    def unnest(self, types: Sequence[str], /) -> str:
        return unnest(types)


class Tx:
    """An open write transaction (``engine.WriteTx``). Taking a ``seq`` also queues a
    NOTIFY on the store's channel, sent when (and if) the transaction commits: the other
    servers' followers wake at once (``wait_for_writes``)."""

    def __init__(self, conn: _TxConn, channel: str) -> None:
        self.conn = conn
        self._channel = channel
        self._seq: int | None = None

    @property
    def seq(self) -> int:
        if self._seq is None:
            self._took(self.conn.execute(_SEQ, (self._channel,)))
        assert self._seq is not None
        return self._seq

    def _took(self, rows: Rows) -> None:
        row = rows.fetchone()
        assert row is not None  # the row is made by the first migration
        self._seq = int(row[0])

    def execute(self, sql: str, args: Sequence[Any] | Params = ()) -> Rows:
        return self.conn.execute(sql, args)

    def stamped(self, statements: Sequence[tuple[str, Params]], /) -> list[Rows]:
        """``engine.WriteTx.stamped``: the ``seq`` and the statements in one round trip."""
        if self._seq is not None:
            return self.conn.execute_all(statements)
        first, *rest = self.conn.execute_all([(_SEQ, (self._channel,)), *statements])
        self._took(first)
        return rest


class PGCore:
    """Connections and transactions on one PostgreSQL store (a schema of a database).
    Thread-safe."""

    def __init__(self, url: str, *, clock: Clock = time.time,
                 pool_max: int = POOL_MAX, pool_timeout: float = POOL_TIMEOUT) -> None:
        self.url = url
        self.location = redact(url)
        self.conninfo, self.schema = split_url(url)
        self.clock = clock
        self.dialect = DIALECT
        checksum = zlib.crc32(self.schema.encode())
        self._lock_key = checksum - 2**31  # an int4
        #: The NOTIFY channel of this store's commits (one per schema).
        self.channel = f"traindeck_{checksum:08x}"
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "options": f"-c search_path={_quote_option(self.schema)}",
            "application_name": "traindeck",
        }
        if "connect_timeout" not in self.conninfo:  # a host that is away fails in seconds
            self._kwargs["connect_timeout"] = CONNECT_TIMEOUT
        self._lock = threading.RLock()
        self._tx: Tx | None = None
        self._tx_owner: int | None = None  # the thread of that transaction
        self._closed = False
        self._writer: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._lead_lock = threading.Lock()
        self._leader: psycopg.Connection[Any] | None = None
        self._leads: set[str] = set()
        try:
            self._migrate()
        except psycopg.OperationalError as exc:
            raise Unavailable(f"cannot reach the PostgreSQL store at {self.location}: "
                              f"{first_line(exc)}") from None
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self.conninfo, min_size=1, max_size=pool_max, timeout=pool_timeout,
            kwargs=self._kwargs, configure=configure, open=True,
            name=f"traindeck-{self.schema}")

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.conninfo, **self._kwargs)
        configure(conn)
        return conn

    def _own_tx(self) -> Tx | None:
        """The open write transaction, if this thread is inside it."""
        tx = self._tx
        return tx if tx is not None and self._tx_owner == threading.get_ident() else None

    def reader(self) -> _PoolReader | Conn:
        """Each statement on a pooled connection; inside a write transaction, on its
        connection: reads see what it wrote so far."""
        if self._closed:
            raise RuntimeError("store is closed")
        tx = self._own_tx()
        return tx.conn if tx is not None else _PoolReader(self._pool)

    @contextmanager
    def read(self) -> Iterator[Conn]:
        """A consistent snapshot for several queries (REPEATABLE READ, read only)."""
        if self._closed:
            raise RuntimeError("store is closed")
        tx = self._own_tx()
        if tx is not None:
            yield tx.conn
            return
        with self._pool.connection() as raw:
            snapshot = _Snapshot(raw)
            try:
                yield snapshot
            finally:
                if snapshot.began:
                    raw.execute("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction; called again inside one (same thread), it joins it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            if self._tx is not None:
                yield self._tx
                return
            writer = self._writer
            if writer is None or writer.closed or writer.broken:
                if writer is not None:
                    writer.close()
                self._writer = writer = self._connect()
            # sent with the transaction's first statement (the keys are this module's
            # integers, not input)
            conn = _TxConn(writer, f"SELECT pg_advisory_xact_lock("
                                   f"{int(_LOCK_SPACE + _WRITE)}, {int(self._lock_key)})")
            try:
                self._tx = Tx(conn, self.channel)
                self._tx_owner = threading.get_ident()
                yield self._tx
                conn.commit()
            except BaseException:
                if conn.began and not writer.closed and not writer.broken:
                    writer.execute("ROLLBACK")
                raise
            finally:
                self._tx = None

    def _migrate(self) -> None:
        with self._connect() as conn:
            # the lock first: CREATE SCHEMA IF NOT EXISTS is not safe against another
            # server creating it at the same moment (a unique violation)
            conn.execute("SELECT pg_advisory_lock(%s, %s)",
                         (_LOCK_SPACE + _MIGRATE, self._lock_key))
            try:
                conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    pgsql.Identifier(self.schema)))
                conn.execute("CREATE TABLE IF NOT EXISTS traindeck_schema ("
                             "version integer PRIMARY KEY, applied_at double precision "
                             "NOT NULL)")
                row = conn.execute("SELECT max(version) FROM traindeck_schema").fetchone()
                version = int(row[0]) if row and row[0] is not None else 0
                if version > len(MIGRATIONS):
                    raise RuntimeError(
                        f"the store at {self.location} has schema version {version}, newer "
                        f"than this traindeck ({len(MIGRATIONS)}); upgrade traindeck")
                for number in range(version, len(MIGRATIONS)):
                    with conn.transaction():
                        conn.execute(MIGRATIONS[number])
                        conn.execute("INSERT INTO traindeck_schema (version, applied_at) "
                                     "VALUES (%s, %s)", (number + 1, time.time()))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)",
                             (_LOCK_SPACE + _MIGRATE, self._lock_key))

    def schema_version(self) -> int:
        row = self.reader().execute("SELECT max(version) FROM traindeck_schema").fetchone()
        return int(row[0])

    def wait_for_writes(self, timeout: float) -> bool:
        """Block until a commit to this store NOTIFYs (True: any process's, this one's
        too) or ``timeout`` passes (False). Notices that came meanwhile count; several are
        one. A lost connection waits the timeout out and listens again next time."""
        with self._listen_lock:
            try:
                conn = self._listener
                if conn is None or conn.closed or conn.broken:
                    if conn is not None:
                        conn.close()
                    self._listener = conn = psycopg.connect(self.conninfo, **self._kwargs)
                    conn.execute(f"LISTEN {self.channel}")
                    return True  # what was committed before listening is unknown
                heard = False
                for _ in conn.notifies(timeout=timeout, stop_after=1):
                    heard = True
                if heard:  # the others already queued: one wake for all
                    for _ in conn.notifies(timeout=0):
                        pass
                return heard
            except psycopg.OperationalError:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                time.sleep(timeout)
                return False

    def lead(self, role: str) -> bool:
        """A session advisory lock per role, on a connection of its own: held while that
        connection lives (a process that dies, or loses the database, lets it go)."""
        key = zlib.crc32(f"{self.schema}\x00{role}".encode()) - 2**31
        with self._lead_lock:
            conn = self._leader
            try:
                if conn is not None and not conn.closed and not conn.broken:
                    conn.execute("SELECT 1")  # still connected: still held
                    if role in self._leads:
                        return True
                else:
                    if conn is not None:
                        conn.close()
                    self._leads.clear()
                    self._leader = conn = psycopg.connect(self.conninfo, **self._kwargs)
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                   (_LOCK_SPACE + _LEAD, key)).fetchone()
            except psycopg.OperationalError:
                self._leads.clear()
                if self._leader is not None:
                    self._leader.close()
                    self._leader = None
                return False
            if row is not None and row[0]:
                self._leads.add(role)
                return True
            return False

    def server_version(self) -> str:
        row = self.reader().execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._writer.close()
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
        with self._lead_lock:
            if self._leader is not None:
                self._leader.close()
        self._pool.close()


def _quote_option(schema: str) -> str:
    """``schema`` for libpq's ``options`` (``-c search_path=…``): quoted as an identifier,
    spaces and backslashes escaped as libpq wants them there."""
    ident = '"' + schema.replace('"', '""') + '"'
    return ident.replace("\\", "\\\\").replace(" ", "\\ ")


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (psycopg's carry the server's details after)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
