"""``run.config`` and ``run.summary`` as wandb scripts use them: items and attributes.

Both wrap the traindeck run's own dicts (``SyncedDict``: every change goes to the store),
so ``config.lr = 0.1``, ``config["lr"] = 0.1`` and ``config.update({...})`` all land in
the run's config. ``summary`` reads the values the script set, then the last value logged
under the key (wandb's summary defaults to the last value); writing sets the run's summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any


def as_mapping(value: Any) -> dict[str, Any] | None:
    """A config given as wandb takes it: a mapping, an ``argparse.Namespace``, an object
    with ``__dict__`` (absl flags and the like); None when it is none of those."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, argparse.Namespace):
        return dict(vars(value))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return None


class _Items:
    """Item and attribute access over a mutable mapping (names starting with ``_`` are
    the object's own)."""

    _data: MutableMapping[str, Any]

    def __init__(self, data: MutableMapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[str(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no {type(self).__name__.lower()} key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        return list(self._data.keys())

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self.keys()]

    def values(self) -> list[Any]:
        return [self[k] for k in self.keys()]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()!r})"


class Config(_Items):
    """``wandb.config``: the run's config."""

    def update(self, d: Any = None, allow_val_change: bool | None = None, **kwargs: Any
               ) -> None:
        """Set many keys at once (a mapping, an ``argparse.Namespace``, keywords); one
        write to the store."""
        data = as_mapping(d) or {}
        data.update(kwargs)
        if data:
            self._data.update(data)

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        """Set the keys of ``d`` the config does not have yet."""
        missing = {str(k): v for k, v in d.items() if k not in self._data}
        if missing:
            self._data.update(missing)

    def persist(self) -> None:
        """wandb writes the config file; traindeck already stored every change."""


class Summary(_Items):
    """``run.summary``: values set by the script, else the last value logged."""

    _last: Mapping[str, Any]
    _explicit: set[str]

    def __init__(self, data: MutableMapping[str, Any], last: Mapping[str, Any]) -> None:
        super().__init__(data)
        object.__setattr__(self, "_last", last)
        object.__setattr__(self, "_explicit", set())

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            return self._last[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._explicit.add(str(key))
        super().__setitem__(key, value)

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self._data.keys(), *self._last.keys()]))

    def update(self, d: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Set many keys at once; one write to the store."""
        data = {str(k): v for k, v in {**(d or {}), **kwargs}.items()}
        self._explicit.update(data)
        if data:
            self._data.update(data)

    @property
    def explicit(self) -> set[str]:
        """The keys the script set itself (they win over last values at the end)."""
        return self._explicit
