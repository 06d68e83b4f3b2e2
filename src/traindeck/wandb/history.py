"""wandb's step semantics for ``log()``: an implicit step counter and rows built across calls.

wandb keeps one *current step* and a *pending row* for it:

- ``log(d)`` (no ``step``; ``commit`` left out or True) adds ``d`` to the pending row,
  commits it at the current step, and moves on to the next step;
- ``log(d, commit=False)`` only adds ``d`` to the pending row (same step);
- ``log(d, step=s)`` with ``s`` above the current step first commits the pending row at
  its own step, then makes ``s`` current; ``d`` waits in the pending row until a later
  step, an explicit ``commit=True`` or ``finish()`` commits it (wandb's rule: with
  ``step`` given, ``commit`` defaults to False);
- a ``step`` below the current one is dropped (wandb warns and drops it too).

:class:`History` is that bookkeeping alone: it says which rows to commit at which step and
stores nothing itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Row = dict[str, Any]


class StepBehind(ValueError):
    """``log(step=s)`` with ``s`` below the current step: wandb drops such a row."""


class History:
    """The current step and its pending row."""

    def __init__(self, start: int = 0) -> None:
        self.step = start
        self._pending: Row = {}

    @property
    def pending(self) -> Row:
        """What waits to be committed at :attr:`step` (a copy)."""
        return dict(self._pending)

    def log(self, data: Mapping[str, Any], step: int | None = None,
            commit: bool | None = None) -> list[tuple[int, Row]]:
        """Add ``data``; return the rows this commits, as ``(step, row)`` in order.

        ``StepBehind`` when ``step`` is below the current step (nothing changes)."""
        out: list[tuple[int, Row]] = []
        if step is not None:
            if step < self.step:
                raise StepBehind(f"step {step} is below the current step {self.step}")
            if step > self.step:
                if self._pending:
                    out.append((self.step, self._pending))
                    self._pending = {}
                self.step = step
        self._pending.update(data)
        if (step is None) if commit is None else commit:
            out.extend(self.commit())
        return out

    def commit(self) -> list[tuple[int, Row]]:
        """Commit the pending row (if any) at the current step and move to the next."""
        row, self._pending = self._pending, {}
        at = self.step
        self.step += 1
        return [(at, row)] if row else []

    def flush(self) -> list[tuple[int, Row]]:
        """At the end of the run: commit what is pending, if anything."""
        return self.commit() if self._pending else []
