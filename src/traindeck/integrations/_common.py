"""What the framework integrations share (Lightning, Keras, Hugging Face).

Small and stable on purpose: each integration holds a :class:`RunHolder` (the run it was
given, or one it starts with ``traindeck.init(**kwargs)`` the first time it is needed, on
rank zero only), turns the framework's logs into scalars with :func:`scalars`, and its
hyperparameters into a flat config with :func:`flatten_params`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Final

from ..sdk.init import init
from ..sdk.run import Run

#: How deep :func:`flatten_params` follows nested mappings (a guard against cycles).
MAX_DEPTH: Final = 8
#: The longest string :func:`plain` keeps of an object it can only describe.
MAX_TEXT: Final = 500


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or ``ImportError`` naming ``pip install 'traindeck[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"traindeck's {extra} integration needs {module!r}, which cannot be imported "
            f"({exc}); install it with: pip install 'traindeck[{extra}]'") from exc


def final_status(framework_status: str | None) -> str:
    """A run status for how the framework says training ended: ``failed``/``error``
    → ``failed``, ``interrupted``/``killed`` → ``interrupted``, anything else (``success``,
    ``finished``) → ``completed`` (which ``Run.finish`` turns into ``cancelled`` when the
    dashboard stopped the run)."""
    status = (framework_status or "").strip().lower()
    if status in ("failed", "failure", "error"):
        return "failed"
    if status in ("interrupted", "killed", "aborted"):
        return "interrupted"
    return "completed"


class RunHolder:
    """The run an integration reports to, on rank zero only.

    ``run``: a run the script started itself (the script finishes it); else the holder
    calls ``traindeck.init(**init_kwargs)`` the first time :attr:`run` is read on rank
    zero and finishes that run in :meth:`finish` (read again after that, it continues the
    same run: ``trainer.fit`` then ``trainer.test``). ``is_rank_zero`` (default: the
    ``RANK`` environment variable is unset or 0) is asked before starting one; on other
    ranks :attr:`run` is None and every call of the integration does nothing.
    """

    def __init__(self, run: Run | None = None, *,
                 is_rank_zero: Callable[[], bool] | None = None, **init_kwargs: Any) -> None:
        self._given = run
        self._made: Run | None = None
        self._rank_zero = is_rank_zero or _env_rank_zero
        self.init_kwargs: dict[str, Any] = dict(init_kwargs)

    @property
    def run(self) -> Run | None:
        """The run (started now if needed), or None on a rank other than zero."""
        if self._given is not None:
            return self._given
        if self._made is None or self._made.finished:
            if not self._rank_zero():
                return None
            kwargs = dict(self.init_kwargs)
            if self._made is not None:  # finished, then used again (fit, then test)
                kwargs.update(id=self._made.id, resume="allow")
            self._made = init(**kwargs)
        return self._made

    @property
    def started(self) -> Run | None:
        """The run if there is one already (given or started), without starting one."""
        return self._given or self._made

    @property
    def owns_run(self) -> bool:
        """Whether the holder started the run (and so finishes it)."""
        return self._given is None and self._made is not None

    def finish(self, status: str = "completed") -> None:
        """Finish the run this holder started, with ``status`` (a run status); a run the
        script gave is left for the script to finish."""
        if self._made is not None and self._given is None and not self._made.finished:
            self._made.finish(status)


def _env_rank_zero() -> bool:
    return os.environ.get("RANK", "0").strip() in ("", "0")


def scalar(value: Any) -> float | None:
    """``value`` as a float if it is one number: a Python number or bool, a numpy scalar
    or one-element array, a one-element torch tensor (or anything with ``item()`` and
    one element, or ``__float__``); else None (strings, None, bigger arrays)."""
    if value is None or isinstance(value, str | bytes):
        return None
    if isinstance(value, bool | int | float):
        return float(value)
    numel = getattr(value, "numel", None)
    size = numel() if callable(numel) else getattr(value, "size", 1)
    if not isinstance(size, int) or size != 1:
        return None
    try:
        item = getattr(value, "item", None)
        number = item() if callable(item) else value
        return float(number)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None


def scalars(logs: Mapping[str, Any] | None, prefix: str = "",
            skip: Callable[[str], bool] | None = None) -> dict[str, float]:
    """The entries of a framework's logs that are single numbers, as floats for
    ``run.log`` (keys prefixed with ``prefix``); others (strings, arrays) are left out.
    ``skip(key)`` leaves out keys the caller does not want (e.g. ``epoch``)."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        if skip is not None and skip(str(key)):
            continue
        number = scalar(value)
        if number is not None:
            out[prefix + str(key)] = number
    return out


def plain(value: Any) -> Any:
    """``value`` as a JSON value for a config: None, bool, int, float and str as they are;
    numpy/torch scalars as numbers; enums by value; lists, tuples and sets of them as
    lists; a class or function by its qualified name; anything else as its ``str()``
    (at most :data:`MAX_TEXT` characters)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float):  # numpy's float64 is a float too
        item = value.item() if hasattr(value, "item") else value
        return item if type(item) in (bool, int, float) else float(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(v) for v in items]
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    number = scalar(value) if hasattr(value, "item") else None
    if number is not None:
        item = value.item()
        return item if isinstance(item, bool | int) else number
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def as_mapping(obj: Any) -> Mapping[str, Any] | None:
    """``obj``'s fields as a mapping when it has them: a mapping, a dataclass instance,
    an ``argparse.Namespace`` (or any object with a ``__dict__`` of its own fields), an
    object with ``to_dict()`` (Hugging Face configs); else None."""
    if isinstance(obj, Mapping):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        try:
            data = to_dict()
        except Exception:
            data = None
        if isinstance(data, Mapping):
            return data
    if type(obj).__name__ == "Namespace" and hasattr(obj, "__dict__"):
        return dict(vars(obj))
    return None


def flatten_params(params: Any, sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """Hyperparameters as a flat dict of JSON values for ``run.config.update(...)``:
    nested mappings, dataclasses, Namespaces and ``to_dict()`` objects become keys
    joined by ``sep`` (``{"optim": {"lr": 0.1}}`` → ``{"optim.lr": 0.1}``), values go
    through :func:`plain`. Something that is no mapping at all is kept under ``prefix``
    (or ``"params"``)."""
    mapping = as_mapping(params)
    if mapping is None:
        return {prefix or "params": plain(params)}
    return dict(_flatten(mapping, sep, prefix, 0))


def _flatten(mapping: Mapping[str, Any], sep: str, prefix: str,
             depth: int) -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        inner = as_mapping(value) if depth < MAX_DEPTH else None
        if inner is not None and inner:
            yield from _flatten(inner, sep, name, depth + 1)
        elif inner is not None:
            yield name, {}
        else:
            yield name, plain(value)


def expect_total(run: Run, total: Any) -> None:
    """Tell the run how many steps the framework will train (for progress and ETA), unless
    the script said so itself (``init(total_steps=…)``) or the framework does not know
    (an unsized dataset: None, 0, infinity)."""
    if run.total_steps is not None or isinstance(total, bool):
        return
    try:
        n = int(total)
    except (TypeError, ValueError, OverflowError):
        return
    if n > 0:
        run.set_total(n)


def finite_or_none(value: float | None) -> float | None:
    """``value`` unless it is None or not finite (a monitored metric that is NaN is
    no "best")."""
    return value if value is not None and math.isfinite(value) else None
