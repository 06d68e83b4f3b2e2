"""A template's JSON Schema: checked, inferred from the defaults, and applied to a config.

When a template has no schema one is inferred from its default config: each key's type
from its default value (``int`` → ``integer``, ``float`` → ``number``, ``bool`` →
``boolean``, ``str`` → ``string``, a list → ``array`` with the items' type when they share
one, a mapping → ``object`` with its own properties, ``null`` → any type), and no key
beyond the defaults (``additionalProperties: false``), so a typo is an error.

:func:`validate` lists every error (JSON Schema draft 2020-12), each with the JSON path of
the value at fault (``$.optim.lr``, ``$.layers[0]``) and a message: ranges, types, enums,
required keys (the path names the missing key), unknown keys (one error per key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


class ConfigError(NamedTuple):
    """One problem with a config: where (a JSON path, ``$`` for the whole) and what."""

    path: str
    message: str


def json_path(parts: Iterable[str | int]) -> str:
    """``$.optim.lr``, ``$.layers[0]``, ``$['a key']``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out


def _type_of(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, Mapping):
        return infer_schema(value)
    if isinstance(value, list):
        schema: dict[str, Any] = {"type": "array"}
        items = [_type_of(v) for v in value]
        if items and all(i == items[0] for i in items):
            schema["items"] = items[0]
        elif items and all(i.get("type") in ("integer", "number") for i in items):
            schema["items"] = {"type": "number"}
        return schema
    return {}  # null: anything goes


def infer_schema(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a config whose defaults are ``defaults`` (see the module docstring)."""
    return {
        "type": "object",
        "properties": {str(k): _type_of(v) for k, v in defaults.items()},
        "additionalProperties": False,
    }


def check_schema(schema: Mapping[str, Any]) -> str | None:
    """``None`` when ``schema`` is a valid JSON Schema (draft 2020-12), else why not."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_path(exc.path) if exc.path else "$"
        return f"{exc.message} (at {where} in the schema)"
    return None


def _errors(error: ValidationError) -> Iterable[ConfigError]:
    where = list(error.absolute_path)
    instance = error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = [k for k in instance if k not in known and not any(p.search(k)
                                                                   for p in patterns)]
        if extra:
            for key in extra:
                yield ConfigError(json_path([*where, key]), f"unknown key {key!r}")
            return
    required = error.validator_value
    if error.validator == "required" and isinstance(instance, dict) \
            and isinstance(required, list):
        for key in required:
            if key not in instance:
                yield ConfigError(json_path([*where, key]), "required key missing")
        return
    yield ConfigError(json_path(where), error.message)


def validate(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[ConfigError]:
    """Every way ``config`` breaks ``schema`` (a checked schema), sorted by path."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    found = {e for error in validator.iter_errors(config) for e in _errors(error)}
    return sorted(found)
