"""What the store's tables need of an engine: connections, transactions and a dialect.

The table classes (``run_rows``, ``metric_rows``, ``checkpoint_rows``…) take a
:class:`Core` and use only this: ``reader()`` (one statement, the latest commit),
``read()`` (a snapshot for several), ``write()`` (the one write transaction, stamped with a
``seq`` in commit order) and ``dialect`` (its error classes). Their SQL is written in
SQLite's dialect; the PostgreSQL core (``pg_core``) translates each statement once
(``pg_sql``) and its schema gives SQLite's scalar ``min``/``max`` (``pg_schema``), so the
same logic runs on both engines. ``SQLiteCore`` and ``PGCore`` implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Params = Sequence[Any] | Mapping[str, Any]
#: Seconds since the epoch; injected in tests.
Clock = Callable[[], float]


class Cursor(Protocol):
    """A statement's result, as ``sqlite3.Cursor`` has it."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...
    def close(self) -> None: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """Where statements run (``sqlite3.Connection``'s two methods)."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Cursor: ...
    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> Cursor: ...
    def getlimit(self, category: int, /) -> int:
        """SQLite's limits (``sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER``: parameters a
        statement may have); another engine answers its own."""


@runtime_checkable
class Pipelined(Protocol):
    """A connection that sends several statements at once (PostgreSQL's pipeline)."""

    def execute_all(self, statements: Sequence[tuple[str, Params]], /) -> Sequence[Cursor]: ...


def execute_all(conn: Conn, statements: Sequence[tuple[str, Params]]) -> Sequence[Cursor]:
    """Run independent statements, in order, and return their results: on a connection
    that can (``Pipelined``), sent together and answered together (one round trip to a
    PostgreSQL cluster, not one a statement); else one after the other (SQLite, in
    process, has no round trips to save)."""
    if isinstance(conn, Pipelined):
        return conn.execute_all(statements)
    return [conn.execute(sql, args) for sql, args in statements]


class WriteTx(Protocol):
    """An open write transaction."""

    @property
    def conn(self) -> Conn: ...
    @property
    def seq(self) -> int:
        """The number this transaction stamps its rows with (taken on first use; grows in
        commit order across every process sharing the store)."""
    def execute(self, sql: str, args: Params = ...) -> Cursor: ...
    def stamped(self, statements: Sequence[tuple[str, Params]], /) -> Sequence[Cursor]:
        """Take ``seq`` (when not taken yet) and run ``statements``, in order: sent
        together where the connection can (``execute_all``)."""


@dataclass(frozen=True)
class Dialect:
    """What differs between engines besides the SQL (which ``pg_sql`` translates)."""

    #: ``sqlite`` or ``postgresql``.
    name: str
    #: The errors a broken constraint raises (a duplicate key, a missing parent row).
    integrity_errors: tuple[type[Exception], ...]
    #: The errors of a store that is busy or away for now (nothing was written).
    transient_errors: tuple[type[Exception], ...]


class Core(Protocol):
    """One engine's connections and transactions (see the module's docstring)."""

    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def dialect(self) -> Dialect: ...
    def reader(self) -> Conn:
        """Where one statement sees the latest commit."""
    def read(self) -> AbstractContextManager[Conn]:
        """A consistent snapshot for several statements."""
    def write(self) -> AbstractContextManager[WriteTx]:
        """The write transaction; called again inside one (same thread), it joins it."""
    def schema_version(self) -> int: ...
    def wait_for_writes(self, timeout: float) -> bool: ...
    def lead(self, role: str) -> bool: ...
    def close(self) -> None: ...
