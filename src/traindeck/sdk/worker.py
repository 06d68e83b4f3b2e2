"""The run's background thread: it does all the I/O so that ``log()`` never waits.

Each tick (``tick`` seconds, or at once when woken) it drains the run's queue into one store
transaction (points grouped by key, with a heartbeat), polls for commands, samples system
load and writes command results. A failed write keeps its points in memory and is retried
with backoff; nothing is dropped. ``stop()`` drains everything before returning.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import NotFound, StoreError

if TYPE_CHECKING:
    from .run import Run

Columns = dict[str, tuple[list[int], list[float], list[float]]]

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _as_float(v: Any) -> float:
    # ints and numbers the log() fast path let through; floats pass untouched
    if v.__class__ is float:
        return v
    return float(v)


class Worker(threading.Thread):
    def __init__(self, run: Run, *, tick: float, heartbeat_interval: float,
                 command_interval: float, system_interval: float | None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name=f"traindeck-{run.id}", daemon=True)
        self.run_ = run
        self.tick = tick
        self.heartbeat_interval = heartbeat_interval
        self.command_interval = command_interval
        self.system_interval = system_interval
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending: Columns = {}  # converted points not yet committed
        self._summary: dict[str, Any] = {}
        self._system_step = 0
        self._backoff = 0.0
        self._retry_at = 0.0
        self.outbox: deque[tuple[str, Callable[[], Any]]] = deque()  # (what, store call)
        self.flushed = threading.Condition()
        self.batches = 0

    # -- called from other threads -------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def submit(self, what: str, call: Callable[[], Any]) -> None:
        """Run a store call on this thread (in order with the points)."""
        self.outbox.append((what, call))
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        run = self.run_
        next_beat = next_cmd = next_sys = 0.0
        sampler = run._sampler
        while True:
            stopping = self._stopping.is_set()
            now = self.clock()
            try:
                if sampler is not None and self.system_interval and now >= next_sys:
                    next_sys = now + self.system_interval
                    self._sample(sampler, now)
                beat = now >= next_beat
                if beat:
                    next_beat = now + self.heartbeat_interval
                self._flush(now, beat)
                self._drain_outbox()
                if not stopping and now >= next_cmd:
                    next_cmd = now + self.command_interval
                    self._poll_commands()
            except Exception as exc:  # never let the thread die
                run._policy.report("background writer", exc, raise_in_strict=False)
            if (stopping and not run._queue and not self._pending and not self.outbox
                    and not self._summary):
                break
            if stopping and self._backoff > 0 and now > self._stop_deadline():
                break
            self._wake.wait(self.tick if not stopping else 0.05)
            self._wake.clear()

    def _stop_deadline(self) -> float:
        # While stopping, keep retrying a failing store for a while, then give up (the
        # data stays in memory only; the failure was reported).
        if not hasattr(self, "_deadline"):
            self._deadline = self.clock() + 10.0
        return self._deadline

    def _sample(self, sampler: Any, now: float) -> None:
        values = sampler.sample()
        step = self._system_step
        self._system_step += 1
        cols = self._pending
        for k, v in values.items():
            col = cols.get(k)
            if col is None:
                col = cols[k] = ([], [], [])
            col[0].append(step)
            col[1].append(now)
            col[2].append(v)

    def _drain_queue(self) -> None:
        run = self.run_
        q = run._queue
        cols = self._pending
        policy = run._policy
        popleft = q.popleft
        while True:
            try:
                step, t, data = popleft()
            except IndexError:
                break
            if step.__class__ is not int or not _I64_MIN <= step <= _I64_MAX:
                policy.warn("log(step=...)", f"step must be a 64-bit integer, got {step!r}")
                continue
            for k, v in data.items():
                col = cols.get(k)
                if col is None:
                    if k.__class__ is not str or not k or len(k) > 256:
                        policy.warn("log()", f"metric names are non-empty strings, got {k!r}")
                        continue
                    col = cols[k] = ([], [], [])
                try:
                    value = _as_float(v)
                except (TypeError, ValueError):
                    policy.warn("log()", f"value of {k!r} is not a number: {v!r}")
                    continue
                col[0].append(step)
                col[1].append(t)
                col[2].append(value)

    def _flush(self, now: float, beat: bool) -> None:
        self._drain_queue()
        summary = self._summary
        if not self._pending and not beat and not summary:
            return
        if now < self._retry_at:
            return
        run = self.run_
        series = {
            k: (np.fromiter(s, np.int64, len(s)), np.fromiter(t, np.float64, len(t)),
                np.fromiter(v, np.float64, len(v)))
            for k, (s, t, v) in self._pending.items()
        }
        try:
            run._store.write_metrics(run.id, series, summary=summary or None,
                                     heartbeat=now)
        except NotFound as exc:
            # The run was deleted from the dashboard: nothing can be written any more.
            run._policy.report("writing metrics (run deleted?)", exc, raise_in_strict=False)
            self._pending = {}
            self._summary = {}
            self._backoff = 0.0
            return
        except (StoreError, OSError, Exception) as exc:
            self._backoff = min(max(self._backoff * 2, 0.5), 30.0)
            self._retry_at = now + self._backoff
            run._policy.report("writing metrics", exc, raise_in_strict=False)
            return
        self._backoff = 0.0
        self._pending = {}
        self._summary = {}
        self.batches += 1
        with self.flushed:
            self.flushed.notify_all()

    def set_summary(self, values: dict[str, Any]) -> None:
        self.outbox.append(("summary", lambda: self._summary.update(values)))
        self._wake.set()

    def _drain_outbox(self) -> None:
        run = self.run_
        while self.outbox:
            what, call = self.outbox[0]
            try:
                call()
            except Exception as exc:
                run._policy.report(what, exc, raise_in_strict=False)
                if not isinstance(exc, StoreError):
                    # A transient failure (locked file, full disk): try again next tick.
                    return
            self.outbox.popleft()

    def _poll_commands(self) -> None:
        run = self.run_
        if run._store.has_pending_commands(run.id):
            for cmd in run._store.take_pending_commands(run.id):
                run._receive_command(cmd)

