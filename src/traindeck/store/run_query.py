"""The run table's query language, sort and column ids: parsed here, in plain Python.

An engine turns the parsed form into its own query language (SQLite: ``run_query_sql``)
with bound parameters only. ``q`` is terms separated by spaces, all of which must hold:

- a plain word (or ``"quoted words"``): the run's name or id contains it;
- ``status:running`` (or ``status:running,paused``), ``tag:x``, ``project:p``,
  ``name:text`` (contains), ``name:~regex`` (Python ``re.search``);
- a comparison ``K<V``, ``K<=V``, ``K>V``, ``K>=V``, ``K=V``, ``K!=V``, where ``K`` is
  ``config:KEY`` (a dotted path into the config: ``optim.lr``), ``metric:KEY[:last|min|max]``
  (default ``last``), a built-in (``step``, ``duration``, ``progress``, ``created_at``…),
  or a bare key (a metric key if a run in scope has such a series, else a config key).
  ``V`` is a number (``nan``, ``inf``, ``-inf`` too), ``true``/``false``, or a string
  (quoted with ``"…"`` when it holds spaces or operators; ``\\"`` and ``\\\\`` inside).

Column ids (``sort``, ``columns``, ``groups``) are a built-in, ``metric:KEY[:agg]`` or
``config:KEY``; a part of a key may be quoted (``config:"a.b"`` is one key with a dot).
Every error is an ``InvalidInput`` naming the position (0-based) where it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import regex  # what matches it (run_query_sql): the same grammar is checked

from .errors import InvalidInput
from .models import RUN_STATUSES

Agg = Literal["last", "min", "max"]
AGGS: Final[tuple[str, ...]] = ("last", "min", "max")
OPS: Final[tuple[str, ...]] = ("<=", ">=", "!=", "<", ">", "=")  # longest first

#: Built-in columns whose values are numbers (or null).
NUMERIC_BUILTINS: Final[tuple[str, ...]] = (
    "created_at", "started_at", "ended_at", "heartbeat_at", "duration", "step",
    "progress", "steps_per_s", "eta_s",
)
#: Built-in columns whose values are text.
TEXT_BUILTINS: Final[tuple[str, ...]] = ("id", "name", "status", "project")
#: Every built-in column id (``tags``: for ``columns`` only; it cannot be sorted).
BUILTINS: Final[tuple[str, ...]] = (*TEXT_BUILTINS, *NUMERIC_BUILTINS, "tags")
FIELDS: Final[tuple[str, ...]] = ("status", "tag", "project", "name")
GROUP_BY: Final[tuple[str, ...]] = ("status", "project", "tag")

MAX_TERMS: Final = 64
MAX_COLUMNS: Final = 200
MAX_SORT: Final = 8

#: A quantified group holding a quantifier: ``(a+)+``, ``(a*)*``, ``(a|b+){2,}``.
_NESTED = re.compile(r"\([^()]*(?:[*+]|\{\d*,?\d*\})[^()]*\)\s*(?:[*+]|\{\d*,\d*\})")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT = re.compile(r"[+-]?\d+\Z")
_SPECIAL = {"nan": float("nan"), "inf": float("inf"), "+inf": float("inf"),
            "-inf": float("-inf"), "infinity": float("inf"), "-infinity": float("-inf")}


class QueryError(InvalidInput):
    """A query, sort or column id that does not parse; ``position`` is where (0-based)."""

    def __init__(self, what: str, position: int, message: str) -> None:
        super().__init__(f"bad {what} at position {position}: {message}")
        self.position = position


@dataclass(frozen=True, slots=True)
class Column:
    """A column: ``kind`` ``builtin`` (``name`` one of ``BUILTINS``), ``metric`` (``name``
    the key, ``agg``), ``config`` (``path`` the keys into the config) or ``bare`` (a key
    the engine resolves to a metric or a config key). ``id`` is the column id as given."""

    kind: Literal["builtin", "metric", "config", "bare"]
    name: str
    id: str
    agg: Agg = "last"
    path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Text:
    """A plain word: the name or the id contains it."""

    text: str


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """``status:a,b`` (any of), ``tag:x``, ``project:p``, ``name:x`` or ``name:~re``."""

    field: str
    values: tuple[str, ...]
    regex: bool = False


Value = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Compare:
    """``column op value``; ``raw`` is the value's text as written (for text columns)."""

    column: Column
    op: str
    value: Value
    raw: str


Term = Text | FieldTerm | Compare


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Terms that must all hold. ``projects``: the scope bare keys are resolved in."""

    terms: tuple[Term, ...] = ()

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(v for t in self.terms if isinstance(t, FieldTerm) and t.field == "project"
                     for v in t.values)

    def with_filters(self, *, project: str | None = None, status: Sequence[str] | None = None,
                     tag: str | None = None, search: str | None = None) -> RunQuery:
        """This query and the list route's older parameters, ANDed."""
        extra: list[Term] = []
        if project is not None:
            extra.append(FieldTerm("project", (project,)))
        if status:
            extra.append(FieldTerm("status", tuple(status)))
        if tag is not None:
            extra.append(FieldTerm("tag", (tag,)))
        if search:
            extra.append(Text(search))
        return RunQuery((*self.terms, *extra))


@dataclass(frozen=True, slots=True)
class SortKey:
    column: Column
    descending: bool = False


@dataclass(slots=True)
class RunPage:
    """A page of runs, how many match in all, and each run's ``values`` by column id."""

    runs: list[Any]
    total: int
    values: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunGroup:
    value: Any
    count: int
    aggregates: dict[str, dict[str, float | None]]


# -- scanning -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Seg:
    text: str
    quoted: bool
    pos: int


def _scan(text: str, what: str, start: int, stop: str) -> tuple[list[_Seg], int]:
    """Segments from ``start`` up to an unquoted character of ``stop`` (or the end)."""
    segs: list[_Seg] = []
    i, n = start, len(text)
    buf, buf_at = "", start
    while i < n and text[i] not in stop:
        if text[i] != '"':
            buf += text[i]
            i += 1
            continue
        if buf:
            segs.append(_Seg(buf, False, buf_at))
        quote_at, i, buf = i, i + 1, ""
        while True:
            if i >= n:
                raise QueryError(what, quote_at, "unclosed quote")
            if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                buf += text[i + 1]
                i += 2
            elif text[i] == '"':
                i += 1
                break
            else:
                buf += text[i]
                i += 1
        segs.append(_Seg(buf, True, quote_at))
        buf, buf_at = "", i
    if buf:
        segs.append(_Seg(buf, False, buf_at))
    return segs, i


def _joined(segs: Sequence[_Seg]) -> str:
    return "".join(s.text for s in segs)


def _split_at(segs: Sequence[_Seg], index: int, offset: int) -> tuple[list[_Seg], list[_Seg]]:
    """``segs`` cut inside unquoted segment ``index`` at ``offset``."""
    s = segs[index]
    left = [*segs[:index], _Seg(s.text[:offset], False, s.pos)] if offset else [*segs[:index]]
    right_text = s.text[offset:]
    right = ([_Seg(right_text, False, s.pos + offset)] if right_text else []) + [
        *segs[index + 1:]]
    return left, right


def _strip_prefix(segs: list[_Seg], prefix: str) -> list[_Seg] | None:
    if not segs or segs[0].quoted or not segs[0].text.startswith(prefix):
        return None
    return _split_at(segs, 0, len(prefix))[1]


# -- column ids ---------------------------------------------------------------------------


def _config_path(segs: Sequence[_Seg], what: str, at: int) -> tuple[str, ...]:
    parts: list[str] = []
    current, has_quote, current_at = "", False, at
    for s in segs:
        if s.quoted:
            current += s.text
            has_quote = True
            continue
        pieces = s.text.split(".")
        for k, piece in enumerate(pieces):
            if k:
                if not current and not has_quote:
                    raise QueryError(what, current_at, "empty part in a config key")
                parts.append(current)
                current, has_quote, current_at = "", False, s.pos + sum(
                    len(p) + 1 for p in pieces[:k])
            current += piece
    if not current and not has_quote:
        raise QueryError(what, current_at, "empty part in a config key")
    parts.append(current)
    for p in parts:
        if not queryable_key(p):
            raise QueryError(what, at, "a config key with a double quote, a backslash or a "
                                       "control character cannot be queried")
    return tuple(parts)


def queryable_key(part: str) -> bool:
    """Whether a config key can be named in a query (an engine's JSON path may not hold a
    double quote, a backslash or a control character)."""
    return not any(c in '"\\' or c < " " for c in part)


def parse_column(segs: list[_Seg], what: str, at: int, *, bare: bool = False,
                 raw: str | None = None) -> Column:
    """A column from its segments; ``bare``: an unknown plain key is a bare key. Its id is
    ``raw`` (the text as written), else the segments' text."""
    text = _joined(segs)
    cid = text if raw is None else raw
    if not segs or (not text and not any(s.quoted for s in segs)):
        raise QueryError(what, at, "a column is missing")
    rest = _strip_prefix(segs, "config:")
    if rest is not None:
        if not rest:
            raise QueryError(what, at, "config: needs a key (config:optim.lr)")
        path = _config_path(rest, what, rest[0].pos)
        return Column("config", ".".join(path), cid, path=path)
    rest = _strip_prefix(segs, "metric:")
    if rest is not None:
        agg: Agg = "last"
        last = rest[-1] if rest else None
        if last is not None and not last.quoted:
            head, sep, tail = last.text.rpartition(":")
            if sep and tail in AGGS and (head or len(rest) > 1):
                agg = "min" if tail == "min" else "max" if tail == "max" else "last"
                rest = [*rest[:-1], *([_Seg(head, False, last.pos)] if head else [])]
        key = _joined(rest)
        if not key:
            raise QueryError(what, at, "metric: needs a key (metric:val/acc:max)")
        return Column("metric", key, cid, agg=agg)
    if len(segs) == 1 and not segs[0].quoted and text in BUILTINS:
        return Column("builtin", text, cid)
    if bare:
        try:
            path = _config_path(segs, what, at)
        except QueryError:
            path = ()  # not a config key: a metric key only
        return Column("bare", text, cid, path=path)
    raise QueryError(what, at, f"unknown column {text!r}: a built-in ({', '.join(BUILTINS)}), "
                               "metric:KEY[:last|min|max] or config:KEY")


def _column_list(text: str, what: str) -> list[tuple[list[_Seg], int, bool, str]]:
    """Comma-separated entries: segments, position, whether prefixed with ``-``, the
    entry's text as written (without the ``-``)."""
    out: list[tuple[list[_Seg], int, bool, str]] = []
    i = 0
    while i <= len(text):
        while i < len(text) and text[i] == " ":
            i += 1
        at = i
        minus = i < len(text) and text[i] == "-"
        segs, j = _scan(text, what, i + minus, ",")
        while segs and not segs[-1].quoted and segs[-1].text.endswith(" "):
            stripped = segs[-1].text.rstrip(" ")
            segs = segs[:-1] + ([_Seg(stripped, False, segs[-1].pos)] if stripped else [])
        if not segs:
            raise QueryError(what, at, "a column is missing")
        out.append((segs, at, minus, text[at + minus:j].rstrip(" ")))
        i = j + 1
    return out


_PLAIN_KEY = re.compile(r"[^\s.,\"<>=!]+\Z")


def config_key_id(path: Sequence[str]) -> str:
    """A config key as ``config:`` takes it: dotted, a part quoted when it needs it."""
    return ".".join(p if _PLAIN_KEY.match(p) and not p.startswith("-") else
                    '"' + p.replace("\\", "\\\\") + '"' for p in path)


def parse_columns(text: str | None) -> list[Column]:
    """``columns``: comma-separated column ids (``tags`` included)."""
    if not text:
        return []
    entries = _column_list(text, "columns")
    if len(entries) > MAX_COLUMNS:
        raise QueryError("columns", 0, f"at most {MAX_COLUMNS} columns")
    cols = []
    for segs, at, minus, raw in entries:
        if minus:
            raise QueryError("columns", at, "'-' belongs in sort, not in columns")
        cols.append(parse_column(segs, "columns", at, raw=raw))
    return cols


def parse_sort(text: str | None, order: str | None = None) -> list[SortKey]:
    """``sort``: comma-separated columns, each ``-`` prefixed for descending. ``order``
    (``asc``/``desc``, the older parameter) sets the direction of one unprefixed column.
    No sort: newest first."""
    if not text:
        return [SortKey(Column("builtin", "created_at", "created_at"), order != "asc")]
    entries = _column_list(text, "sort")
    if len(entries) > MAX_SORT:
        raise QueryError("sort", 0, f"at most {MAX_SORT} sort columns")
    keys = []
    for segs, at, minus, raw in entries:
        col = parse_column(segs, "sort", at + minus, raw=raw)
        if col.kind == "builtin" and col.name == "tags":
            raise QueryError("sort", at, "cannot sort by tags")
        keys.append(SortKey(col, minus))
    if len(keys) == 1 and not entries[0][2] and order is not None:
        keys = [SortKey(keys[0].column, order == "desc")]
    return keys


def parse_group_by(text: str) -> Column:
    """``by``: ``config:KEY``, ``status``, ``project`` or ``tag``."""
    segs, _ = _scan(text, "by", 0, "")
    if len(segs) == 1 and not segs[0].quoted and segs[0].text in GROUP_BY:
        return Column("builtin", segs[0].text, segs[0].text)
    col = parse_column(segs, "by", 0, bare=False) if _strip_prefix(segs, "config:") else None
    if col is None:
        raise QueryError("by", 0, "group by config:KEY, status, project or tag")
    return col


# -- the query ----------------------------------------------------------------------------


def _value(segs: list[_Seg], at: int) -> tuple[Value, str]:
    raw = _joined(segs)
    if not segs:
        raise QueryError("query", at, "a value is missing after the operator")
    if any(s.quoted for s in segs):
        return raw, raw
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true", raw
    if low in _SPECIAL:
        return _SPECIAL[low], raw
    if _INT.match(raw):
        number = int(raw)
        return (number if -(2**63) <= number < 2**63 else float(number)), raw
    if _NUMBER.match(raw):
        return float(raw), raw
    return raw, raw


def _term(segs: list[_Seg], at: int, source: str) -> Term:
    for name in FIELDS:
        rest = _strip_prefix(segs, name + ":")
        if rest is None:
            continue
        if name == "name" and rest and not rest[0].quoted and rest[0].text.startswith("~"):
            pattern = _joined(_split_at(rest, 0, 1)[1])
            try:
                regex.compile(pattern)  # not re's: it warns of sets like ``[[`` to come
            except regex.error as exc:
                raise QueryError("query", at, f"bad regular expression: {exc}") from None
            if _NESTED.search(pattern):
                # (a+)+ and the like backtrack exponentially: one request could hold a
                # server thread for minutes
                raise QueryError("query", at, "a repeated group that repeats inside, like "
                                              "(a+)+, is refused (slow to match)")
            return FieldTerm("name", (pattern,), regex=True)
        text = _joined(rest)
        if not rest:
            raise QueryError("query", at, f"{name}: needs a value")
        if name != "status":
            return FieldTerm(name, (text,))
        statuses = tuple(text.split(","))
        bad = [s for s in statuses if s not in RUN_STATUSES]
        if bad:
            raise QueryError("query", at, f"unknown status {bad[0]!r}; one of "
                                          f"{', '.join(RUN_STATUSES)}")
        return FieldTerm("status", statuses)
    for k, s in enumerate(segs):
        if s.quoted:
            continue
        hits = [(s.text.find(op), -len(op), op) for op in OPS if op in s.text]
        if not hits:
            continue
        offset, _, op = min(hits)
        key, rest = _split_at(segs, k, offset)
        _, value_segs = _split_at(rest, 0, len(op)) if rest and not rest[0].quoted else ([], rest)
        op_at = s.pos + offset
        if not key:
            raise QueryError("query", op_at, f"a column is missing before {op!r}")
        column = parse_column(key, "query", at, bare=True, raw=source[at:op_at])
        if column.kind == "builtin" and column.name == "tags":
            raise QueryError("query", at, "filter tags with tag:NAME")
        value, raw = _value(value_segs, op_at + len(op))
        _check_compare(column, op, value, at)
        return Compare(column, op, value, raw)
    if not segs[0].quoted and ":" in segs[0].text:
        prefix = segs[0].text.split(":", 1)[0]
        if prefix in ("config", "metric"):
            raise QueryError("query", at, f"{_joined(segs)!r} needs a comparison "
                                          "(<, <=, >, >=, =, !=) and a value")
        raise QueryError("query", at, f"unknown field {prefix!r} (status, tag, project, name; "
                                      "config:KEY or metric:KEY with a comparison); "
                                      "quote the word to search for it")
    return Text(_joined(segs))


def _check_compare(column: Column, op: str, value: Value, at: int) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(value, bool) and op not in ("=", "!="):
        raise QueryError("query", at, "true/false compare with = or != only")
    if column.kind == "metric" or (column.kind == "builtin" and column.name in NUMERIC_BUILTINS):
        if not number:
            raise QueryError("query", at, f"{column.id} is a number; compare it with a number")
    if isinstance(value, float) and value != value:  # NaN
        if op not in ("=", "!="):
            raise QueryError("query", at, "nan compares with = or != only")
        if column.kind == "metric" and column.agg != "last":
            raise QueryError("query", at, "min and max are over finite values: never nan")
    if column.kind == "builtin" and column.name == "status" and op in ("=", "!="):
        if value not in RUN_STATUSES:
            raise QueryError("query", at, f"unknown status {value!r}; one of "
                                          f"{', '.join(RUN_STATUSES)}")


def parse_query(text: str | None) -> RunQuery:
    """``q`` parsed; ``InvalidInput`` (a ``QueryError``) naming the position of a mistake."""
    terms: list[Term] = []
    i, n = 0, len(text or "")
    q = text or ""
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        segs, j = _scan(q, "query", i, " \t\n\r\f\v")
        if segs:
            terms.append(_term(segs, i, q))
        if len(terms) > MAX_TERMS:
            raise QueryError("query", i, f"at most {MAX_TERMS} terms")
        i = j
    return RunQuery(tuple(terms))
