"""The run table of the store: runs filtered, sorted and paged by any column, with
the values of chosen columns; the columns there are; runs grouped with aggregates.

Sorting and filtering happen in SQL (``run_query_sql``); a page's values are read after
the page is chosen, so a sort over 10,000 runs computes only the sort key for each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, cast

from .codec import dumps_str
from .common_rows import RUN_COLS, run_row
from .engine import Conn, Core
from .run_query import (
    Column,
    QueryError,
    RunGroup,
    RunPage,
    RunQuery,
    SortKey,
    config_key_id,
    queryable_key,
)
from .run_query_sql import REGEX_BUDGET_S, RunSql, f8, install_functions

#: The column chooser lists at most this many keys of each kind.
MAX_KEYS: Final = 2000
#: A grouping answers at most this many groups.
MAX_GROUPS: Final = 1000
#: Built-ins computed in SQL (the others are the run's own fields).
_COMPUTED: Final = ("duration", "step", "progress", "steps_per_s", "eta_s")


def _type_rank(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, 0)
    if isinstance(value, str):
        return (1, value)
    return (0, value)


def config_value(config: Any, path: tuple[str, ...]) -> Any:
    """The config's value at ``path``: a leaf as is, an object or array as JSON text."""
    value = config
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, dict | list):
        return dumps_str(value)
    return value


def _fullkey_path(fullkey: str) -> tuple[str, ...] | None:
    """The keys of a ``json_tree`` full key (``$.a."b.c"``); None inside an array or for
    a key with a double quote (a config key no query can name)."""
    parts: list[str] = []
    i, n = 1, len(fullkey)
    while i < n:
        if fullkey[i] != ".":
            return None  # [n]: an array element, or inside one
        i += 1
        if i < n and fullkey[i] == '"':
            end = fullkey.find('"', i + 1)
            if end < 0 or "\\" in fullkey[i + 1:end]:
                return None
            parts.append(fullkey[i + 1:end])
            i = end + 1
        else:
            end = i
            while end < n and fullkey[end] not in ".[":
                end += 1
            parts.append(fullkey[i:end])
            i = end
    return tuple(parts) if all(queryable_key(p) for p in parts) else None


class RunTableQueries:
    """The run table's queries on SQLite (``pg_run_table`` changes what PostgreSQL needs:
    the query functions, a config value's reads, the config keys' walk)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    @contextmanager
    def _querying(self) -> Iterator[tuple[Conn, RunSql]]:
        """A read connection with the query functions, and a regular expression that runs
        out of its time budget turned into a ``QueryError`` (422), not a store error."""
        with self._core.read() as conn:
            budget = install_functions(cast(sqlite3.Connection, conn))
            try:
                yield conn, RunSql(self._core.clock())
            except sqlite3.OperationalError:
                if budget.exceeded:
                    raise QueryError("query", 0, "the regular expression takes too long to "
                                     f"match (over {REGEX_BUDGET_S:g} s): make it "
                                     "simpler") from None
                raise

    def _resolver(self, conn: Conn, query: RunQuery) -> Any:
        """Bare keys: a metric key when a run in scope has such a series, else config."""
        projects = query.projects
        seen: dict[str, Column] = {}

        def resolve(col: Column) -> Column:
            if col.kind != "bare":
                return col
            if col.name not in seen:
                sql = "SELECT 1 FROM series s WHERE s.key = ?"
                args: list[Any] = [col.name]
                if projects:
                    sql += (" AND s.run_id IN (SELECT id FROM runs WHERE project IN "
                            f"({', '.join('?' * len(projects))}))")
                    args += projects
                if conn.execute(sql + " LIMIT 1", args).fetchone() or not col.path:
                    seen[col.name] = Column("metric", col.name, col.id)
                else:
                    seen[col.name] = Column("config", col.name, col.id, path=col.path)
            return seen[col.name]

        return resolve

    def query_runs(self, query: RunQuery, *, sort: Sequence[SortKey] = (),
                   columns: Sequence[Column] = (), limit: int = 100,
                   offset: int = 0) -> RunPage:
        """Runs matching ``query``, sorted by ``sort`` (then id), one page, how many match
        in all, and the ``columns``' values of each run of the page."""
        with self._querying() as (conn, q):
            where, args = q.where(query, self._resolver(conn, query))
            total = int(conn.execute(f"SELECT count(*) FROM runs r{where}", args).fetchone()[0])
            joins, join_args, order, order_args = q.order_by(list(sort) or [
                SortKey(Column("builtin", "created_at", "created_at"), True)])
            ids = [row[0] for row in conn.execute(
                f"SELECT r.id FROM runs r{joins}{where}{order} LIMIT ? OFFSET ?",
                [*join_args, *args, *order_args, max(0, limit), max(0, offset)])]
            if not ids:
                return RunPage([], total, [])
            marks = ", ".join("?" * len(ids))
            rows = {row[0]: row for row in conn.execute(
                f"SELECT {RUN_COLS} FROM runs WHERE id IN ({marks})", ids)}
            runs = [run_row(rows[i]) for i in ids]
            values = self._values(conn, q, ids, runs, columns)
        return RunPage(runs, total, values)

    def _values(self, conn: Conn, q: RunSql, ids: list[str], runs: list[Any],
                columns: Sequence[Column]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{} for _ in runs]
        sql_cols = [c for c in columns
                    if c.kind == "metric" or (c.kind == "builtin" and c.name in _COMPUTED)]
        if sql_cols:
            exprs, args = [], []
            for c in sql_cols:
                sql, a = q.raw(c)
                exprs.append(sql)
                args += a
            marks = ", ".join("?" * len(ids))
            found = {row[0]: row[1:] for row in conn.execute(
                f"SELECT r.id, {', '.join(exprs)} FROM runs r WHERE r.id IN ({marks})",
                [*args, *ids])}
            for k, run_id in enumerate(ids):
                row = found[run_id]
                for c, v in zip(sql_cols, row, strict=True):
                    out[k][c.id] = f8(v) if c.kind == "metric" and c.agg == "last" else v
        for k, run in enumerate(runs):
            for c in columns:
                if c.kind == "config":
                    out[k][c.id] = config_value(run.config, c.path)
                elif c.kind == "builtin" and c.name == "tags":
                    out[k][c.id] = ", ".join(run.tags)
                elif c.kind == "builtin" and c.id not in out[k]:
                    out[k][c.id] = getattr(run, c.name)
        return out

    def run_columns(self, query: RunQuery) -> tuple[list[str], list[str]]:
        """The metric keys and the config keys (dotted, leaves) of the runs matching."""
        with self._querying() as (conn, q):
            where, args = q.where(query, self._resolver(conn, query))
            if where:
                metrics = [row[0] for row in conn.execute(
                    "SELECT DISTINCT s.key FROM series s WHERE s.run_id IN "
                    f"(SELECT r.id FROM runs r{where}) ORDER BY s.key LIMIT ?",
                    [*args, MAX_KEYS])]
            else:
                metrics = [row[0] for row in conn.execute(
                    "SELECT DISTINCT key FROM series ORDER BY key LIMIT ?", (MAX_KEYS,))]
            keys = self._config_keys(conn, where, args)
        return metrics, sorted(keys)[:MAX_KEYS]

    def _config_keys(self, conn: Conn, where: str, args: list[Any]) -> set[str]:
        """The config keys (dotted leaves) of the runs ``where`` selects."""
        keys: set[str] = set()
        for (fullkey,) in conn.execute(
                "SELECT DISTINCT j.fullkey FROM runs r, json_tree(r.config) j"
                f"{where or ' WHERE 1'} AND j.type != 'object' "
                "AND typeof(j.key) = 'text'", args):
            path = _fullkey_path(fullkey)
            if path:
                keys.add(config_key_id(path))
        return keys

    def group_runs(self, query: RunQuery, by: Column,
                   columns: Sequence[Column] = ()) -> list[RunGroup]:
        """Runs matching ``query`` grouped by a config key, status, project or tag (a run
        with several tags is in each of their groups; none: the ``null`` group)."""
        with self._querying() as (conn, q):
            where, args = q.where(query, self._resolver(conn, query))
            joins, kind_sql = "", "NULL"
            g_args: list[Any] = []
            if by.kind == "config":
                group_sql, g_args = q.config(by.path, "group")
                kind_sql = "json_type(r.config, ?)"
                g_args = [*g_args, *g_args]
            elif by.name == "tag":
                group_sql, joins = "t.value", " LEFT JOIN json_each(r.tags) t ON 1 = 1"
            else:
                group_sql = f"r.{by.name}"
            exprs, c_args = [], []
            for k, c in enumerate(columns):
                sql, a = q.number(c)
                exprs.append(f", {sql} AS c{k}")
                c_args += a
            aggs = "".join(f", MIN(c{k}), MAX(c{k}), AVG(c{k})" for k in range(len(columns)))
            rows = conn.execute(
                f"WITH v AS MATERIALIZED (SELECT {group_sql} AS g, {kind_sql} AS gt"
                f"{''.join(exprs)} FROM runs r{joins}{where}) "
                f"SELECT g, gt, count(*){aggs} FROM v GROUP BY g, gt",
                [*g_args, *c_args, *args]).fetchall()
        groups = []
        for row in rows:
            value = row[0]
            if isinstance(value, dict | list):  # PostgreSQL's jsonb; SQLite's is text
                value = dumps_str(value)
            if row[1] in ("true", "false"):
                value = row[1] == "true"
            aggregates = {c.id: {"min": row[3 + 3 * k], "max": row[4 + 3 * k],
                                 "mean": row[5 + 3 * k]} for k, c in enumerate(columns)}
            groups.append(RunGroup(value, int(row[2]), aggregates))
        groups.sort(key=lambda g: _type_rank(g.value))
        return groups[:MAX_GROUPS]

