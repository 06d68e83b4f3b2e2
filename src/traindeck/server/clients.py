"""The hub's view of one WebSocket connection: its subscriptions and its outgoing queue.

Each connection has an outgoing queue bounded in bytes (``ws_max_queue_bytes``). A client
that lets it fill is dropped (``too_slow``): ``ws.py`` sends it ``error {code: "too_slow"}``
and closes it (code 1013); it should reconnect with a cursor. The server never buffers
without bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from traindeck.store.codec import dumps

#: The project name that subscribes to every project (the dashboard's run list).
ALL_PROJECTS: Final = "*"


@dataclass(slots=True)
class Subscription:
    """What one client watches and how far it has been sent."""

    run_id: str | None
    project: str | None
    #: Run subscriptions: per key, the last step sent. A key absent here is sent from its
    #: first point.
    steps: dict[str, int] = field(default_factory=dict)
    #: Events with ``seq`` above this one are still to be sent.
    event_seq: int = 0
    #: Run subscriptions: console lines with ``seq`` above this one are still to be sent.
    log_seq: int = 0


class Client:
    """One WebSocket connection as the hub sees it: subscriptions and an outgoing queue."""

    def __init__(self, *, max_queue_bytes: int, max_subscriptions: int) -> None:
        self.max_queue_bytes = max_queue_bytes
        self.max_subscriptions = max_subscriptions
        self.runs: dict[str, Subscription] = {}
        self.projects: dict[str, Subscription] = {}
        self.queued_bytes = 0
        self.dropped: str | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    @property
    def subscription_count(self) -> int:
        return len(self.runs) + len(self.projects)

    def send(self, message: bytes) -> bool:
        """Queue a message; a client over its byte budget is dropped instead."""
        if self.dropped is not None:
            return False
        if self.queued_bytes + len(message) > self.max_queue_bytes:
            self.drop("too_slow")
            return False
        self.queued_bytes += len(message)
        self._queue.put_nowait(message)
        return True

    def send_obj(self, message: dict[str, Any]) -> bool:
        return self.send(dumps(message))

    def drop(self, reason: str) -> None:
        if self.dropped is None:
            self.dropped = reason
            self._queue.put_nowait(None)

    def ready(self) -> list[bytes]:
        """The queued messages, without waiting (stops before the drop marker)."""
        out = []
        while not self._queue.empty():
            message = self._queue.get_nowait()
            if message is None:
                self._queue.put_nowait(None)
                break
            self.queued_bytes -= len(message)
            out.append(message)
        return out

    async def next(self) -> bytes | None:
        """The next message to write; ``None`` once the client has been dropped."""
        message = await self._queue.get()
        if message is not None:
            self.queued_bytes -= len(message)
        return message

    def watchers(self, run_id: str, project: str | None) -> list[Subscription]:
        subs = []
        if (sub := self.runs.get(run_id)) is not None:
            subs.append(sub)
        if project is not None and (sub := self.projects.get(project)) is not None:
            subs.append(sub)
        if (sub := self.projects.get(ALL_PROJECTS)) is not None:
            subs.append(sub)
        return subs
