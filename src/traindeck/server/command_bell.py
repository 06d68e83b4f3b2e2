"""Wakes the scripts' command long-polls when a command for their run is posted.

``POST /api/runs/{id}/commands/deliver?wait=S`` holds a script's request until a command
is pending for its run. Rather than each held request reading the store every few
milliseconds (with fifty live runs, a thousand reads a second that find nothing), a
held request waits on a :class:`CommandBell`, a listener of the change feed: the feed
names every command that changed, whichever server it was posted to (PostgreSQL's
``NOTIFY`` carries it between servers), and the bell wakes the requests of its run.
A request still reads the store again every ``RECHECK`` seconds of its wait, so that a
command is never held longer than that should a ring be missed.

The bell also rings when a run reaches a final status (its script finished: the SDK's
poller ends with that answer, instead of waiting out a long poll that no command can end
any more).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from traindeck.store import TERMINAL_STATUSES, Changes

#: Seconds a held request waits on the bell before it reads the store again anyway.
RECHECK: Final = 2.0


class Waiter(asyncio.Event):
    """Set when a command for the run may be pending; ``ended`` once the run has
    reached a final status."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = False


class CommandBell:
    """Listener: rings the waiters of every run with a new pending command, or that ended."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}

    async def on_changes(self, changes: Changes) -> None:
        for command in changes.commands:
            if command.status == "pending":
                self.ring(command.run_id)
        for run in changes.runs:
            if run.status in TERMINAL_STATUSES:
                self.ring(run.id, ended=True)

    def ring(self, run_id: str, *, ended: bool = False) -> None:
        for waiter in self._waiters.get(run_id, ()):
            waiter.ended = waiter.ended or ended
            waiter.set()

    @contextmanager
    def listen(self, run_id: str) -> Iterator[Waiter]:
        """A waiter rung when a command for ``run_id`` may be pending or the run ended;
        listen before reading the store, so that a command committed in between still
        rings."""
        waiter = Waiter()
        self._waiters.setdefault(run_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[run_id]
