"""The run table on PostgreSQL: what differs from SQLite's (``run_table_rows``).

SQLite's ``json_extract`` answers a value typed as stored; PostgreSQL's functions have one
type each, so a config value is read as the caller uses it (``td_json_num`` to compare
with a number or sort numbers, ``td_json_text`` for text, ``td_json_get`` to group), all
defined by the schema (``pg_schema``) over the same ``$."a"."b"`` paths. A name's regular
expression runs as PostgreSQL's (``~``) under a statement timeout instead of a budget of
Python's matching; the config keys are walked with ``jsonb_each``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from psycopg import errors as pgerrors

from .engine import Conn
from .run_query import QueryError, config_key_id, queryable_key
from .run_query_sql import REGEX_BUDGET_S, RunSql, Sql, json_path
from .run_table_rows import RunTableQueries

#: A run-table statement's time limit (milliseconds): a pathological regular expression
#: ends there (SQLite's engine gives the matching itself ``REGEX_BUDGET_S``).
STATEMENT_TIMEOUT_MS: Final = int(REGEX_BUDGET_S * 1000) * 5

_FUNCTIONS: Final = {"num": "td_json_num", "text": "td_json_text", "group": "td_json_get",
                     "any": "td_json_get"}


class PGRunSql(RunSql):
    def config(self, path: tuple[str, ...], want: str = "any") -> Sql:
        return f"{_FUNCTIONS[want]}(r.config, ?)", [json_path(path)]

    def config_sort(self, path: tuple[str, ...], direction: str) -> tuple[list[str], list[Any]]:
        # one type rank at a time: numbers (and booleans) by number, the others by text
        p = json_path(path)
        return ([f"td_json_num(r.config, ?) {direction}",
                 f"td_json_text(r.config, ?) {direction}"], [p, p])


class PGRunTable(RunTableQueries):
    @contextmanager
    def _querying(self) -> Iterator[tuple[Conn, RunSql]]:
        with self._core.read() as conn:
            conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            try:
                yield conn, PGRunSql(self._core.clock())
            except pgerrors.QueryCanceled:
                raise QueryError("query", 0, "the query takes too long (over "
                                 f"{STATEMENT_TIMEOUT_MS / 1000:g} s): make its regular "
                                 "expression simpler") from None
            except pgerrors.InvalidRegularExpression as exc:
                raise QueryError("query", 0, "PostgreSQL cannot run this regular "
                                 f"expression: {exc.diag.message_primary}") from None

    def _config_keys(self, conn: Conn, where: str, args: list[Any]) -> set[str]:
        keys: set[str] = set()
        rows = conn.execute(
            "WITH RECURSIVE t(path, v) AS ("
            " SELECT ARRAY[e.key], e.value FROM runs r,"
            " jsonb_each(CASE WHEN jsonb_typeof(r.config::jsonb) = 'object'"
            "  THEN r.config::jsonb ELSE '{}'::jsonb END) e" + where +
            " UNION ALL"
            " SELECT t.path || e.key, e.value FROM t,"
            " jsonb_each(CASE WHEN jsonb_typeof(t.v) = 'object' THEN t.v"
            "  ELSE '{}'::jsonb END) e)"
            " SELECT DISTINCT path FROM t WHERE jsonb_typeof(v) <> 'object'", args)
        for (path,) in rows:
            if all(queryable_key(p) for p in path):
                keys.add(config_key_id(tuple(path)))
        return keys



