"""Group commit of the SDK's batches: requests that arrive together share a transaction.

Every ``POST /api/runs/{id}/batch`` is a write transaction, and a store commits one at a
time (SQLite's file lock, PostgreSQL's advisory lock). With fifty runs posting ten or
twenty times a second, the per-transaction cost (the lock, a ``seq``, the commit, on
PostgreSQL a dozen round trips) rather than the points sets how much one store takes.
So a request does not open its own transaction: it adds its batches to a queue and
waits; whichever request's thread takes the turn to write applies everything queued
then, up to ``MAX_GROUP`` requests, in one transaction (``Store.apply_many``), and each
waiting request gets its own answer. With one request at a time this is exactly the old
path; under load the transactions grow instead of queuing up.

Exactly once holds per batch: each batch's id is recorded in the transaction that applies
it. A group that fails (one request's batch names a run that does not exist, a database
that went away) is rolled back whole and its requests are applied one by one, so each
gets its own answer or error, and a good batch is never refused for a bad neighbour's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from traindeck.runfiles import RunFiles
from traindeck.store import Store
from traindeck.store.batch_wire import Batch

#: Most requests applied in one transaction.
MAX_GROUP: Final = 64


@dataclass(slots=True, eq=False)
class _Request:
    run_id: str
    batches: Sequence[Batch]
    done: bool = False
    applied: int = 0
    error: BaseException | None = field(default=None)


class GroupWriter:
    """Applies batches for request threads, grouping those that wait together."""

    def __init__(self, store: Store, files: RunFiles, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.files = files
        self.max_group = max_group
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()  # one group is written at a time
        #: Transactions written, and requests applied in them (what grouping saved).
        self.groups = 0
        self.requests = 0

    def apply(self, run_id: str, batches: Sequence[Batch]) -> int:
        """Apply ``batches`` of ``run_id`` in order (with whatever else waits); how many
        were new. Raises what applying them alone would raise. Blocks: call it from a
        worker thread."""
        mine = _Request(run_id, batches)
        with self._queue_lock:
            self._queue.append(mine)
        while True:
            with self._turn:
                if mine.done:
                    break
                with self._queue_lock:
                    group = self._queue[:self.max_group]
                    del self._queue[:self.max_group]
                self._write(group)
        if mine.error is not None:
            raise mine.error
        return mine.applied

    def _write(self, group: list[_Request]) -> None:
        try:
            self._write_group(group)
        finally:  # interrupted (a BaseException): nobody may wait for it forever
            for request in group:
                if not request.done:
                    request.error = RuntimeError("writing this batch was interrupted")
                    request.done = True

    def _write_group(self, group: list[_Request]) -> None:
        try:
            if len(group) == 1:
                only = group[0]
                counts = [self.store.apply_batches(only.run_id, only.batches, self.files)]
            else:
                counts = self.store.apply_many([(r.run_id, r.batches) for r in group],
                                               self.files)
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                group[0].done = True
            else:
                self._one_by_one(group)
            return
        for request, count in zip(group, counts, strict=True):
            request.applied = count
            request.done = True
        self.groups += 1
        self.requests += len(group)

    def _one_by_one(self, group: list[_Request]) -> None:
        """The group was rolled back: each request alone, for its own answer."""
        for request in group:
            try:
                request.applied = self.store.apply_batches(request.run_id, request.batches,
                                                           self.files)
            except Exception as exc:
                request.error = exc
            request.done = True
        self.groups += len(group)
        self.requests += len(group)
