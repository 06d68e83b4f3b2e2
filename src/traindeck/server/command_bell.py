"""Wakes the scripts' command long-polls when a command for their run is posted.

``POST /api/runs/{id}/commands/deliver?wait=S`` holds a script's request until a command
is pending for its run. Rather than each held request reading the store every few
milliseconds (with fifty live runs, a thousand reads a second that find nothing), a
held request waits on a :class:`CommandBell`, a listener of the change feed: the feed
names every command that changed, whichever server it was posted to (PostgreSQL's
``NOTIFY`` carries it between servers), and the bell wakes the requests of its run.
A request still reads the store again every ``RECHECK`` seconds of its wait, so that a
command is never held longer than that should a ring be missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from traindeck.store import Changes

#: Seconds a held request waits on the bell before it reads the store again anyway.
RECHECK: Final = 2.0


class CommandBell:
    """Listener: rings the waiters of every run with a new pending command."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    async def on_changes(self, changes: Changes) -> None:
        for command in changes.commands:
            if command.status == "pending":
                self.ring(command.run_id)

    def ring(self, run_id: str) -> None:
        for event in self._waiters.get(run_id, ()):
            event.set()

    @contextmanager
    def listen(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set when a command for ``run_id`` may be pending; listen before
        reading the store, so that a command committed in between still rings."""
        event = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[run_id]
