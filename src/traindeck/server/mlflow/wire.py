"""Reading MLflow requests: protobuf's JSON mapping, checked field by field.

A POST carries a JSON object; a GET carries the same fields in its query string (a
repeated field repeated). As protobuf's JSON parser does, an int64 may come as a number
or a string of digits, a double as a number, a numeric string or ``"NaN"``,
``"Infinity"``, ``"-Infinity"``; fields this API does not know are ignored (a newer
client may send more). Anything else is ``INVALID_PARAMETER_VALUE`` naming the field.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.datastructures import QueryParams

from .errors import MlflowError, invalid

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: MLflow's limits (``mlflow.utils.validation``).
MAX_KEY: Final = 250
MAX_PARAM_VALUE: Final = 6000
MAX_TAG_VALUE: Final = 8000
MAX_METRICS_PER_BATCH: Final = 1000
MAX_PARAMS_TAGS_PER_BATCH: Final = 100


def json_body(data: bytes) -> dict[str, Any]:
    """A POST's fields (an empty body is an empty message)."""
    if not data.strip():
        return {}
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MlflowError("MALFORMED_REQUEST", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MlflowError("MALFORMED_REQUEST", "the request body is a JSON object")
    return body


def query_fields(params: QueryParams) -> dict[str, Any]:
    """A GET's fields: each query parameter, a list when repeated."""
    out: dict[str, Any] = {}
    for key in params:
        values = params.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


class Fields:
    """One request message's fields, read by type."""

    def __init__(self, raw: dict[str, Any], where: str = "") -> None:
        self.raw = raw
        self.where = where

    def _name(self, name: str) -> str:
        return f"{self.where}{name}"

    def string(self, name: str, *, required: bool = False, max_len: int | None = None,
               default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid(f"Missing value for required parameter '{self._name(name)}'")
            return default
        if not isinstance(value, str):
            raise invalid(f"'{self._name(name)}' must be a string, got {type(value).__name__}")
        if required and not value:
            raise invalid(f"Missing value for required parameter '{self._name(name)}'")
        if max_len is not None and len(value) > max_len:
            raise invalid(f"'{self._name(name)}' is longer than {max_len} characters")
        return value

    def required(self, name: str, *, max_len: int | None = None) -> str:
        value = self.string(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def int64(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise invalid(f"'{self._name(name)}' must be an integer") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"'{self._name(name)}' must be an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise invalid(f"'{self._name(name)}' does not fit in 64 bits")
        return value

    def double(self, name: str, *, required: bool = False) -> float | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise invalid(f"Missing value for required parameter '{self._name(name)}'")
            return None
        if isinstance(value, bool):
            raise invalid(f"'{self._name(name)}' must be a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # "NaN", "Infinity", "-Infinity", "0.5"
            except ValueError:
                pass
        raise invalid(f"'{self._name(name)}' must be a number, 'NaN', 'Infinity' or "
                      "'-Infinity'")

    def strings(self, name: str) -> list[str]:
        value = self.raw.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"'{self._name(name)}' must be a list of strings")
        return value

    def messages(self, name: str, limit: int | None = None) -> list[Fields]:
        value = self.raw.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid(f"'{self._name(name)}' must be a list of objects")
        if limit is not None and len(value) > limit:
            raise invalid(f"A batch logging request can contain at most {limit} {name}, "
                          f"got {len(value)}")
        return [Fields(v, f"{self._name(name)}[{i}].") for i, v in enumerate(value)]

    def run_id(self) -> str:
        """``run_id``, or ``run_uuid`` (the older name both are sent as)."""
        run_id = self.string("run_id") or self.string("run_uuid")
        if not run_id:
            raise invalid("Missing value for required parameter 'run_id'")
        return run_id


def key_value(f: Fields, *, max_value: int) -> tuple[str, str]:
    """A param's or tag's ``key`` and ``value`` (a missing value is an empty string)."""
    key = f.required("key", max_len=MAX_KEY)
    value = f.string("value", max_len=max_value, default="")
    assert value is not None
    return key, value

