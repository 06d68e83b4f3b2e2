"""Alert delivery: a listener of the change feed that announces every ``alert`` event.

Whoever wrote the event (the rule evaluator, ``run.alert()`` in a training process, the
wandb shim's ``wandb.alert``), each new event of kind ``alert`` becomes the object
``GET /api/alerts`` lists (with the run's name and project) and is

- sent to every WebSocket client of this server, subscribed or not, as
  ``{"type": "alert", "alert": {...}}``;
- posted to every webhook (the leader only, ``leader.py``), by the background
  :class:`~.webhooks.WebhookSender`.

The evaluator's alerts are taken from it in the tick that wrote them (one follow tick
sooner); the feed brings them again next tick, and those are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from traindeck.store import Changes, Event, NotFound, Store
from traindeck.store.rules import Alert

from ..hub import Hub
from .evaluator import Evaluator
from .leader import Leadership, SingleServer
from .webhooks import WebhookSender

#: Run names and projects remembered (beyond that the memory starts over).
MAX_NAMES: Final = 10_000


class AlertDelivery:
    """Made by the app factory and added to its follower after the evaluator."""

    def __init__(self, store: Store, hub: Hub, sender: WebhookSender, *,
                 leadership: Leadership | None = None,
                 evaluator: Evaluator | None = None) -> None:
        self.store = store
        self.evaluator = evaluator
        self._early: set[int] = set()  # seqs sent before the feed brought them
        self.hub = hub
        self.sender = sender
        self.leadership = leadership or SingleServer()
        self.sent = 0
        self._names: dict[str, tuple[str, str]] = {}  # run id → (name, project)

    async def on_changes(self, changes: Changes) -> None:
        if len(self._names) > MAX_NAMES:
            self._names.clear()
        for run in changes.runs:
            self._names[run.id] = (run.name, run.project)
        for run_id in changes.deleted_runs:
            self._names.pop(run_id, None)
        events = [e for e in changes.events if e.kind == "alert" and e.seq not in self._early]
        self._early.difference_update(e.seq for e in changes.events)
        if self.evaluator is not None:
            fired = self.evaluator.take_fired()
            self._early.update(e.seq for e in fired)
            events += fired
        if not events:
            return
        unknown = {e.run_id for e in events} - self._names.keys()
        if unknown:
            self._names.update(await asyncio.to_thread(self._lookup, unknown))
        leader = self.leadership.is_leader()
        if leader:
            await self.sender.refresh()
        for event in events:
            alert = self.alert(event)
            self.hub.send_all({"type": "alert", "alert": alert})
            self.sent += 1
            if leader:
                self.sender.submit(alert)

    def alert(self, event: Event) -> dict[str, Any]:
        name, project = self._names.get(event.run_id, (event.run_id, ""))
        return Alert(seq=event.seq, run_id=event.run_id, run_name=name, project=project,
                     time=event.time, payload=event.payload).to_dict()

    def _lookup(self, run_ids: set[str]) -> dict[str, tuple[str, str]]:
        found = {}
        for run_id in run_ids:
            with contextlib.suppress(NotFound):
                run = self.store.get_run(run_id)
                found[run_id] = (run.name, run.project)
        return found
