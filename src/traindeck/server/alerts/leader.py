"""Who reaps stale runs, evaluates rules and sends webhooks: one server per store.

Several servers may serve one store (PostgreSQL behind a proxy; or SQLite files shared on
one machine). Each asks the store for its lock (``store.lead``: a PostgreSQL advisory lock,
a file lock for SQLite) through a :class:`StoreLeadership`: exactly one reaps, evaluates
rules and posts webhooks, while every server still sends ``alert`` messages to its own
WebSocket clients. When the leader dies its lock goes with its connection, and the next
server to ask (within ``recheck`` seconds) takes over. :class:`SingleServer` is for tests
of one server that need no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from traindeck.store import Store, StoreError

log = logging.getLogger("traindeck.server.leader")


class Leadership(Protocol):
    def is_leader(self) -> bool:
        """Whether this server evaluates rules and delivers webhooks now (cheap: asked on
        every follow tick)."""


class SingleServer:
    """The only server of its store: always the leader."""

    def is_leader(self) -> bool:
        return True


class StoreLeadership:
    """The store's lock for ``role``, asked for again at most every ``recheck`` seconds.

    ``is_leader`` is asked on the event loop, so it never waits on the store: it answers
    what the last ask found (False before the first answer) and, when that is older than
    ``recheck``, asks again in a thread of its own (a database that is away must not
    stall the server)."""

    def __init__(self, store: Store, role: str = "lead", *, recheck: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.role = role
        self.recheck = recheck
        self.clock = clock
        self._held = False
        self._asked_at: float | None = None
        self._asking = threading.Lock()

    def is_leader(self) -> bool:
        now = self.clock()
        if (self._asked_at is None or now - self._asked_at >= self.recheck) \
                and self._asking.acquire(blocking=False):
            self._asked_at = now
            threading.Thread(target=self._ask, name="traindeck-lead", daemon=True).start()
        return self._held

    def ask_now(self) -> bool:
        """Ask the store and wait for its answer (at a server's start, in a thread: the
        first ticks then know who leads)."""
        self._asking.acquire()
        self._asked_at = self.clock()
        self._ask()
        return self._held

    def _ask(self) -> None:
        """Ask the store (the caller holds ``_asking``, released here)."""
        try:
            was = self._held
            try:
                self._held = self.store.lead(self.role)
            except (StoreError, RuntimeError):  # away, or closed: nobody here leads
                self._held = False
            if self._held != was:
                log.info("this server %s the %r lock of the store", "holds" if self._held
                         else "no longer holds", self.role)
        finally:
            self._asking.release()
