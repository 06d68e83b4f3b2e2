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

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

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


@runtime_checkable
class Arrays(Protocol):
    """A PostgreSQL connection: it binds a list as one array parameter, and takes
    ``LATERAL`` subqueries."""

    def unnest(self, types: Sequence[str], /) -> str:
        """``unnest(?::type[], …) AS v(column1, …)``: a table of one array a column."""
        ...


#: A list of more values than this goes as arrays on a connection that takes them
#: (``Arrays``). psycopg converts a statement of more than 50 parameters anew at each
#: call, and PostgreSQL parses and plans it anew (its text changes with the number of
#: values); with arrays the text stays the same, and the statement is prepared once.
#: Fewer values go as plain parameters, cheaper there (no arrays to build).
ARRAY_MIN: Final = 50


def _columns(rows: Sequence[Sequence[Any]], n: int) -> list[list[Any]]:
    """``rows`` of ``n`` values as ``n`` lists, one a column: the arrays of ``unnest``."""
    return [[r[i] for r in rows] for i in range(n)]


def values_table(conn: Conn, rows: Sequence[Sequence[Any]], types: Sequence[str]
                 ) -> tuple[str, list[Any]]:
    """``rows`` (at least one) as a table ``v`` to join on, its columns ``column1``,
    ``column2``… (one a type of ``types``: ``text``, ``bigint``…), and the parameters:
    a ``VALUES`` list (its columns are named so in both engines), or one array a column
    (``Arrays``)."""
    if isinstance(conn, Arrays) and len(rows) * len(types) > ARRAY_MIN:
        return conn.unnest(types), _columns(rows, len(types))
    row = f"({','.join('?' * len(types))})"
    return f"(VALUES {','.join([row] * len(rows))}) AS v", [v for r in rows for v in r]


def by_keys(conn: Conn, table: str, alias: str, keys: Sequence[str], types: Sequence[str],
            rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """A ``FROM`` clause: the rows of ``table`` (as ``alias``) whose ``keys`` (a unique
    key of it, e.g. its primary key) are one of ``rows`` (at least one), one index lookup
    a row looked up; ``v.column1``… are the keys looked up. And its parameters.

    On PostgreSQL each lookup is a ``LATERAL`` subquery of one row: a plain join let it
    keep the plan it made while the table was small, a scan of the whole table (its plan
    cache keeps a prepared statement's plan), and so it did under issue 14's load."""
    source, args = values_table(conn, rows, types)
    on = " AND ".join(f"{alias}.{k} = v.column{i}" for i, k in enumerate(keys, start=1))
    if isinstance(conn, Arrays):
        return (f"{source} CROSS JOIN LATERAL "
                f"(SELECT * FROM {table} {alias} WHERE {on} LIMIT 1) {alias}"), args
    return f"{source} JOIN {table} {alias} ON {on}", args


def any_of(conn: Conn, column: str, values: Sequence[Any], type_: str
           ) -> tuple[str, list[Any]]:
    """``column IN (…)`` of ``values`` (at least one, of SQL type ``type_``) and its
    parameters: one array on a connection that takes them (``Arrays``), when many."""
    if isinstance(conn, Arrays) and len(values) > ARRAY_MIN:
        return f"{column} = ANY(?::{type_}[])", [list(values)]
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


#: Rows (and parameters, within the connection's own limit) in one multi-row INSERT on
#: SQLite (``insert_rows``).
MANY_ROWS: Final = 256
MANY_PARAMS: Final = 32_000


def insert_rows(conn: Conn, insert: str, rows: Sequence[Sequence[Any]],
                types: Sequence[str], *, key: int = 0) -> None:
    """``conn.executemany(insert, rows)``, an ``INSERT … VALUES (?, …)`` (maybe ``OR
    REPLACE``, maybe with an ``ON CONFLICT`` tail; no ``RETURNING``) of columns of
    ``types``, as few statements as each engine runs fastest:

    - SQLite: statements of many rows (``VALUES (…), (…)``). A statement is one step of
      SQLite, where ``executemany`` steps once a row, and each step lets go of the GIL and
      waits to take it back from a busy training thread.
    - PostgreSQL (``Arrays``): one statement over one array a column (``INSERT … SELECT *
      FROM unnest(…)``), its text the same for any number of rows: a group commit's rows
      cost the cluster one statement, not one each, and psycopg one array a column to
      send, not a message a row. Rows whose first ``key`` columns (the conflict key of an
      upsert) repeat keep the last, as one after the other would (one statement may not
      update a row twice).
    - One row: the plain statement."""
    start = insert.index("VALUES ") + len("VALUES ")
    end = insert.index(")", start) + 1
    head, one, tail = insert[:start - len("VALUES ")], insert[start:end], insert[end:]
    if len(rows) <= 1:
        conn.executemany(insert, rows)
    elif isinstance(conn, Arrays):
        if key:
            rows = list({tuple(r[:key]): r for r in rows}.values())
        conn.executemany(f"{head}SELECT * FROM {conn.unnest(types)}{tail}",
                         [_columns(rows, len(types))])
    elif isinstance(conn, sqlite3.Connection):
        limit = min(MANY_PARAMS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        per = max(1, min(MANY_ROWS, limit // len(rows[0])))
        for i in range(0, len(rows), per):
            part = rows[i:i + per]
            conn.execute(f"{head}VALUES {','.join([one] * len(part))}{tail}",
                         [v for r in part for v in r])
    else:
        conn.executemany(insert, rows)


def update_rows(conn: Conn, update: str, rows: Sequence[Sequence[Any]],
                types: Sequence[str]) -> None:
    """``conn.executemany(update, rows)`` of ``UPDATE table SET … WHERE key = ?`` (only
    ``?`` placeholders, the key's last; the key names one row, and unqualified names
    are the table's). On PostgreSQL (``Arrays``), rows with distinct keys go as one
    statement over one array a column (``UPDATE … FROM unnest(…)``), as ``insert_rows``."""
    keys = {r[-1] for r in rows}
    if len(rows) <= 1 or not isinstance(conn, Arrays) or len(keys) < len(rows):
        conn.executemany(update, rows)
        return
    sets, where = update.split(" WHERE ")
    numbered = iter(range(1, len(types) + 1))
    sets, where = (re.sub(r"\?", lambda _: f"v.column{next(numbered)}", part)
                   for part in (sets, where))
    conn.executemany(f"{sets} FROM {conn.unnest(types)} WHERE {where}",
                     [_columns(rows, len(types))])


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
