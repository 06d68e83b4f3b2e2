"""Group commit of the SDK's batches: requests that arrive together share a transaction.

Every ``POST /api/runs/{id}/batch`` is a write transaction, and a store commits one at a
time (SQLite's file lock, PostgreSQL's advisory lock). With fifty runs posting ten or
twenty times a second, the per-transaction cost (the lock, a ``seq``, the commit, on
PostgreSQL a dozen round trips) rather than the points sets how much one store takes.
So a request does not open its own transaction: it is queued, and one writer thread takes
everything queued when it is free, up to ``MAX_GROUP`` requests, parses their bodies and
applies them in one transaction (``Store.apply_many``); each request gets its own answer
(a future). With one request at a time this is the plain path; under load the
transactions grow instead of queuing up.

A waiting request holds no thread: the event loop awaits its future. (Before, each waited
in a thread of a pool of 16 for its turn to write; under fifty runs' load the pool ran
out, and requests queued for a thread before they could even join a group: a request's
p95 on the server was 295 ms, 177 of them waiting for a thread.)

Exactly once holds per batch: each batch's id is recorded in the transaction that applies
it. A group that fails (one request's batch names a run that does not exist, a database
that went away) is rolled back whole and its requests are applied one by one, so each
gets its own answer or error, and a good batch is never refused for a bad neighbour's; a
body that does not parse fails its own request before the group is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Final

from traindeck.runfiles import RunFiles
from traindeck.store import Store, Unavailable
from traindeck.store.batch_wire import Batch

#: Most requests applied in one transaction.
MAX_GROUP: Final = 64


@dataclass(slots=True, eq=False)
class _Request:
    run_id: str
    #: The request's batches, parsed by the writer (parsing may raise: that request fails).
    batches: Callable[[], Sequence[Batch]]
    answer: Future[int] = field(default_factory=Future)


class GroupWriter:
    """Applies queued batches on a writer thread of its own, the waiting ones together."""

    def __init__(self, store: Store, files: RunFiles, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.files = files
        self.max_group = max_group
        self._queue: list[_Request] = []
        self._ready = threading.Condition()
        self._turn = threading.Lock()  # held while a group is written
        self._closed = False
        self._thread: threading.Thread | None = None
        #: Transactions written, and requests applied in them (what grouping saved).
        self.groups = 0
        self.requests = 0

    def submit(self, run_id: str, batches: Callable[[], Sequence[Batch]]) -> Future[int]:
        """Queue a request; its future gives how many of its batches were new, or raises
        what applying them alone would raise (parsing included)."""
        return self.submit_many([(run_id, batches)])[0]

    def submit_many(self, requests: Sequence[tuple[str, Callable[[], Sequence[Batch]]]],
                    ) -> list[Future[int]]:
        """Queue several runs' batches together (``POST /api/batches``): each is its own
        request, with its own answer, queued side by side so that they share a group."""
        queued = [_Request(run_id, batches) for run_id, batches in requests]
        with self._ready:
            if self._closed:
                raise Unavailable("the server is stopping; send the batch again")
            self._queue.extend(queued)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="traindeck-batches",
                                                daemon=True)
                self._thread.start()
            self._ready.notify()
        return [r.answer for r in queued]

    def close(self, timeout: float | None = None) -> None:
        """Take no more requests; those queued are written first."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return  # closed, and nothing left
            with self._turn:
                with self._ready:
                    group = self._queue[:self.max_group]
                    del self._queue[:self.max_group]
                self._write(group)

    def _write(self, group: list[_Request]) -> None:
        try:
            parsed: list[tuple[_Request, Sequence[Batch]]] = []
            for request in group:
                if not request.answer.set_running_or_notify_cancel():
                    continue  # its client went away before it was written: not applied
                try:
                    parsed.append((request, request.batches()))
                except Exception as exc:  # a bad body fails its own request only
                    request.answer.set_exception(exc)
            self._write_group(parsed)
        finally:  # interrupted (a BaseException): nobody may wait for it forever
            for request in group:
                if not request.answer.done():
                    request.answer.set_exception(
                        RuntimeError("writing this batch was interrupted"))

    def _write_group(self, group: list[tuple[_Request, Sequence[Batch]]]) -> None:
        if not group:
            return
        try:
            if len(group) == 1:
                request, batches = group[0]
                counts = [self.store.apply_batches(request.run_id, batches, self.files)]
            else:
                counts = self.store.apply_many([(r.run_id, b) for r, b in group],
                                               self.files)
        except Exception as exc:
            if len(group) == 1:
                group[0][0].answer.set_exception(exc)
            else:
                self._one_by_one(group)
            return
        for (request, _), count in zip(group, counts, strict=True):
            request.answer.set_result(count)
        self.groups += 1
        self.requests += len(group)

    def _one_by_one(self, group: list[tuple[_Request, Sequence[Batch]]]) -> None:
        """The group was rolled back: each request alone, for its own answer."""
        for request, batches in group:
            try:
                request.answer.set_result(
                    self.store.apply_batches(request.run_id, batches, self.files))
            except Exception as exc:
                request.answer.set_exception(exc)
        self.groups += len(group)
        self.requests += len(group)
