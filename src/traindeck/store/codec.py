"""JSON for traindeck: compact, fast, and exact for NaN and ±Inf.

Standard JSON has no NaN or Infinity, and a NaN loss is exactly what a user must see, so
every traindeck JSON payload writes a non-finite float as one of the strings ``"NaN"``,
``"Infinity"`` or ``"-Infinity"`` (the spellings of JavaScript's ``Number()`` and Python's
``float()``), and :func:`to_float` reads them back. Ordinary strings in free-form places
(config, summary) that happen to spell one of those words stay strings: only fields typed
as numbers are decoded.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

NONFINITE_NAMES: Final[dict[str, float]] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}


def float_out(x: float) -> float | str:
    """A float as it goes into JSON."""
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    return x


def to_float(x: object) -> float:
    """A JSON number or one of the non-finite spellings, as a float; ``ValueError`` else."""
    if isinstance(x, bool):
        raise ValueError("a boolean is not a metric value")
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str) and x in NONFINITE_NAMES:
        return NONFINITE_NAMES[x]
    raise ValueError(f"not a number: {x!r}")


def float_list(a: npt.NDArray[np.float64]) -> list[float | str]:
    """A float array as a JSON-ready list, spelling the non-finite values."""
    values: list[float] = a.tolist()
    if np.isfinite(a).all():
        return values  # type: ignore[return-value]
    return [float_out(v) for v in values]


def jsonable(obj: Any) -> Any:
    """``obj`` with every non-finite float spelled out, recursively (dicts, lists, tuples).

    numpy scalars become Python numbers first (a float32 NaN stays NaN), and integers
    beyond 64 bits, which JSON readers cannot hold, become floats.
    """
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else float_out(obj)
    if isinstance(obj, int) and not isinstance(obj, bool) and not -(2**63) <= obj < 2**64:
        try:
            return float(obj)
        except OverflowError:
            return str(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    return repr(obj)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes; non-finite floats spelled out; unknown objects as their repr."""
    return orjson.dumps(jsonable(obj), default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


def loads(data: str | bytes | None, default: Any = None) -> Any:
    if data is None or data == "":
        return default
    return orjson.loads(data)
