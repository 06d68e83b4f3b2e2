"""The change feed: one follower reads what changed in the store and tells every listener.

Training processes write the store themselves; the server only follows it. A
:class:`Follower` owns the one cursor over the store's change feed
(``store.changes_since(seq, event_seq)``: runs, series, events, commands, deleted runs and
runs with new console lines, all stamped with a store-wide sequence number). Every
``interval`` seconds, or as soon as the store says a process committed
(``store.wait_for_writes``: PostgreSQL's ``LISTEN/NOTIFY``; SQLite's ``PRAGMA
data_version``, looked at every few ms; a store that cannot tell polls, and a batch posted
to this server nudges it: :meth:`Follower.nudge`), after ``min_gap`` more while commits
keep coming (at once after a quiet spell), it reads what is new and hands the same
:class:`~traindeck.store.Changes` to each :class:`Listener`, whether or not a browser is
connected. With several servers over one PostgreSQL store, a point posted to one reaches
the others' clients this way.

Listeners today: the WebSocket hub (``hub.py``), which fans changes out to subscribers, and
the :class:`~traindeck.server.reaper.Reaper`, which marks runs whose heartbeat stopped. The
launcher, server-side rules and integrations plug in the same way; how the follower learns
that it should read changes nothing of what listeners see.

Contract: listeners are called in the order they were added, once per tick, with the
changes of that tick (possibly empty: a tick is also a clock, see the reaper). A listener
that raises is logged and the others still run; the cursor moves on regardless, so one
broken listener never stalls the feed. Listeners are called on the event loop: anything
slow (store reads) goes to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from traindeck.store import Changes, Store

log = logging.getLogger("traindeck.server.feed")


@runtime_checkable
class Listener(Protocol):
    """Something that wants every change of the store, in order."""

    async def on_changes(self, changes: Changes) -> None:
        """Called once per follower tick with what changed since the last one."""


class Follower:
    """Follows one store and publishes each tick's changes to its listeners.

    Made by the app factory (one per app). ``start()`` reads the store's current position
    and (by default) starts a background task; tests call :meth:`tick` themselves.
    """

    def __init__(self, store: Store, *, interval: float = 0.1,
                 min_gap: float = 0.02) -> None:
        self.store = store
        self.interval = interval
        #: Woken by every commit (PostgreSQL), ticks still come at most this often: many
        #: writers' commits are read together.
        self.min_gap = min(min_gap, interval)
        self.seq = 0
        self.event_seq = 0
        self.ticks = 0
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._nudged = asyncio.Event()  # this process committed a write (see nudge)
        self._lock = asyncio.Lock()
        # the wait for the store's next write blocks a thread of its own, never one of the
        # loop's shared workers
        self._waiter: ThreadPoolExecutor | None = None
        #: Whether the store wakes the follower on commits (None: not known yet).
        self._pushes: bool | None = None
        #: When the last tick ended (the event loop's clock): what a quiet spell counts from.
        self._tick_end = float("-inf")

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def add_listener(self, listener: Listener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def nudge(self) -> None:
        """This process just committed a write (a batch a remote run posted): read it
        soon, after the ``min_gap`` floor, rather than at the next ``interval``. SQLite
        tells no one of commits, but the writes that come through this server it knows
        of. Called on the event loop."""
        self._nudged.set()

    async def start(self, *, background: bool = True) -> None:
        """Begin from the store's current position: what is already there is not news.
        ``background=False`` only reads the position (then :meth:`run` or :meth:`tick`)."""
        self.seq, self.event_seq = await asyncio.to_thread(self.store.current_seq)
        if background:
            self.run()

    def run(self) -> None:
        """Follow in a background task, one :meth:`tick` every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="traindeck-follow")

    async def stop(self) -> None:
        """Stop after the round in progress. Not by cancelling it: a read runs in a worker
        thread that a cancel would leave running, on a store about to be closed (SQLite
        closing a connection another thread is reading through can crash the process)."""
        if self._task is not None:
            self._stopping.set()
            self._nudged.set()
            await self._task
            self._task = None
        if self._waiter is not None:  # its wait on the store ends within ``interval``
            await asyncio.to_thread(self._waiter.shutdown, True)
            self._waiter = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: one bad read must not stop the feed
                log.exception("reading the change feed failed")
            await self._wait()

    async def _wait(self) -> None:
        """Until the store may have news (at most ``interval``), or a stop."""
        if self._pushes is not False:
            loop = asyncio.get_running_loop()
            if self._waiter is None:
                self._waiter = ThreadPoolExecutor(1, thread_name_prefix="traindeck-feed-wait")
            started = loop.time()
            news = loop.run_in_executor(self._waiter, self.store.wait_for_writes,
                                        self.interval)
            stop = asyncio.ensure_future(self._stopping.wait())
            either: set[asyncio.Future[Any]] = {news, stop}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not news.done() or self._stopping.is_set():
                return
            if news.exception() is not None:
                log.warning("waiting for the store's writes failed: %s", news.exception())
                return
            if news.result():  # woken by a commit: the floor between two ticks
                self._pushes = True
                await self._floor()
                return
            if self._pushes is True or loop.time() - started >= self.interval / 2:
                return  # a store that tells, quiet for the whole interval
            self._pushes = False  # it answered at once: it tells nothing (SQLite)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._nudged.wait(), self.interval)
            await self._floor()  # nudges come together

    async def _floor(self) -> None:
        """Commits keep coming: ``min_gap`` more (or a stop), so that they are read
        together. A commit after a quiet spell (no tick for ``2 * min_gap``) is read at
        once: a script logging now and then gets its points ~20 ms sooner."""
        if asyncio.get_running_loop().time() - self._tick_end >= 2 * self.min_gap:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.min_gap)

    async def tick(self) -> Changes:
        """One round: read what changed, tell every listener, move the cursor."""
        async with self._lock:
            self._nudged.clear()  # a write committed from here on is read next time
            changes = await asyncio.to_thread(self.store.changes_since, self.seq,
                                              self.event_seq)
            for listener in list(self._listeners):
                try:
                    await listener.on_changes(changes)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("listener %r failed", listener)
            self.seq = changes.seq
            if changes.events:
                self.event_seq = max(self.event_seq, changes.events[-1].seq)
            self.ticks += 1
            self._tick_end = asyncio.get_running_loop().time()
            return changes
