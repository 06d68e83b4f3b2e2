"""One policy for failures inside the SDK: report once, never raise into training.

Tracking must never be the reason a three-day training run dies. Every public SDK entry
point that can fail for an internal reason (the store is locked, the disk is full, a value
cannot be stored) hands the exception to :class:`FailurePolicy`, which prints one clear line
to stderr the first time a given kind of failure happens and stays quiet after that. With
``strict=True`` (``TRAINDECK_STRICT=1``; tests use it) it raises instead.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO


class FailurePolicy:
    def __init__(self, *, strict: bool = False, stream: TextIO | None = None) -> None:
        self.strict = strict
        self._stream = stream
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.count = 0
        self.last: BaseException | None = None

    def report(self, where: str, exc: BaseException, *, raise_in_strict: bool = True) -> None:
        """Record a failure at ``where``; print it the first time; raise if strict."""
        with self._lock:
            self.count += 1
            self.last = exc
            first = where not in self._seen
            self._seen.add(where)
        if first:
            stream = self._stream or sys.stderr
            try:
                print(
                    f"traindeck: {where} failed: {type(exc).__name__}: {exc} "
                    "(training goes on; further failures of this kind are not shown)",
                    file=stream,
                    flush=True,
                )
            except Exception:
                pass
        if self.strict and raise_in_strict:
            raise exc

    def warn(self, where: str, message: str, *, raise_in_strict: bool = True) -> None:
        """A user error the SDK can step over (e.g. a value that is not a number)."""
        self.report(where, ValueError(message), raise_in_strict=raise_in_strict)

    def call(self, where: str, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except Exception as exc:
            self.report(where, exc)
            return None
