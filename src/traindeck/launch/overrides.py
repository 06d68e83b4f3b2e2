"""Overrides in the Hydra grammar: change a config with ``key=value`` strings.

=================  =====================================================================
``key=value``      change a key that exists (else an error: "unknown key; use +key=value
                   to add")
``+key=value``     add a key that does not exist yet (its missing parents are made)
``++key=value``    set a key whether it exists or not
``~key``           remove a key (``~key=value``: only when it holds that value)
=================  =====================================================================

``key`` is a dotted path (``optim.lr``); a number as a part indexes a list
(``layers.0=128``). ``value`` is typed as Hydra types it: ``null``, ``true``/``false``
(any case), integers (``1_000``), floats (``1e-3``, ``.5``, ``inf``, ``nan``), flow lists and
mappings in YAML (``[64, 64]``, ``{a: 1}``), quoted strings (``'1'`` stays a string); anything
else is the string as written, stripped of surrounding blanks (``name=my run``). An empty
value is the empty string. Dates and YAML 1.1's ``yes``/``no``/``on``/``off`` stay strings.

Every error is an :class:`OverrideError` (an ``InvalidInput``) that quotes the override.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

import yaml

from traindeck.store import InvalidInput

Op = Literal["set", "add", "force", "delete"]
PathPart = str | int

_KEY: Final = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")
_PREFIXES: Final[tuple[tuple[str, Op], ...]] = (("++", "force"), ("+", "add"), ("~", "delete"))

_NULL: Final = re.compile(r"~|(?i:null)")
_BOOL: Final = re.compile(r"(?i:true|false)")
_INT: Final = re.compile(r"[-+]?[0-9][0-9_]*")
_FLOAT: Final = re.compile(
    r"[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[0-9][0-9_]*[eE][-+]?[0-9]+)"
    r"|[-+]?\.?(?:inf|Inf|INF)|\.?(?:nan|NaN|NAN)")


class OverrideError(InvalidInput):
    """An override that cannot be parsed or does not apply; ``path`` is where (parts)."""

    def __init__(self, override: str, message: str, path: tuple[PathPart, ...] = ()) -> None:
        self.override = override
        self.path = path
        self.message = message
        super().__init__(f"{override!r}: {message}")


class Override(NamedTuple):
    """One parsed override: ``op`` on ``path``; ``value`` is ``None`` for a bare ``~key``
    (``has_value`` says whether a value was written)."""

    text: str
    op: Op
    path: tuple[PathPart, ...]
    value: Any
    has_value: bool

    @property
    def key(self) -> str:
        return ".".join(str(p) for p in self.path)


# -- values --------------------------------------------------------------------------------

def _scalar(text: str) -> Any:
    """A plain (unquoted) scalar typed as Hydra types it, else the string itself."""
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _FLOAT.fullmatch(text):
        plain = text.replace("_", "")
        if plain.lower().lstrip("+-.").startswith(("inf", "nan")):
            plain = plain.replace(".", "")
        return float(plain)
    return text


class _ValueLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the scalar typing above (no dates, no ``yes``/``no``)."""


_ValueLoader.yaml_implicit_resolvers = {}  # plain scalars are typed by the constructor


def _construct_plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    value = loader.construct_scalar(node)
    # Quoted scalars are strings; plain ones are typed (the style tells them apart).
    if node.style in ("'", '"', "|", ">"):
        return value
    return None if value == "" else _scalar(value)


_ValueLoader.add_constructor("tag:yaml.org,2002:str", _construct_plain)


def load_yaml(text: str) -> Any:
    """A YAML (or JSON) document, its plain scalars typed as override values are (no dates,
    ``yes`` is a string, ``1e-3`` a float)."""
    return yaml.load(text, Loader=_ValueLoader)  # a SafeLoader: no arbitrary objects


class _OverrideValueLoader(_ValueLoader):
    """The loader of an override's value: no aliases (``*a`` repeating an ``&a`` anchor),
    which let a few hundred characters expand into billions of elements."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in an override",
                self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)


#: Deepest nesting of lists and mappings an override's value may have, and most parts of
#: an override's key.
MAX_DEPTH: Final = 32
MAX_KEY_PARTS: Final = 64


def _check_json(value: Any, text: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise OverrideError(text, f"the value nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise OverrideError(text, f"mapping keys must be strings, not {k!r}")
            _check_json(v, text, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, text, depth + 1)
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise OverrideError(text, f"unsupported value {value!r}")


def parse_value(value: str, text: str | None = None) -> Any:
    """The typed value of the right-hand side of an override (see the module docstring)."""
    stripped = value.strip()
    if not stripped:
        return ""
    if stripped[0] in "[{'\"":
        if stripped.count("[") + stripped.count("{") > 10 * MAX_DEPTH:
            raise OverrideError(text or value, f"the value nests deeper than {MAX_DEPTH} "
                                               "levels")
        try:  # a SafeLoader: no arbitrary objects
            parsed = yaml.load(stripped, Loader=_OverrideValueLoader)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise OverrideError(text or value, f"cannot parse value {stripped[:80]!r}: "
                                               f"{problem}") from None
        except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
            raise OverrideError(text or value, f"cannot parse value: {exc}"[:300]) from None
        _check_json(parsed, text or value)
        return parsed
    try:
        return _scalar(stripped)
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        raise OverrideError(text or value, f"cannot parse value: {exc}"[:300]) from None


def parse_override(text: str) -> Override:
    """Parse one override; an :class:`OverrideError` quoting it when it is not one."""
    if not isinstance(text, str):
        raise OverrideError(str(text), "an override is a string like key=value")
    body = text.strip()
    op: Op = "set"
    for prefix, prefix_op in _PREFIXES:
        if body.startswith(prefix):
            body, op = body[len(prefix):], prefix_op
            break
    key, eq, raw = body.partition("=")
    key = key.strip()
    if not _KEY.fullmatch(key):
        raise OverrideError(text, f"{key!r} is not a key (a dotted path like optim.lr)"
                            if key else "no key (expected key=value)")
    parts = key.split(".")
    if len(parts) > MAX_KEY_PARTS:
        raise OverrideError(text, f"a key has at most {MAX_KEY_PARTS} parts")
    path = tuple(int(p) if p.isascii() and p.isdigit() else p for p in parts)
    if not eq and op != "delete":
        raise OverrideError(text, f"no value: write {text.strip()}=VALUE"
                            + ("" if op != "set" else f" (or ~{key} to remove it)"), path)
    value = parse_value(raw, text) if eq else None
    return Override(text, op, path, value, bool(eq))


# -- applying ------------------------------------------------------------------------------

def _kind(node: Any) -> str:
    if isinstance(node, bool):
        return "a boolean"
    if isinstance(node, int | float):
        return "a number"
    if isinstance(node, str):
        return "a string"
    return "null" if node is None else type(node).__name__


def _parent(config: dict[str, Any], ov: Override, create: bool) -> dict[str, Any] | list[Any]:
    """The mapping or list that holds ``ov``'s last part; missing mappings are made when
    ``create``."""
    node: Any = config
    for i, part in enumerate(ov.path[:-1]):
        here = ov.path[: i + 1]
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise OverrideError(ov.text, f"index {part} is past the end of "
                                             f"{_dotted(ov.path[:i])} ({len(node)} items)", here)
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise OverrideError(ov.text, f"{_dotted(ov.path[:i])} is {_kind(node)}, "
                                         "not a mapping", here)
        key = str(part)
        if key not in node:
            if not create:
                raise _unknown(ov)
            node[key] = {}
        node = node[key]
    if not isinstance(node, dict | list):
        where = _dotted(ov.path[:-1])
        raise OverrideError(ov.text, f"{where} is {_kind(node)}, not a mapping", ov.path[:-1])
    return node


def _dotted(path: tuple[PathPart, ...]) -> str:
    return ".".join(str(p) for p in path) or "the config"


def _unknown(ov: Override) -> OverrideError:
    return OverrideError(ov.text, f"unknown key {ov.key!r}; use +{ov.key}=VALUE to add it",
                         ov.path)


def apply_override(config: dict[str, Any], override: str | Override) -> None:
    """Apply one override to ``config`` in place (an :class:`OverrideError` when it does not
    apply; ``config`` is then unchanged)."""
    ov = override if isinstance(override, Override) else parse_override(override)
    # Parents are made only below the last one that exists, and nothing under a new
    # mapping can fail: an error leaves ``config`` as it was.
    holder = _parent(config, ov, create=ov.op in ("add", "force"))
    last = ov.path[-1]
    if isinstance(holder, list):
        _apply_to_list(holder, ov)
        return
    key = str(last)
    exists = key in holder
    if ov.op == "set" and not exists:
        raise _unknown(ov)
    if ov.op == "add" and exists:
        raise OverrideError(ov.text, f"key {ov.key!r} already exists; use {ov.key}=VALUE to "
                                     f"change it (or ++{ov.key}=VALUE)", ov.path)
    if ov.op == "delete":
        if not exists:
            raise OverrideError(ov.text, f"cannot remove {ov.key!r}: no such key", ov.path)
        _check_removed(holder[key], ov)
        del holder[key]
    else:
        holder[key] = copy.deepcopy(ov.value)


def _apply_to_list(holder: list[Any], ov: Override) -> None:
    where, last = _dotted(ov.path[:-1]), ov.path[-1]
    if not isinstance(last, int):
        raise OverrideError(ov.text, f"{where} is a list: index it with a number", ov.path)
    if ov.op == "add":
        raise OverrideError(ov.text, f"items are not added to the list {where} one by one; "
                                     f"set the whole list ({where}=[...])", ov.path)
    if last >= len(holder):
        raise OverrideError(ov.text, f"index {last} is past the end of {where} "
                                     f"({len(holder)} items)", ov.path)
    if ov.op == "delete":
        _check_removed(holder[last], ov)
        del holder[last]
    else:
        holder[last] = copy.deepcopy(ov.value)


def _check_removed(current: Any, ov: Override) -> None:
    if ov.has_value and not _same(current, ov.value):
        raise OverrideError(ov.text, f"cannot remove {ov.key!r}: it is {current!r}, "
                                     f"not {ov.value!r}", ov.path)

def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``config`` with ``overrides`` applied in order; the first that does not
    apply raises its :class:`OverrideError`."""
    out = copy.deepcopy(dict(config))
    for text in overrides:
        apply_override(out, text)
    return out
