"""``run.config`` and ``run.summary``: dicts that send their whole new content on every
change (through the run's background thread)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class SyncedDict(dict[str, Any]):
    """A dict whose every change sends its whole new content to the store (via the
    background thread)."""

    def __init__(self, data: Mapping[str, Any], on_change: Callable[[dict[str, Any]], None]):
        super().__init__(data)
        self._on_change = on_change

    def _changed(self) -> None:
        self._on_change(dict(self))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def __ior__(self, other: Any) -> SyncedDict:  # type: ignore[override,misc]
        super().update(other)
        self._changed()
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()
