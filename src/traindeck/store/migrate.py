"""Copy a whole store into another (``traindeck migrate``): SQLite to PostgreSQL, or back.

Every table is copied row for row, in pages ordered by its key, each page written in one
transaction of the destination as an upsert: a copy that stops (Ctrl-C, a lost
connection) is started again and goes on, rewriting at most the page it was in, and what
it copies twice is the same. Ids and ``seq`` stamps are kept, so links between rows hold and
a follower of the new store starts after everything copied (``meta.seq`` becomes the
larger of the two). Run folders are not rows: they stay where they are (the new store's
``--dir``). Then :func:`verify` compares each table's row count and a checksum of its rows
in key order (values canonicalised: integers, floats by their bits, text, bytes, NULL).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .engine import Core

#: The tables, parents first (a row's parent is copied before it), each with its key and
#: its columns. ``tests/unit/test_store_migrate.py`` checks them against both schemas.
TABLES: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("projects", ("id",), ("id", "name", "created_at")),
    ("runs", ("id",), (
        "id", "project", "name", "status", "config", "tags", "notes", "created_at",
        "started_at", "ended_at", "heartbeat_at", "heartbeat_timeout", "host", "pid",
        "command", "git_commit", "git_dirty", "env", "commands_offered", "summary",
        "launch_spec", "seq", "exit_code", "total_steps", "progress", "steps_per_s", "eta_s")),
    ("deleted_runs", ("id",), ("id", "seq")),
    ("series", ("id",), ("id", "run_id", "key", "last_step", "last_time", "last_value", "seq",
                            "written")),
    *((t, ("series_id", "step_lo"), (
        "series_id", "step_lo", "step_hi", "n", "stride", "steps", "times", "vals", "rollup",
        "nf", "vmin", "vmax", "vsum", "first_time", "last_time", "min_time", "max_time",
        "last_value", "nnan", "npinf", "nninf", "codec")) for t in ("chunks", "open_chunks")),
    ("chunk_rollups", ("series_id", "step_lo"), ("series_id", "step_lo", "rollup")),
    ("chunk_groups", ("series_id", "step_lo"),
     ("series_id", "step_lo", "step_end", "n", "min_time", "max_time", "unit")),
    ("chunk_group_units", ("series_id", "step_lo"), ("series_id", "step_lo", "units")),
    ("chunk_group_subs", ("series_id", "step_lo"), ("series_id", "step_lo", "subs")),
    ("events", ("seq",), ("seq", "run_id", "time", "kind", "payload")),
    ("commands", ("id",), (
        "id", "run_id", "name", "args", "status", "created_at", "delivered_at", "finished_at",
        "result", "error", "requested_by", "seq")),
    ("checkpoints", ("id",), (
        "id", "run_id", "step", "path", "kind", "metrics", "metadata", "size", "sha256",
        "created_at", "host", "is_best", "valid")),
    ("media", ("id",), (
        "id", "run_id", "key", "step", "kind", "path", "caption", "created_at", "width",
        "height", "size")),
    ("artifacts", ("id",), ("id", "run_id", "path", "size", "sha256", "created_at")),
    ("log_lines", ("run_id", "seq"), ("run_id", "seq", "time", "stream", "text")),
    ("log_heads", ("run_id",), ("run_id", "last_seq", "seq")),
    ("launches", ("id",), (
        "id", "run_id", "spec", "executor", "executor_state", "status", "created_at",
        "updated_at", "pid", "exit_code", "restarts", "error", "started_at", "ended_at")),
    ("tokens", ("id",), (
        "id", "name", "hash", "scope", "created_at", "last_used_at", "revoked_at", "run_id")),
    ("sessions", ("id",), ("id", "hash", "token_id", "created_at", "expires_at", "ended_at")),
    ("batches", ("run_id", "batch_id"), ("run_id", "batch_id", "applied_at")),
    ("hosts", ("name",), (
        "name", "user", "address", "port", "key_path", "workdir", "created_at", "checked_at",
        "check_error")),
    ("rules", ("id",), (
        "id", "project", "run_id", "kind", "key", "params", "severity", "cooldown_s",
        "created_at")),
    ("webhooks", ("id",), ("id", "url", "format", "created_at")),
    ("logged_models", ("id",), (
        "id", "project", "run_id", "name", "status", "model_type", "params", "tags",
        "created_at", "updated_at")),
)
#: Counters of ``meta``: the destination keeps the larger.
COUNTERS: Final = ("seq", "rules_seq")
#: PostgreSQL's generated ids: their sequences move past the ids copied.
_IDENTITIES: Final = (("projects", "id"), ("series", "id"), ("events", "seq"),
                      ("media", "id"), ("artifacts", "id"))
#: Rows a page reads and one transaction writes; chunk rows are big (up to ~100 kB).
PAGE: Final = 2000
BLOB_PAGE: Final = 100

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: tuple[int, int]  # (source, destination)
    checksums: tuple[str, str]

    @property
    def ok(self) -> bool:
        return self.rows[0] == self.rows[1] and self.checksums[0] == self.checksums[1]


def _q(col: str) -> str:
    return f'"{col}"'


def _pages(core: Core, table: str, key: Sequence[str], cols: Sequence[str],
           page: int | None = None) -> Iterator[list[Any]]:
    """The rows of ``table`` by key, a page at a time (keyset: each page seeks)."""
    names = ", ".join(_q(c) for c in cols)
    order = ", ".join(_q(k) for k in key)
    at = [cols.index(k) for k in key]
    after: list[Any] | None = None
    size = page or (BLOB_PAGE if "chunk" in table else PAGE)
    while True:
        if after is None:
            rows = core.reader().execute(
                f"SELECT {names} FROM {table} ORDER BY {order} LIMIT ?", (size,)).fetchall()
        else:
            cond = f"({order}) > ({', '.join('?' * len(key))})"
            rows = core.reader().execute(
                f"SELECT {names} FROM {table} WHERE {cond} ORDER BY {order} LIMIT ?",
                (*after, size)).fetchall()
        if not rows:
            return
        yield rows
        after = [rows[-1][i] for i in at]


def count_rows(core: Core) -> dict[str, int]:
    reader = core.reader()
    return {t: int(reader.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t, _, _ in TABLES}


def copy_store(src: Core, dst: Core, progress: Progress | None = None, *,
               page: int | None = None) -> dict[str, int]:
    """Copy every row of ``src`` into ``dst`` (see the module's docstring); rows copied per
    table. ``progress(table, done, total)`` as it goes (``total``: all tables' rows);
    ``page`` rows a transaction (default: ``PAGE``, ``BLOB_PAGE`` for chunk tables)."""
    totals = count_rows(src)
    total = sum(totals.values())
    done = 0
    copied: dict[str, int] = {}
    for table, key, cols in TABLES:
        insert = (f"INSERT OR REPLACE INTO {table} ({', '.join(_q(c) for c in cols)}) "
                  f"VALUES ({', '.join('?' * len(cols))})")
        copied[table] = 0
        for rows in _pages(src, table, key, cols, page):
            with dst.write() as tx:
                tx.conn.executemany(insert, [tuple(r) for r in rows])
            copied[table] += len(rows)
            done += len(rows)
            if progress is not None:
                progress(table, done, total)
        if progress is not None:
            progress(table, done, total)
    _finish(src, dst)
    return copied


def _finish(src: Core, dst: Core) -> None:
    """The destination's counters past the source's, and its generated ids past those
    copied."""
    theirs = dict(src.reader().execute("SELECT key, value FROM meta").fetchall())
    with dst.write() as tx:
        for name in COUNTERS:
            if name in theirs:
                mine = int(theirs[name])
                tx.execute("UPDATE meta SET value = ? WHERE key = ? AND value < ?",
                           (mine, name, mine))
        if dst.dialect.name == "postgresql":
            for table, col in _IDENTITIES:
                tx.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "
                           f"GREATEST((SELECT max({col}) FROM {table}), 1))")


def _canonical(value: Any) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"fNaN"
        return b"f" + struct.pack("<d", value + 0.0)  # SQLite's REAL keeps no -0.0
    if isinstance(value, bytes | bytearray | memoryview):
        return b"b" + bytes(value)
    return b"s" + str(value).encode()


def checksum(core: Core, table: str, key: Sequence[str], cols: Sequence[str]
             ) -> tuple[int, str]:
    """``(rows, sha256)`` of ``table``'s rows in key order, values canonicalised."""
    h = hashlib.sha256()
    n = 0
    for rows in _pages(core, table, key, cols):
        for row in rows:
            for value in row:
                part = _canonical(value)
                h.update(len(part).to_bytes(8, "little"))
                h.update(part)
            n += 1
    return n, h.hexdigest()


def verify(src: Core, dst: Core, progress: Progress | None = None) -> list[TableCheck]:
    """Each table's row count and checksum on both sides."""
    checks = []
    for i, (table, key, cols) in enumerate(TABLES):
        a, b = checksum(src, table, key, cols), checksum(dst, table, key, cols)
        checks.append(TableCheck(table, (a[0], b[0]), (a[1], b[1])))
        if progress is not None:
            progress(table, i + 1, len(TABLES))
    return checks
