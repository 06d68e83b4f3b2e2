"""The store's SQL (SQLite's dialect) as PostgreSQL runs it: each statement translated once.

The rules, all there is:

- ``?`` placeholders become ``%s`` (outside string literals), and ``%`` becomes ``%%``;
- ``INSERT OR IGNORE INTO t …`` becomes ``INSERT INTO t … ON CONFLICT DO NOTHING``, and
  ``INSERT OR REPLACE INTO t (cols) …`` becomes an upsert on ``t``'s key
  (``pg_schema.CONFLICT_KEYS``) that sets the other columns, both before any ``RETURNING``;
- ``INDEXED BY index`` is dropped (PostgreSQL's planner chooses);
- ``json_each(?)``, a JSON array of integers as a table of ``value``, becomes
  ``json_array_elements_text`` cast to ``bigint``; ``json_each(column)``, a JSON array of
  strings, becomes ``json_array_elements_text`` of it;
- ``LIKE`` becomes ``ILIKE`` (SQLite's LIKE ignores case);
- ``9e999`` (SQLite's infinity: a literal past the largest float) becomes
  ``'Infinity'::double precision``.

SQLite's scalar ``min(a, b)``/``max(a, b)`` need no rule: the PostgreSQL schema defines
them (``pg_schema``).
"""

from __future__ import annotations

import functools
import re
from typing import Final

from .pg_schema import CONFLICT_KEYS

_OR_IGNORE: Final = re.compile(r"\bINSERT OR IGNORE INTO\b")
_OR_REPLACE: Final = re.compile(r"\bINSERT OR REPLACE INTO (\w+) \(([^)]*)\)")
_INDEXED_BY: Final = re.compile(r"\s+INDEXED BY \w+")
_RETURNING: Final = re.compile(r"\sRETURNING\s")
_IDS: Final = re.compile(r"SELECT value FROM json_each\(\?\)")
_JSON_EACH: Final = re.compile(r"\bjson_each\(([\w.]+)\)")
_LIKE: Final = re.compile(r"\bLIKE\b")
_INFINITY: Final = re.compile(r"\b9e999\b")


def _placeholders(sql: str) -> str:
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


def _before_returning(sql: str, clause: str) -> str:
    m = _RETURNING.search(sql)
    if m is None:
        return f"{sql.rstrip()} {clause}"
    return f"{sql[:m.start()]} {clause}{sql[m.start():]}"


def _upsert(sql: str) -> str:
    m = _OR_REPLACE.search(sql)
    if m is None:
        raise ValueError(f"INSERT OR REPLACE needs a column list: {sql[:80]!r}")
    table = m.group(1)
    try:
        key = CONFLICT_KEYS[table]
    except KeyError:
        raise ValueError(f"no conflict key for table {table!r} (pg_schema.CONFLICT_KEYS)"
                         ) from None
    cols = [c.strip() for c in m.group(2).split(",")]
    rest = [c for c in cols if c.strip('"') not in key]
    action = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
              if rest else "DO NOTHING")
    sql = f"{sql[:m.start()]}INSERT INTO {table} ({m.group(2)}){sql[m.end():]}"
    return _before_returning(sql, f"ON CONFLICT ({', '.join(key)}) {action}")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` (SQLite's dialect, ``?`` placeholders) for PostgreSQL through psycopg."""
    if _OR_IGNORE.search(sql):
        sql = _before_returning(_OR_IGNORE.sub("INSERT INTO", sql), "ON CONFLICT DO NOTHING")
    if "INSERT OR REPLACE" in sql:
        sql = _upsert(sql)
    sql = _INDEXED_BY.sub("", sql)
    sql = _IDS.sub("SELECT value::bigint AS value FROM json_array_elements_text(?::json)", sql)
    sql = _JSON_EACH.sub(r"json_array_elements_text((\1)::json)", sql)
    sql = _LIKE.sub("ILIKE", sql)
    sql = _INFINITY.sub("'Infinity'::double precision", sql)
    return _placeholders(sql)
