"""The reaper: a listener of the change feed that marks runs whose heartbeat stopped.

Every ``interval`` seconds (counted on the follower's ticks, by the injected clock) it calls
``store.reap_stale()``: a ``running`` or ``paused`` run not heard from for longer than its
``heartbeat_timeout`` becomes ``interrupted`` (and that status change reaches every other
listener through the feed, like any change).

Grace after start (defect 19): while the server was down, runs could not reach it, so their
last heartbeat says nothing about whether they are alive. The reaper therefore judges no
heartbeat until ``grace`` seconds after it started, where ``grace`` is at least the longest
``heartbeat_timeout`` of the runs live at that moment (and at least ``min_grace``): a run
that kept training through a short outage has heartbeated again by then. A run that really
died during the outage is reaped once the grace is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from traindeck.store import LIVE_STATUSES, Changes, Store

from .alerts.leader import Leadership, SingleServer

log = logging.getLogger("traindeck.server.reaper")

#: Most live runs read to size the grace period (beyond that the grace is not extended).
GRACE_RUNS_READ = 10_000


class Reaper:
    """Reaps stale runs on the follower's tick, after a grace period from its start."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 5.0,
        min_grace: float = 0.0,
        clock: Callable[[], float] = time.time,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        #: Only the store's leader reaps (several servers may share a store).
        self.leadership = leadership or SingleServer()
        self.interval = interval
        self.min_grace = min_grace
        self.clock = clock
        self.started_at = clock()
        self._grace_over = False
        self._last_reap: float | None = None

    def grace(self) -> float:
        """The grace period: the longest heartbeat timeout of the live runs, at least
        ``min_grace`` (reads the store)."""
        runs, _ = self.store.list_runs(status=sorted(LIVE_STATUSES), limit=GRACE_RUNS_READ)
        return max([self.min_grace, *(r.heartbeat_timeout for r in runs)])

    def in_grace(self) -> bool:
        """Whether heartbeats are still not judged (reads the store while it might be)."""
        if self._grace_over:
            return False
        if self.clock() - self.started_at < self.min_grace:
            return True
        if self.clock() - self.started_at < self.grace():
            return True
        self._grace_over = True
        return False

    def reap(self) -> list[str]:
        """Reap now unless in the grace period; the ids of the runs interrupted."""
        if self.in_grace() or not self.leadership.is_leader():
            return []
        reaped = self.store.reap_stale()
        if reaped:
            log.info("runs interrupted (heartbeat lost): %s", ", ".join(reaped))
        return reaped

    async def on_changes(self, changes: Changes) -> None:
        now = self.clock()
        if self._last_reap is not None and now - self._last_reap < self.interval:
            return
        self._last_reap = now
        await asyncio.to_thread(self.reap)
