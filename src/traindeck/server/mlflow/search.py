"""MLflow's search syntax for runs and experiments: filters and ``order_by``.

A filter is clauses joined by ``AND``, each ``<entity>.<key> <comparator> <value>``:
``metrics.loss < 0.5``, ``params.lr = '0.1'``, ``tags."my tag" LIKE 'x%'``,
``attributes.status IN ('FINISHED', 'FAILED')``, ``tags.team IS NULL``. Entities:
``metrics``, ``params``, ``tags``, ``attributes`` (``attribute``, ``attr``, ``run``; a
bare key is an attribute); a key with spaces or dots is quoted with backticks or double
quotes. Comparators: ``= != < <= > >=`` for numbers; ``= != LIKE ILIKE IN NOT IN`` for
strings (``LIKE`` takes ``%`` and ``_``; ``ILIKE`` ignores case); ``IS [NOT] NULL``. A run
without the key never matches a comparison. ``order_by`` is a list of
``<entity>.<key> [ASC|DESC]``; runs without the key come last either way.

Clauses are checked here, in Python, over the runs of the experiments searched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from .errors import invalid

T = TypeVar("T")

_TOKEN: Final = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<dstr>"(?:[^"]|"")*")
  | (?P<bt>`[^`]*`)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>!=|<>|<=|>=|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w./:-]*)
)""", re.VERBOSE)

ENTITIES: Final[dict[str, str]] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute",
    "run": "attribute",
}
#: Longest filter or order clause read.
MAX_FILTER: Final = 10_000

Value = str | float | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Clause:
    entity: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Order:
    entity: str
    key: str
    descending: bool


def _tokens(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_FILTER:
        raise invalid(f"a search filter is at most {MAX_FILTER} characters")
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise invalid(f"Invalid search expression near {text[pos:pos + 30]!r}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


def _unquote(kind: str, raw: str) -> str:
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "dstr":
        return raw[1:-1].replace('""', '"')
    if kind == "bt":
        return raw[1:-1]
    return raw


class _Reader:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise invalid("Invalid search expression: it ends too early")
        self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in words:
            self.i += 1
            return True
        return False

    def identifier(self, entities: dict[str, str]) -> tuple[str, str]:
        kind, raw = self.take()
        if kind in ("dstr", "bt"):
            return "attribute", _unquote(kind, raw)
        if kind != "word":
            raise invalid(f"Invalid search expression: expected a key, got {raw!r:.40}")
        head, dot, rest = raw.partition(".")
        if not dot:
            return "attribute", raw
        entity = entities.get(head.lower())
        if entity is None:
            raise invalid(f"Invalid entity type {head!r:.40}: one of "
                          f"{', '.join(sorted(set(entities)))}")
        if not rest:
            nxt = self.take()
            if nxt[0] not in ("dstr", "bt"):
                raise invalid(f"Invalid search expression: a key after {raw!r:.40}")
            return entity, _unquote(*nxt)
        return entity, rest

    def value(self) -> Value:
        kind, raw = self.take()
        if kind in ("str", "dstr"):
            return _unquote(kind, raw)
        if kind == "num":
            return float(raw)
        if kind == "punct" and raw == "(":
            items: list[str] = []
            while True:
                k, r = self.take()
                if k not in ("str", "dstr", "num"):
                    raise invalid("Invalid search expression: IN takes a list of strings")
                items.append(_unquote(k, r))
                k, r = self.take()
                if r == ")":
                    return tuple(items)
                if r != ",":
                    raise invalid("Invalid search expression: a list is ('a', 'b')")
        raise invalid(f"Invalid search expression: expected a value, got {raw!r:.40}")


def parse_filter(text: str | None, entities: dict[str, str] = ENTITIES) -> list[Clause]:
    """The clauses of a filter string (none for an empty one)."""
    if not text or not text.strip():
        return []
    r = _Reader(text)
    clauses: list[Clause] = []
    while True:
        entity, key = r.identifier(entities)
        if r.word("IS"):
            op = "IS NOT NULL" if r.word("NOT") else "IS NULL"
            if not r.word("NULL"):
                raise invalid("Invalid search expression: IS [NOT] NULL")
            value: Value = None
        else:
            if r.word("NOT"):
                if not r.word("IN"):
                    raise invalid("Invalid search expression: NOT is only NOT IN")
                op = "NOT IN"
            elif r.word("IN"):
                op = "IN"
            elif r.word("LIKE"):
                op = "LIKE"
            elif r.word("ILIKE"):
                op = "ILIKE"
            else:
                kind, raw = r.take()
                if kind != "op":
                    raise invalid(f"Invalid comparator {raw!r:.40}")
                op = {"==": "=", "<>": "!="}.get(raw, raw)
            value = r.value()
            if op in ("IN", "NOT IN") and not isinstance(value, tuple):
                raise invalid(f"Invalid search expression: {op} takes a list ('a', 'b')")
            if op not in ("IN", "NOT IN") and isinstance(value, tuple):
                raise invalid(f"Invalid search expression: {op} takes one value")
            if op in ("<", "<=", ">", ">=") and not isinstance(value, float):
                raise invalid(f"Invalid search expression: {op} compares numbers")
            if op in ("LIKE", "ILIKE") and not isinstance(value, str):
                raise invalid(f"Invalid search expression: {op} takes a string")
        clauses.append(Clause(entity, key, op, value))
        if r.peek() is None:
            return clauses
        if not r.word("AND"):
            raise invalid("Invalid search expression: clauses are joined by AND "
                          f"(got {r.take()[1]!r:.40})")


def check_keys(clauses: Sequence[Clause | Order], attributes: frozenset[str]) -> None:
    """Refuse attribute keys that are not among ``attributes``."""
    for c in clauses:
        if c.entity == "attribute" and c.key not in attributes:
            raise invalid(f"Invalid attribute key {c.key!r:.80}: one of "
                          f"{', '.join(sorted(attributes))}")


def parse_order(items: Sequence[str], entities: dict[str, str] = ENTITIES) -> list[Order]:
    out: list[Order] = []
    for item in items:
        r = _Reader(item)
        entity, key = r.identifier(entities)
        descending = r.word("DESC")
        if not descending:
            r.word("ASC")
        if r.peek() is not None:
            raise invalid(f"Invalid order_by clause {item!r:.80}: <key> [ASC|DESC]")
        out.append(Order(entity, key, descending))
    return out


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return None


def holds(clause: Clause, actual: Any) -> bool:
    """Whether a value (``None``: the run has no such key) satisfies a clause."""
    op, want = clause.op, clause.value
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if isinstance(want, float):
        number = _number(actual)
        if number is None or math.isnan(number):
            return op == "!=" and number is not None
        return {"=": number == want, "!=": number != want, "<": number < want,
                "<=": number <= want, ">": number > want, ">=": number >= want}.get(op, False)
    text = actual if isinstance(actual, str) else str(actual)
    if op == "=":
        return text == want
    if op == "!=":
        return text != want
    if op in ("LIKE", "ILIKE") and isinstance(want, str):
        return _like(want, op == "ILIKE").fullmatch(text) is not None
    if op == "IN" and isinstance(want, tuple):
        return text in want
    if op == "NOT IN" and isinstance(want, tuple):
        return text not in want
    return False


def select(items: Sequence[T], clauses: Sequence[Clause],
           get: Callable[[T, str, str], Any]) -> list[T]:
    """The items every clause holds for (``get(item, entity, key)``: its value)."""
    return [item for item in items if all(holds(c, get(item, c.entity, c.key))
                                          for c in clauses)]


def _sort_value(x: Any) -> tuple[int, Any]:
    number = _number(x) if not isinstance(x, str) else None
    if number is not None:
        return (1, math.inf) if math.isnan(number) else (0, number)
    return (2, str(x))


def order(items: list[T], orders: Sequence[Order], get: Callable[[T, str, str], Any]) -> list[T]:
    """``items`` sorted by ``orders`` (the first one first); missing keys last."""
    for o in reversed(orders):
        present = [i for i in items if get(i, o.entity, o.key) is not None]
        missing = [i for i in items if get(i, o.entity, o.key) is None]
        present.sort(key=lambda i: _sort_value(get(i, o.entity, o.key)),
                     reverse=o.descending)
        items = present + missing
    return items
