"""The progress tracker: a listener of the change feed that keeps each run's ``progress``,
``steps_per_s`` and ``eta_s`` up to date in the store.

Every point a run logs reaches the store one way or another, over HTTP batches (the
server applies them) or straight from an embedded SDK, and the store's change feed
(``feed.py``) names the series it touched with their newest step and its time. So the
tracker never reads points and never scans the store: per tick it takes, for every run
with changed training series (keys outside ``sys/``), the highest step and its time, and
feeds them to the run's speed estimate (``traindeck.speed``). The run rows of the feed
tell it each run's status and ``total_steps``.

What it computes it writes on the run (``Store.set_progress``), at most once per
``min_interval`` seconds per run while points arrive, and at once when the run's status or
total changes; the write stamps the run, so the live hub sends ``run_update`` with the new
values the next tick: the dashboard gets them at about that rate, however fast the run
logs. A value that did not change is not written. With several servers over one store,
only the one that leads (``alerts/leader.py``) writes: two writers would each take the
other's values for news and write their own back.

What it remembers is per run and in memory: after a restart the speed starts again from
the next points (a run's last step, for its progress, is read once, with its series list,
when it has a total).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from traindeck.speed import Speed, estimate, observe, resumed
from traindeck.store import TERMINAL_STATUSES, Changes, NotFound, Run, RunProgress, Store

from .alerts.leader import Leadership, SingleServer

log = logging.getLogger("traindeck.server.progress")

#: The prefix of system series (their steps count samples, not training steps).
SYSTEM_PREFIX: Final = "sys/"
#: Runs remembered at most; ended ones are forgotten first (a later change reads them again).
MAX_TRACKED: Final = 20_000

Values = tuple[float | None, float | None, float | None]


@dataclass(slots=True)
class Tracked:
    """What the tracker knows of one run."""

    status: str
    total: int | None
    stored: Values
    step: int | None = None
    step_known: bool = False  # the last step was read from the store or seen in the feed
    speed: Speed | None = None
    written_at: float = float("-inf")
    urgent: bool = True  # write without waiting for min_interval (status or total changed)

    @classmethod
    def of(cls, run: Run) -> Tracked:
        return cls(status=run.status, total=run.total_steps,
                   stored=(run.progress, run.steps_per_s, run.eta_s))

    def values(self) -> Values:
        rate = None if self.speed is None else self.speed.rate
        return estimate(self.status, self.step, self.total, rate)


def training_tops(changes: Changes) -> dict[str, tuple[int, float]]:
    """Per run, the highest ``(step, time)`` of its changed training series."""
    tops: dict[str, tuple[int, float]] = {}
    for s in changes.series:
        if s.key.startswith(SYSTEM_PREFIX) or s.last_step is None or s.last_time is None:
            continue
        top = (s.last_step, s.last_time)
        if s.run_id not in tops or top > tops[s.run_id]:
            tops[s.run_id] = top
    return tops


class ProgressTracker:
    """Made by the app factory and added to its follower (see the module docstring);
    ``clock`` (monotonic seconds) spaces the writes of one run ``min_interval`` apart."""

    def __init__(self, store: Store, *, min_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 leadership: Leadership | None = None) -> None:
        self.store = store
        #: Of several servers over one store, only the leader writes (each follows every
        #: run, so another takes over with speeds already warm).
        self.leadership = leadership or SingleServer()
        self.min_interval = min_interval
        self.clock = clock
        self.runs: dict[str, Tracked] = {}
        self._dirty: set[str] = set()  # runs whose values may have changed
        #: Run rows sent to the store so far (a run deleted meanwhile counts, unwritten).
        self.writes = 0

    async def on_changes(self, changes: Changes) -> None:
        for run_id in changes.deleted_runs:
            self.runs.pop(run_id, None)
            self._dirty.discard(run_id)
        for run in changes.runs:
            self._note_run(run)
        tops = training_tops(changes)
        unknown = [r for r in tops if r not in self.runs]
        if unknown:
            self.runs.update(await asyncio.to_thread(self._read_runs, unknown))
        for run_id, (step, at) in tops.items():
            tracked = self.runs.get(run_id)
            if tracked is None:
                continue  # deleted meanwhile
            tracked.speed = observe(tracked.speed, step, at)
            if tracked.step is None or step > tracked.step:
                tracked.step = step
            tracked.step_known = True
            self._dirty.add(run_id)
        if self._dirty:
            await self._write_due()
        if len(self.runs) > MAX_TRACKED:
            self._forget_ended()

    def _note_run(self, run: Run) -> None:
        tracked = self.runs.get(run.id)
        if tracked is None:
            self.runs[run.id] = Tracked.of(run)
            self._dirty.add(run.id)
            return
        tracked.stored = (run.progress, run.steps_per_s, run.eta_s)
        if run.status != tracked.status or run.total_steps != tracked.total:
            if run.status == "running" and tracked.status != "running":
                tracked.speed = resumed(tracked.speed)  # back from a pause: time away
            tracked.status, tracked.total = run.status, run.total_steps
            tracked.urgent = True
            self._dirty.add(run.id)
        elif tracked.values() != tracked.stored:
            self._dirty.add(run.id)  # written by someone else (an older server, a tool)

    def _read_runs(self, run_ids: list[str]) -> dict[str, Tracked]:
        found = {}
        for run_id in run_ids:
            with contextlib.suppress(NotFound):
                found[run_id] = Tracked.of(self.store.get_run(run_id))
        return found

    def _read_steps(self, run_ids: list[str]) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for run_id in run_ids:
            with contextlib.suppress(NotFound):
                steps = [s.last_step for s in self.store.metric_keys(run_id)
                         if not s.key.startswith(SYSTEM_PREFIX) and s.last_step is not None]
                found[run_id] = max(steps) if steps else None
        return found

    async def _write_due(self) -> None:
        if not self.leadership.is_leader():
            return  # another server writes; what is dirty here waits for a takeover
        now = self.clock()
        due: list[tuple[str, Tracked]] = []
        for run_id in list(self._dirty):
            t = self.runs.get(run_id)
            if t is None:
                self._dirty.discard(run_id)
            elif t.urgent or now - t.written_at >= self.min_interval:
                due.append((run_id, t))
                self._dirty.discard(run_id)
        if not due:
            return
        # A run with a total needs its last step: read once, when the feed has not told it.
        unread = [run_id for run_id, t in due if t.total is not None and not t.step_known]
        if unread:
            for run_id, step in (await asyncio.to_thread(self._read_steps, unread)).items():
                t = self.runs[run_id]
                t.step_known = True
                if step is not None and (t.step is None or step > t.step):
                    t.step = step
        writes: list[tuple[Tracked, RunProgress]] = []
        for run_id, t in due:
            t.urgent = False
            values = t.values()
            if values != t.stored:
                writes.append((t, RunProgress(run_id, *values)))
        if not writes:
            return
        try:
            self.writes += await asyncio.to_thread(self.store.set_progress,
                                                   [w for _, w in writes])
        except Exception:  # busy or away: due again next tick
            log.warning("could not store the progress of %d runs", len(writes), exc_info=True)
            self._dirty.update(w.run_id for _, w in writes)
            return
        for t, w in writes:
            t.stored = (w.progress, w.steps_per_s, w.eta_s)
            t.written_at = now

    def _forget_ended(self) -> None:
        """Forget ended runs (the oldest seen first) until half of :data:`MAX_TRACKED`."""
        for run_id in [r for r, t in self.runs.items()
                       if t.status in TERMINAL_STATUSES and r not in self._dirty]:
            del self.runs[run_id]
            if len(self.runs) <= MAX_TRACKED // 2:
                break
