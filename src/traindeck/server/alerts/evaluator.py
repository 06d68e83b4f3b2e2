"""The rule evaluator: a listener of the change feed that turns rules into ``alert`` events.

Cost grows with new points, not with history: each follow tick it learns from the feed
which series changed; every ``eval_interval`` seconds (0.5) it reads only the points after
its cursor for the series some rule watches and that changed since (one store read for
all, ``store.new_points``), and feeds them to one small check per (rule, run, key)
(``kinds.py``). Judging a few ticks' points at once costs much less than judging each
tick's (the cost is mostly per series read, ~40 µs for the chunk holding the newest
points, not per point) for at most 0.5 s of delay.
Nothing scans the store: runs are known from the feed (and, at start, from the list of
live runs).

Time-based kinds (``stall``, ``gpu_idle``) are judged on a timer: the follower's tick is
the clock (as for the reaper), every ``timer_interval`` seconds of the injected ``clock``,
and only over the live runs held in memory. ``heartbeat`` fires on the ``status_change``
event of a run the reaper marked ``interrupted`` for a lost heartbeat.

A firing is written as an event of kind ``alert`` on the run (payload ``{rule_id, kind,
key, severity, title, text, step, value}``), unless the same rule fired on the same run
less than ``cooldown_s`` ago. From there, the event reaches the WebSocket clients and the
webhooks like any alert (``delivery.py``), whoever wrote it (this evaluator or
``run.alert()`` in a training process); the evaluator's own are handed to the delivery in
the same tick (:meth:`Evaluator.take_fired`) rather than one tick later through the feed.

Rules are re-read when ``store.rules_version()`` changes (checked every
``reload_interval`` seconds, and at once after :meth:`Evaluator.invalidate`, which the API
calls), so rules written by the CLI straight into the store are picked up too.

Only the leader evaluates (``leader.py``): one evaluator per store. All work of a tick runs
in one worker thread; :attr:`Evaluator.cpu_s` is that thread's CPU time summed over ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from traindeck.store import LIVE_STATUSES, Changes, Event, NotFound, Run, Store
from traindeck.store.codec import float_out
from traindeck.store.lifecycle import HEARTBEAT_LOST
from traindeck.store.rules import Rule

from .kinds import Check, Hit, StallCheck, make_check
from .leader import Leadership, SingleServer

log = logging.getLogger("traindeck.server.alerts")

#: Most points read per series in one tick (a longer catch-up continues next tick).
READ_LIMIT: Final = 10_000
#: Most live runs read at start (their cursors start at their newest points).
START_RUNS: Final = 10_000
#: Keys that do not count as progress for ``stall`` (the system sampler logs them alone).
SYSTEM_PREFIX: Final = "sys/"

CheckKey = tuple[str, str, str]  # (rule id, run id, key; "" for run-level checks)


@dataclass(slots=True)
class RunState:
    """What the evaluator holds about one live run."""

    id: str
    project: str
    status: str
    born_late: bool  # created after the evaluator started: all its points are news
    cursors: dict[str, int] = field(default_factory=dict)
    rules: list[Rule] | None = None  # the rules that apply (cached until rules change)


class Evaluator:
    """Evaluates every rule on the change feed; made by the app factory, added to its
    follower. ``await start()`` before the first tick (reads the live runs and rules)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time,
                 leadership: Leadership | None = None, timer_interval: float = 1.0,
                 reload_interval: float = 1.0, eval_interval: float = 0.5) -> None:
        self.store = store
        self.clock = clock
        self.leadership = leadership or SingleServer()
        self.timer_interval = timer_interval
        self.reload_interval = reload_interval
        self.eval_interval = eval_interval
        self.rules: list[Rule] = []
        self.version = -1
        self.cpu_s = 0.0  # the worker thread's CPU time over all ticks
        self.ticks = 0
        self.fired = 0
        self.held_back = 0  # firings held back by a cooldown
        #: Alert events written and not yet taken by the delivery (``take_fired``).
        self.fired_events: list[Event] = []
        self.started_at = clock()
        self._runs: dict[str, RunState] = {}
        self._retired: set[str] = set()  # runs that ended while watched
        self._checks: dict[CheckKey, Check] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._globs: dict[str, re.Pattern[str]] = {}
        self._key_rules: dict[tuple[str, str], list[Rule]] = {}
        self._fired_at: dict[tuple[str, str], float] = {}
        self._pending: set[tuple[str, str]] = set()  # series with points to judge
        self._reload = True
        self._last_reload = -float("inf")
        self._last_timer = -float("inf")
        self._last_eval = -float("inf")

    # -- setup ---------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        self.started_at = self.clock()
        runs, _ = self.store.list_runs(status=sorted(LIVE_STATUSES), limit=START_RUNS)
        for run in runs:
            state = self._track(run, born_late=False)
            with contextlib.suppress(NotFound):
                state.cursors = {s.key: s.last_step for s in self.store.metric_keys(run.id)
                                 if s.last_step is not None}
        self._load_rules()

    def invalidate(self) -> None:
        """Rules or webhooks changed: re-read them on the next tick."""
        self._reload = True

    def _load_rules(self) -> None:
        self.version = self.store.rules_version()
        self.rules = self.store.list_rules()
        self._patterns = {r.id: self._compiled(r.key) for r in self.rules
                          if r.key is not None}
        self._key_rules.clear()
        for state in self._runs.values():
            state.rules = None
        ids = {r.id for r in self.rules}
        self._checks = {k: c for k, c in self._checks.items() if k[0] in ids}
        self._fired_at = {k: t for k, t in self._fired_at.items() if k[0] in ids}

    def _compiled(self, glob: str) -> re.Pattern[str]:
        found = self._globs.get(glob)
        if found is None:
            found = self._globs[glob] = re.compile(fnmatch.translate(glob))
        return found

    def _maybe_reload(self, now: float) -> None:
        if not self._reload and now - self._last_reload < self.reload_interval:
            return
        self._reload = False
        self._last_reload = now
        if self.store.rules_version() != self.version:
            self._load_rules()

    # -- runs ----------------------------------------------------------------------------

    def _track(self, run: Run, *, born_late: bool) -> RunState:
        state = RunState(run.id, run.project, run.status, born_late)
        self._runs[run.id] = state
        return state

    def _forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._checks = {k: c for k, c in self._checks.items() if k[1] != run_id}
        self._key_rules = {k: v for k, v in self._key_rules.items() if k[0] != run_id}
        self._pending = {k for k in self._pending if k[0] != run_id}

    def _run(self, run_id: str) -> RunState | None:
        state = self._runs.get(run_id)
        if state is None:
            try:
                run = self.store.get_run(run_id)
            except NotFound:
                return None
            late = run.created_at >= self.started_at and run_id not in self._retired
            state = self._track(run, born_late=late)
        return state

    def _rules_of(self, state: RunState) -> list[Rule]:
        if state.rules is None:
            state.rules = [r for r in self.rules if (r.run_id == state.id) or (
                r.run_id is None and r.project in (None, state.project))]
        return state.rules

    def _metric_rules(self, state: RunState, key: str) -> list[Rule]:
        found = self._key_rules.get((state.id, key))
        if found is None:
            found = [r for r in self._rules_of(state)
                     if r.key is not None and self._patterns[r.id].match(key)]
            self._key_rules[(state.id, key)] = found
        return found

    # -- the feed ------------------------------------------------------------------------

    async def on_changes(self, changes: Changes) -> None:
        if not self.leadership.is_leader():
            return
        await asyncio.to_thread(self.tick, changes)

    def tick(self, changes: Changes) -> None:
        """One tick's work (in a worker thread)."""
        started = time.thread_time()
        try:
            self._tick(changes, self.clock())
        finally:
            self.cpu_s += time.thread_time() - started
            self.ticks += 1

    def _tick(self, changes: Changes, now: float) -> None:
        self._maybe_reload(now)
        for run_id in changes.deleted_runs:
            self._forget(run_id)
        ended: list[str] = []
        for run in changes.runs:
            state = self._runs.get(run.id)
            if state is None:
                if run.status not in LIVE_STATUSES:
                    continue
                state = self._track(run, born_late=run.id not in self._retired
                                    and run.created_at >= self.started_at)
            elif run.status == "running" and state.status != "running":
                self._progressed(state, now)
            state.status, state.project = run.status, run.project
            if run.status not in LIVE_STATUSES:
                ended.append(run.id)
        for event in changes.events:
            if event.kind == "status_change" and event.payload.get("reason") == HEARTBEAT_LOST \
                    and event.payload.get("new_status") == "interrupted":
                self._heartbeat_lost(event.run_id, now)
        self._note(changes, now)
        if self._pending and now - self._last_eval >= self.eval_interval:
            self._last_eval = now
            self._metrics(now)
        if self.rules and now - self._last_timer >= self.timer_interval:
            self._last_timer = now
            self._timer(now)
        for run_id in ended:
            self._forget(run_id)
            self._retired.add(run_id)

    def _note(self, changes: Changes, now: float) -> None:
        """Every tick: progress for ``stall``, and which watched series have new points."""
        if not self.rules:
            return
        for info in changes.series:
            state = self._run(info.run_id)
            if state is None:
                continue
            key = info.key
            if not key.startswith(SYSTEM_PREFIX) and info.last_step is not None \
                    and info.last_step > state.cursors.get("", -(2**63)):
                state.cursors[""] = info.last_step
                self._progressed(state, now)
            if not self._metric_rules(state, key):
                continue
            if key not in state.cursors and not state.born_late \
                    and info.last_step is not None:
                state.cursors[key] = info.last_step - 1  # a run already going: its newest
            self._pending.add((info.run_id, key))

    def _metrics(self, now: float) -> None:
        """Read the new points of the series noted since the last time, feed the checks."""
        reads = [(run_id, key, self._runs[run_id].cursors.get(key))
                 for run_id, key in self._pending if run_id in self._runs]
        self._pending = set()
        if not reads:
            return
        points = self.store.new_points(reads, limit=READ_LIMIT)
        for (run_id, key), (steps, values) in points.items():
            if len(steps) == 0:
                continue
            if len(steps) >= READ_LIMIT:
                self._pending.add((run_id, key))
            state = self._runs.get(run_id)
            if state is None:
                continue
            state.cursors[key] = int(steps[-1])
            for rule in self._metric_rules(state, key):
                check = self._check(rule, run_id, key, now)
                hit = check.feed(steps, values, now)
                if hit is not None:
                    self._fire(rule, run_id, key, hit, now)

    def _check(self, rule: Rule, run_id: str, key: str, now: float) -> Check:
        ck = (rule.id, run_id, key)
        check = self._checks.get(ck)
        if check is None:
            if rule.kind == "stall":
                check = StallCheck(float(rule.params["minutes"]), now)
            else:
                check = make_check(rule.kind, key, rule.params, now)
            self._checks[ck] = check
        return check

    def _progressed(self, state: RunState, now: float) -> None:
        for rule in self._rules_of(state):
            if rule.kind == "stall":
                check = self._check(rule, state.id, "", now)
                assert isinstance(check, StallCheck)
                check.progressed(now)

    def _timer(self, now: float) -> None:
        for state in list(self._runs.values()):
            if state.status != "running":
                continue
            for rule in self._rules_of(state):
                if rule.kind == "stall":
                    self._due(rule, state.id, "", now)
        by_id = {r.id: r for r in self.rules}
        for (rule_id, run_id, key), check in list(self._checks.items()):
            owner = self._runs.get(run_id)
            if key and owner is not None and owner.status == "running":
                hit = check.due(now)
                if hit is not None and rule_id in by_id:
                    self._fire(by_id[rule_id], run_id, key, hit, now)

    def _due(self, rule: Rule, run_id: str, key: str, now: float) -> None:
        hit = self._check(rule, run_id, key, now).due(now)
        if hit is not None:
            self._fire(rule, run_id, None, hit, now)

    def _heartbeat_lost(self, run_id: str, now: float) -> None:
        state = self._run(run_id)
        if state is None:
            return
        for rule in self._rules_of(state):
            if rule.kind == "heartbeat":
                self._fire(rule, run_id, None, Hit(
                    None, None, "heartbeat lost",
                    "no heartbeat within its timeout: the run was marked interrupted"), now)

    # -- firing --------------------------------------------------------------------------

    def _fire(self, rule: Rule, run_id: str, key: str | None, hit: Hit, now: float) -> None:
        last = self._fired_at.get((rule.id, run_id))
        if last is not None and now - last < rule.cooldown_s:
            self.held_back += 1
            return
        self._fired_at[(rule.id, run_id)] = now
        payload: dict[str, Any] = {
            "rule_id": rule.id, "kind": rule.kind, "key": key, "severity": rule.severity,
            "title": hit.title, "text": hit.text, "step": hit.step,
            "value": None if hit.value is None else float_out(hit.value)}
        try:
            seq = self.store.add_event(run_id, "alert", payload)
            self.fired_events.extend(self.store.list_events(run_id, after_seq=seq - 1, limit=1))
        except NotFound:
            return
        except Exception:  # a store busy now: the next episode fires again
            log.exception("writing an alert of rule %s on run %s failed", rule.id, run_id)
            return
        self.fired += 1

    def take_fired(self) -> list[Event]:
        """The alert events written since the last call: the delivery sends them in the
        same tick instead of waiting for the feed to bring them back."""
        out, self.fired_events = self.fired_events, []
        return out

    def stats(self) -> dict[str, Any]:
        return {"rules": len(self.rules), "live_runs": len(self._runs), "ticks": self.ticks,
                "cpu_s": self.cpu_s, "fired": self.fired, "held_back": self.held_back,
                "checks": len(self._checks)}
