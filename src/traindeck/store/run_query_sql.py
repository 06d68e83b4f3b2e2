"""A parsed run query (``run_query``) as SQL: WHERE, ORDER BY and column expressions over
``runs r``, with every user value a bound parameter. Written for SQLite; PostgreSQL runs it
translated, with its own reads of a config value (``pg_run_table.PGRunSql``).

Metric columns read the ``series`` row of (run, key): ``last`` is its ``last_value`` (a
float64 blob, so NaN survives), decoded by the SQL function ``td_f8``; ``min``/``max`` are
the chunks' summaries (finite values only, like ``GET /api/runs/{id}/metrics``). Config
columns are ``json_extract`` with a JSON path built from the parsed keys (each quoted) and
bound too. Sorting puts numbers first, then (``last`` only) NaN, then missing values, in
both directions; config values sort numbers (and booleans) before strings.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from collections.abc import Callable
from typing import Any, Final

import regex  # like re, and a match can be given a time limit

from .chunk_rows import both_chunks
from .run_query import Column, Compare, FieldTerm, RunQuery, SortKey, Text

Sql = tuple[str, list[Any]]

_UNPACK: Final = struct.Struct("<d").unpack_from
STEP_SQL: Final = ("(SELECT MAX(s.last_step) FROM series s WHERE s.run_id = r.id "
                   "AND substr(s.key, 1, 4) != 'sys/')")
_LAST: Final = "(SELECT s.last_value FROM series s WHERE s.run_id = r.id AND s.key = ?)"
_MINMAX: Final = {(fn, col): f"(SELECT {both_chunks(fn, col)} FROM series s "
                            "WHERE s.run_id = r.id AND s.key = ?)"
                  for fn, col in (("MIN", "vmin"), ("MAX", "vmax"))}
#: Built-ins that are run columns (progress, speed and ETA: the progress tracker's).
_PLAIN: Final = frozenset({"id", "name", "status", "project", "created_at", "started_at",
                           "ended_at", "heartbeat_at", "progress", "steps_per_s", "eta_s"})


def f8(blob: bytes | None) -> float | None:
    """A float64 blob as a number (NaN stays NaN here; SQLite turns it into NULL)."""
    if blob is None or len(blob) != 8:
        return None
    value: float = _UNPACK(blob)[0]
    return value


def _rank(blob: bytes | None) -> int:
    value = f8(blob)
    return 2 if value is None else 1 if value != value else 0


#: How long one query may spend matching ``name:~regex`` against run names, in all.
REGEX_BUDGET_S: Final = 1.0


class RegexBudget:
    """The time a query's regular expressions may take; ``exceeded`` once they took it
    (a pattern that backtracks exponentially ends there instead of holding a thread)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.exceeded = False


def install_functions(conn: sqlite3.Connection,
                      budget_s: float = REGEX_BUDGET_S) -> RegexBudget:
    """The SQL functions these queries use, on ``conn`` (cheap; done before each query).
    When the regular expressions run out of ``budget_s``, ``td_regexp`` raises (the
    statement fails) and the returned budget says so."""
    patterns: dict[str, Any] = {}
    budget = RegexBudget(budget_s)

    def regexp(pattern: str, text: str | None) -> int:
        if text is None:
            return 0
        compiled = patterns.get(pattern)
        if compiled is None:
            compiled = patterns[pattern] = regex.compile(pattern)
        left = budget.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("regular expression budget spent")
            return 1 if compiled.search(text, timeout=left) else 0
        except TimeoutError:
            budget.exceeded = True
            raise

    conn.create_function("td_f8", 1, f8, deterministic=True)
    conn.create_function("td_rank", 1, _rank, deterministic=True)
    conn.create_function("td_regexp", 2, regexp, deterministic=True)
    return budget


def json_path(path: tuple[str, ...]) -> str:
    """A SQLite JSON path to ``path`` (keys quoted; ``run_query`` refused a ``"``)."""
    return "$" + "".join(f'."{p}"' for p in path)


class RunSql:
    """SQL for one query over ``runs r``; ``now`` is the store's clock (for ``duration``)."""

    def __init__(self, now: float) -> None:
        self.now = now

    # -- a config value, as this engine reads it (``pg_run_table`` has PostgreSQL's) ------

    def config(self, path: tuple[str, ...], want: str = "any") -> Sql:
        """The config's value at ``path``: SQLite's ``json_extract`` is typed as the value
        is, so ``want`` (``num``, ``text``, ``group`` or ``any``: what the caller does with
        it) makes no difference here."""
        return "json_extract(r.config, ?)", [json_path(path)]

    def config_sort(self, path: tuple[str, ...], direction: str) -> tuple[list[str], list[Any]]:
        """ORDER BY terms sorting config values of one type rank (numbers, or texts)."""
        sql, args = self.config(path)
        return [f"{sql} {direction}"], args

    # -- column expressions --------------------------------------------------------------

    def builtin(self, name: str) -> Sql:
        if name in _PLAIN:
            return f"r.{name}", []
        if name == "duration":
            return ("(CASE WHEN r.started_at IS NULL THEN NULL "
                    "ELSE COALESCE(r.ended_at, ?) - r.started_at END)", [self.now])
        if name == "step":
            return STEP_SQL, []
        raise ValueError(f"no built-in column {name!r}")

    def raw(self, col: Column) -> Sql:
        """The column's value as stored: ``last`` a float64 blob, config a JSON value."""
        if col.kind == "metric":
            if col.agg == "last":
                return _LAST, [col.name]
            fn, c = ("MIN", "vmin") if col.agg == "min" else ("MAX", "vmax")
            return _MINMAX[fn, c], [col.name]
        if col.kind == "config":
            return self.config(col.path)
        if col.kind == "builtin":
            return self.builtin(col.name)
        raise ValueError(f"unresolved column {col.id!r}")

    def number(self, col: Column) -> Sql:
        """The column as a number or NULL (NaN is NULL): what groups aggregate."""
        if col.kind == "builtin" and col.name in ("id", "name", "status", "project", "tags"):
            return "CAST(NULL AS DOUBLE PRECISION)", []
        sql, args = self.raw(col)
        if col.kind == "metric" and col.agg == "last":
            return f"td_f8({sql})", args
        if col.kind == "config":
            sql, args = self.config(col.path, "num")
            path = json_path(col.path)
            return (f"(CASE WHEN json_type(r.config, ?) IN ('integer', 'real') THEN {sql} END)",
                    [path, *args])
        return sql, args

    # -- ORDER BY ------------------------------------------------------------------------

    def order_by(self, keys: list[SortKey]) -> tuple[str, list[Any], str, list[Any]]:
        """``ORDER BY`` for ``keys`` (then id), and the joins it needs: a metric column
        joins its series row once, instead of a lookup per use."""
        joins: list[str] = []
        join_args: list[Any] = []
        parts: list[str] = []
        args: list[Any] = []
        for n, key in enumerate(keys):
            d = "DESC" if key.descending else "ASC"
            col = key.column
            if col.kind == "metric":
                joins.append(f" LEFT JOIN series o{n} ON o{n}.run_id = r.id AND o{n}.key = ?")
                join_args.append(col.name)
                if col.agg == "last":
                    parts += [f"td_rank(o{n}.last_value)", f"td_f8(o{n}.last_value) {d}"]
                    continue
                fn, c = ("MIN", "vmin") if col.agg == "min" else ("MAX", "vmax")
                sql = both_chunks(fn, c, f"o{n}.id")
                parts += [f"{sql} IS NULL", f"{sql} {d}"]
                continue
            if col.kind == "config":
                terms, a = self.config_sort(col.path, d)
                parts += ["CASE COALESCE(json_type(r.config, ?), 'null') WHEN 'null' THEN 2 "
                          "WHEN 'text' THEN 1 WHEN 'object' THEN 1 WHEN 'array' THEN 1 "
                          "ELSE 0 END", *terms]
                args += [json_path(col.path), *a]
            else:
                sql, a = self.raw(col)
                parts += [f"({sql}) IS NULL", f"{sql} {d}"]
                args += [*a, *a]
        first = "DESC" if keys and keys[0].descending else "ASC"
        parts.append(f"r.id {first}")
        return "".join(joins), join_args, " ORDER BY " + ", ".join(parts), args

    # -- WHERE ---------------------------------------------------------------------------

    def where(self, query: RunQuery, resolve: Callable[[Column], Column]) -> Sql:
        parts: list[str] = []
        args: list[Any] = []
        for term in query.terms:
            sql, a = self._term(term, resolve)
            parts.append(sql)
            args += a
        return (" WHERE " + " AND ".join(parts)) if parts else "", args

    def _term(self, term: Text | FieldTerm | Compare, resolve: Callable[[Column], Column]
              ) -> Sql:
        if isinstance(term, Text):
            pattern = "%" + _like_escape(term.text) + "%"
            return "(r.name LIKE ? ESCAPE '\\' OR r.id LIKE ? ESCAPE '\\')", [pattern, pattern]
        if isinstance(term, FieldTerm):
            if term.field == "status":
                return f"r.status IN ({', '.join('?' * len(term.values))})", list(term.values)
            if term.field == "tag":
                return ("EXISTS (SELECT 1 FROM json_each(r.tags) WHERE value = ?)",
                        [term.values[0]])
            if term.field == "project":
                return "r.project = ?", [term.values[0]]
            if term.regex:
                return "td_regexp(?, r.name) = 1", [term.values[0]]
            return "r.name LIKE ? ESCAPE '\\'", ["%" + _like_escape(term.values[0]) + "%"]
        return self._compare(term, resolve(term.column))

    def _compare(self, term: Compare, col: Column) -> Sql:
        op, value = term.op, term.value
        sql, args = self.raw(col)
        if col.kind == "metric":
            if col.agg == "last" and isinstance(value, float) and value != value:
                return f"td_rank({sql}) = {1 if op == '=' else 0}", args
            if col.agg == "last":
                return f"td_f8({sql}) {op} ?", [*args, value]
            return f"{sql} {op} ?", [*args, value]
        if col.kind == "builtin":
            if col.name in ("id", "name", "status", "project"):
                return f"{sql} {op} ?", [*args, term.raw]
            return f"{sql} {op} ?", [*args, value]
        path = json_path(col.path)
        kind = "json_type(r.config, ?)"
        sql, args = self.config(col.path, "text" if isinstance(value, str) else "num")
        eq_args: list[Any]
        if isinstance(value, bool):
            equal, eq_args = f"{kind} = ?", [path, "true" if value else "false"]
        elif isinstance(value, str):
            equal, eq_args = f"({kind} = 'text' AND {sql} = ?)", [path, *args, value]
        else:
            equal, eq_args = (f"({kind} IN ('integer', 'real') AND {sql} = ?)",
                              [path, *args, value])
        if op == "=":
            return equal, eq_args
        if op == "!=":
            return (f"(COALESCE({kind}, 'null') != 'null' AND NOT {equal})",
                    [path, *eq_args])
        types = "('text')" if isinstance(value, str) else "('integer', 'real')"
        return f"({kind} IN {types} AND {sql} {op} ?)", [path, *args, value]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
