"""One sender for every run of a training process on one server.

A process may hold several runs (a sweep run in threads, a trainer stepping several
models). Each run spools its batches (``spool.py``); a :class:`Courier` posts what every
run of the process has spooled for one server (URL and token) in **one request**,
``POST /api/batches``, so a process costs the server one request a tick however many
runs it has. With one run (the common case) it posts that run's own route,
``POST /api/runs/{id}/batch``, as a run's sender always did; so it does for a server that
does not know ``/api/batches`` (an older one: it answers 404 or 405).

Each run is a :class:`Lane`: its spool and the lock that guards it, its failure policy,
its counters. The courier's thread runs while it has lanes (it ends with the last one and
starts again with the next), oldest batches first, a run's batches acknowledged in its
spool only once the server answered for them:

- **Gathering.** The runs' background threads tick together (``worker.py`` aligns their
  ticks to the clock), so their batches are spooled within milliseconds of one another;
  after the first, the courier waits up to ``GATHER`` seconds for the other runs' (not
  when hurried: a run finishing).
- **The gap.** After a slow answer it waits a little before it sends again
  (``SEND_GAP_*``), so that a busy server gets fewer, bigger requests. When the gap is
  over it *pulls*: each run's worker spools what it holds at once (``Lane.pull``), so
  that the points logged since the last tick go now rather than a whole gap later.
- **Failures.** A request without an answer (the server away, a 5xx) is retried for every
  run in it with jittered backoff (``transport.backoff``, within the shortest heartbeat
  timeout of its runs) and drops nothing. A run the server refuses (a 4xx for that run)
  has its batches sent one by one to find the bad one, which is set aside in
  ``spool/rejected/``; the other runs' batches are acknowledged as usual. A request too
  large for a proxy (413) is sent again in smaller requests.

:class:`Couriers` keeps a process's couriers, one a server; ``init.py`` holds the
process's own (a forked child starts afresh: its parent's threads are not in it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .lite_http import BatchPoster, open_poster
from .policy import FailurePolicy
from .spool import Spool
from .transport import (
    GROUP_BATCHES,
    GROUP_BYTES,
    BatchRejected,
    auth_headers,
    backoff,
    post_batches,
    post_runs,
    set_aside,
)

#: After a request that took ``d`` seconds, the courier waits until
#: ``SEND_GAP_FACTOR * (d - SEND_GAP_FREE)`` (at most ``SEND_GAP_MAX``) have passed since it
#: began before it sends again: a server that answers within a few milliseconds gets the
#: batches every tick, and a busy server, slower to answer, gets fewer, bigger requests
#: (its cost is mostly per request, not per point). What waits is already in the spools.
SEND_GAP_FACTOR: Final = 30.0
SEND_GAP_MAX: Final = 0.15
SEND_GAP_FREE: Final = 0.004
#: No gap after a big request, or with a backlog waiting (a drain after an outage, a fast
#: logger): those are slow for their size, not for the server's load, and go at once.
SEND_GAP_BATCHES: Final = 32
SEND_GAP_BYTES: Final = 256 * 1024
#: Seconds the courier waits, after a run's batch, for the other runs' of the same tick.
GATHER: Final = 0.01
#: Seconds the courier waits, after a gap, for its runs' workers to spool what they hold.
PULL_WAIT: Final = 0.02
#: Seconds between looks at the spools when nothing wakes the courier.
IDLE_WAIT: Final = 0.5


@dataclass(eq=False)
class Lane:
    """One run's side of a courier. ``lock`` guards ``spool``; ``closed`` (set under it)
    means the spool is closed and must not be touched."""

    run_id: str
    spool: Spool
    policy: FailurePolicy
    heartbeat_timeout: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False
    #: Batches acknowledged by the server, and requests that got no answer.
    sent: int = 0
    failures: int = 0
    #: Batches still to be sent one at a time (after the server refused a group of them).
    singly: int = 0
    #: The run's worker: ``pull()`` asks it to spool what it holds now; the event it
    #: returns is set once it has (``Backend.pull_with``).
    pull: Callable[[], threading.Event] | None = None


Head = list[tuple[int, bytes]]


class Courier:
    """Sends the spooled batches of its lanes to one server (see the module docstring)."""

    def __init__(self, url: str, token: str | None, *, gather: float = GATHER,
                 gap_max: float = SEND_GAP_MAX) -> None:
        self.url = url
        self.token = token
        self.gather = gather
        #: The longest gap after a slow answer (``SEND_GAP_MAX``).
        self.gap_max = gap_max
        self._lanes: list[Lane] = []
        self._guard = threading.Lock()  # the lanes and the thread
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._retry = threading.Event()  # cut a backoff short
        self._hurry = threading.Event()  # cut a gather or a gap short
        self._multi = True  # the server takes POST /api/batches
        self._first = 0  # the lane served first (turns, so that none waits on a budget)

    def join(self, lane: Lane) -> None:
        with self._guard:
            self._lanes.append(lane)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name=f"traindeck-send-{lane.run_id}")
                self._thread.start()
        self._wake.set()

    def leave(self, lane: Lane) -> None:
        """Send nothing more of ``lane`` (a batch in flight is not acknowledged)."""
        with self._guard:
            if lane in self._lanes:
                self._lanes.remove(lane)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def retry(self) -> None:
        """The server is back: cut a backoff short."""
        self._retry.set()
        self._wake.set()

    def hurry(self) -> None:
        """A run is finishing: send now, without gathering or a gap."""
        self._hurry.set()
        self._wake.set()

    # -- the thread ------------------------------------------------------------------

    def _loop(self) -> None:
        poster = open_poster(self.url, auth_headers(self.token), 60.0)
        try:
            self._run(poster)
        finally:
            poster.close()

    def _run(self, poster: BatchPoster) -> None:
        attempt = 0
        budget = GROUP_BYTES  # smaller after a 413 (a proxy with a lower body limit)
        waited = False  # a gap was waited: what the workers hold is a gap old
        while True:
            with self._guard:
                if not self._lanes:
                    self._thread = None
                    return
                lanes = list(self._lanes)
            if not any(len(lane.spool) for lane in lanes):
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()
                continue
            hurried = self._hurry.is_set()
            self._hurry.clear()
            if waited and not hurried:
                self._pull(lanes)
            elif len(lanes) > 1 and not hurried:
                self._gather(lanes)
            waited = False
            heads = self._heads(lanes, budget)
            if not heads:
                continue
            began = time.monotonic()
            try:
                outcomes = self._post(poster, heads)
            except BatchRejected as exc:  # the whole request: too large for a proxy
                budget = max(budget // 4, 1)
                if sum(len(h) for _, h in heads) > 1:
                    continue
                outcomes = [exc]
            failed = [self._settle(lane, head, outcome)
                      for (lane, head), outcome in zip(heads, outcomes, strict=True)]
            if any(failed):
                attempt += 1
                timeouts = [x.heartbeat_timeout for x, _ in heads if x.heartbeat_timeout]
                self._retry.clear()
                self._retry.wait(backoff(attempt, min(timeouts, default=None)))
                continue
            attempt = 0
            took = time.monotonic() - began
            gap = min(SEND_GAP_FACTOR * max(took - SEND_GAP_FREE, 0.0), self.gap_max) - took
            small = (sum(len(h) for _, h in heads) < SEND_GAP_BATCHES
                     and all(len(x.spool) < SEND_GAP_BATCHES for x, _ in heads)
                     and sum(len(p) for _, h in heads for _, p in h) < SEND_GAP_BYTES)
            if small and gap > 0.001 and not hurried:
                self._hurry.wait(gap)  # busy: let them gather (a finishing run cuts it)
                waited = True

    @staticmethod
    def _pull(lanes: list[Lane]) -> None:
        """Ask every lane's worker to spool what it holds; wait up to ``PULL_WAIT``."""
        pulled = [lane.pull() for lane in lanes if lane.pull is not None and not lane.closed]
        deadline = time.monotonic() + PULL_WAIT
        for done in pulled:
            left = deadline - time.monotonic()
            if left <= 0 or not done.wait(left):
                return

    def _gather(self, lanes: list[Lane]) -> None:
        """Wait up to ``gather`` for every lane to have something to send."""
        deadline = time.monotonic() + self.gather
        while not self._hurry.is_set() and not all(len(x.spool) for x in lanes):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.clear()
            self._wake.wait(left)

    def _heads(self, lanes: list[Lane], budget: int) -> list[tuple[Lane, Head]]:
        """What to send: the oldest batches of each lane, within ``budget`` bytes (the
        first lane's first batch always), each run once; a lane finding its bad batch
        alone."""
        alone = next((x for x in lanes if x.singly), None)
        if alone is not None:
            head = self._peek(alone, 1, budget)
            if head:
                return [(alone, head)]
            alone.singly = 0  # nothing left to look through (closed)
        self._first = (self._first + 1) % len(lanes)
        out: list[tuple[Lane, Head]] = []
        runs: set[str] = set()
        for lane in lanes[self._first:] + lanes[:self._first]:
            if budget <= 0:
                break
            if lane.run_id in runs:  # two spools of one run: one a request
                continue
            head = self._peek(lane, GROUP_BATCHES, budget)
            size = sum(len(p) for _, p in head)
            if not head or (out and size > budget):
                continue
            out.append((lane, head))
            runs.add(lane.run_id)
            budget -= size
        return out

    @staticmethod
    def _peek(lane: Lane, n: int, budget: int) -> Head:
        with lane.lock:
            if lane.closed or not len(lane.spool):
                return []
            return lane.spool.peek(n, max(budget, 1))

    def _post(self, poster: BatchPoster,
              heads: list[tuple[Lane, Head]]) -> list[Exception | None]:
        """Send ``heads``: per lane, ``None`` (applied), ``BatchRejected`` (refused) or
        another exception (no answer: retried). Raises ``BatchRejected`` for a request
        refused whole for its size (413)."""
        if len(heads) > 1 and self._multi:
            try:
                return post_runs(poster, [(lane.run_id, [p for _, p in head])
                                          for lane, head in heads])
            except BatchRejected as exc:
                if exc.status == 413:
                    raise
                if exc.status in (404, 405):
                    self._multi = False  # an older server: each run its own request
                # else refused whole, not for one run's batches: each run on its own
                # route this time, which says which (if any) is refused
            except Exception as exc:
                return [exc] * len(heads)
        outcomes: list[Exception | None] = []
        for lane, head in heads:
            try:
                post_batches(poster, lane.run_id, [p for _, p in head])
                outcomes.append(None)
            except BatchRejected as exc:
                if exc.status == 413 and len(heads) == 1 and len(head) > 1:
                    raise
                outcomes.append(exc)
            except Exception as exc:  # no answer: the others are not tried now
                outcomes += [exc] * (len(heads) - len(outcomes))
                break
        return outcomes

    def _settle(self, lane: Lane, head: Head, outcome: Exception | None) -> bool:
        """Acknowledge, set aside or keep ``head`` of ``lane``; whether it failed (to be
        retried after a backoff)."""
        if lane.singly:
            lane.singly -= 1
        if outcome is None:
            with lane.lock:
                if not lane.closed:
                    lane.spool.ack(head[-1][0])
            lane.sent += len(head)
            return False
        if isinstance(outcome, BatchRejected):
            if len(head) > 1:
                lane.singly = len(head)  # find the bad one
                return False
            seq, payload = head[0]
            with lane.lock:
                if lane.closed:
                    return False
                path = set_aside(lane.spool, seq, payload, str(outcome))
                lane.spool.ack(seq)
            lane.policy.report(f"sending a batch (refused; kept in {path.parent})", outcome,
                               raise_in_strict=False)
            return False
        lane.failures += 1
        lane.policy.report(f"sending to {self.url} (kept in the spool, retrying)", outcome,
                           raise_in_strict=False)
        return True


class Couriers:
    """A process's couriers, one a server (URL and token)."""

    def __init__(self, *, gap_max: float = SEND_GAP_MAX) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._by: dict[tuple[str, str | None], Courier] = {}
        self._gap_max = gap_max

    def get(self, url: str, token: str | None) -> Courier:
        with self._lock:
            if os.getpid() != self._pid:  # a forked child: the parent's threads are gone
                self._pid = os.getpid()
                self._by.clear()
            courier = self._by.get((url, token))
            if courier is None:
                courier = self._by[(url, token)] = Courier(url, token,
                                                           gap_max=self._gap_max)
            return courier

