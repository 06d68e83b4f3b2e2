"""The live hub: pushes what the change feed brings to WebSocket subscribers.

This docstring is the reference of the live protocol (``/ws``); ``protocol.py`` has the
exact message models and ``docs/api.md`` a summary.

The hub is one listener of the change feed (``feed.py``): every tick of the follower it
gets what changed (runs, series, events, commands, deleted runs, runs with new console
lines), reads the new points of every changed series that someone watches with
``read_points_many`` (``after_step=…`` each; a live client one point behind gets that
point from the feed itself, without a read: see ``Hub._newest_only``) and the new console
lines with ``read_log_lines(after_seq=…)``, and fans the result out. Reaping runs whose
heartbeat stopped is another listener (``reaper.py``); its status changes reach clients
like any other change.

Messages are JSON text frames, one object each, with a ``type``.

Client → server
---------------
- ``{"type": "subscribe", "run_id": ID}`` or ``{"type": "subscribe", "project": NAME}``,
  optionally with a cursor
  ``"since": {"event_seq": N, "steps": {"loss": 120, ...}, "log_seq": M}``.
- ``{"type": "unsubscribe", "run_id": ID}`` (or ``"project"``).
- ``{"type": "ping", "id": ANY}`` → ``{"type": "pong", "id": ANY}``.

Server → client
---------------
- ``subscribed {run_id|project, cursor: {event_seq, steps: {key: last_step}, log_seq}}``:
  the ack; its cursor is where the store was when the subscription began (``log_seq``: the
  run's last console line then; ``null`` for a project).
- ``metric_update {run_id, points: {key: [[step, time, value], ...]}}`` (run subscriptions
  only): new points, by step; ``value`` is a number or ``"NaN"``/``"Infinity"``/
  ``"-Infinity"``. **Coalesced**: at most one per run per follow tick, whatever the rate of
  logging. Live updates carry the points whose step is above the last step sent for that
  key; points written later at a lower step (a backfill) are not pushed: read them over REST.
- ``log {run_id, lines: [{seq, time, stream, text}, ...]}`` (run subscriptions only): new
  console lines (``stream`` is ``stdout`` or ``stderr``; secrets redacted by the SDK), by
  ``seq`` (1, 2, 3, … per run). **Coalesced**: at most one per run per follow tick (a
  long catch-up: ``LOG_PAGE`` lines per tick).
- ``status_change {run_id, seq, old_status, new_status, reason?}``.
- ``event {event: {seq, run_id, time, kind, payload}}``: every event of the run(s), in
  ``seq`` order (status changes and command transitions included).
- ``command_update {command}``: a command was created or changed state.
- ``checkpoint_saved {run_id, seq, checkpoint}``: from events of kind ``checkpoint_saved``.
- ``run_update {run}``: a run was created or changed (name, tags, notes, summary, status).
- ``run_deleted {run_id}``.
- ``error {code, message}``: a bad client message (the connection stays), or
  ``too_slow`` just before the server closes a client that does not read (see below).
- ``unsubscribed {run_id|project}``, ``pong {id}``.

A **project** subscription gets the run-level messages (``run_update``, ``status_change``,
``event``, ``command_update``, ``checkpoint_saved``, ``run_deleted``) of every run of the
project, including runs created later, but no metric points and no console lines: charts
and the console panel subscribe per run. An image a run logs arrives as an ``event`` of
kind ``media_logged`` (payload ``{id, key, step, caption, kind}``; the file is at
``/api/media/{id}/file``).

Cursors: no holes, no duplicates
--------------------------------
Without ``since`` nothing historic is sent: the client reads REST first, then subscribes,
and gets what comes after the ack's cursor. With ``since``, the server first sends what
the client missed: for every key of the run, the points with step above the cursor's step
for that key (every point of a key the cursor does not name), and the run's events with
``seq`` above ``event_seq`` (without ``event_seq``: none), and the run's console lines
with ``seq`` above ``log_seq`` (without ``log_seq``: none). Then live updates follow with
no point, event or line sent twice. A client that reconnects therefore sends, per key, the
last step it holds, the last event ``seq`` it saw and the last console line ``seq`` it has.
Long catch-ups arrive over several messages (``ws_max_points_per_read`` points per key per
tick, ``LOG_PAGE`` lines per run per tick).

Slow clients
------------
Each connection's outgoing queue is bounded in bytes (``ws_max_queue_bytes``, see
``clients.py``). A client that lets it fill is sent ``error {code: "too_slow"}`` and
closed (code 1013); it should reconnect with a cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any, Final

import orjson

from traindeck.store import (
    Changes,
    Command,
    Event,
    LogLine,
    NotFound,
    Points,
    Run,
    SeriesChange,
    Store,
)
from traindeck.store.codec import dumps, float_out

from .clients import ALL_PROJECTS, Client, Subscription
from .protocol import Triple, event_messages, point_triples

#: Events read per query when catching a subscriber up.
EVENT_PAGE: Final = 1000
#: Console lines read per run and cursor in one follow tick.
LOG_PAGE: Final = 5000
#: Most events a project catch-up reads (a project cursor is a convenience, not an archive).
PROJECT_CATCHUP_MAX: Final = 10_000

SeriesKey = tuple[str, str]  # (run_id, key)
ReadKey = tuple[str, str, int | None]  # (run_id, key, after_step)

__all__ = ["ALL_PROJECTS", "Client", "Hub", "Subscription"]


def _read_order(read: ReadKey) -> tuple[str, str, int]:
    return read[0], read[1], -1 if read[2] is None else read[2]


class Hub:
    """Serves any number of WebSocket clients; a listener of the change feed.

    Made by the app factory and added to its :class:`~traindeck.server.feed.Follower`.
    ``start_event_seq`` is where the feed starts (events up to it are not news); the
    follower's ``tick()`` calls :meth:`on_changes`.
    """

    def __init__(
        self,
        store: Store,
        *,
        start_event_seq: int = 0,
        max_points_per_read: int = 50_000,
    ) -> None:
        self.store = store
        self.max_points_per_read = max_points_per_read
        self.clients: set[Client] = set()
        #: Events up to this one have been handed to the hub (sent, or not news).
        self.event_seq = start_event_seq
        self._lock = asyncio.Lock()
        self._dirty: set[SeriesKey] = set()
        self._log_dirty: set[str] = set()  # runs with console lines still to send
        self._projects: dict[str, str] = {}
        #: Each watched series as the feed last reported it: run id → key →
        #: (points written, newest step); see :meth:`_newest_only`.
        self._heads: dict[str, dict[str, tuple[int, int | None]]] = {}

    def close(self) -> None:
        """Drop every client (the server is shutting down)."""
        for client in list(self.clients):
            client.drop("shutting_down")
        self.clients.clear()

    # -- clients -------------------------------------------------------------------

    def send_all(self, message: dict[str, Any]) -> None:
        """One message to every connected client, subscribed or not (``alert``)."""
        data = dumps(message)
        for client in list(self.clients):
            client.send(data)

    def connect(self, *, max_queue_bytes: int, max_subscriptions: int) -> Client:
        client = Client(max_queue_bytes=max_queue_bytes, max_subscriptions=max_subscriptions)
        self.clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self.clients.discard(client)
        client.drop("closed")

    async def subscribe(
        self,
        client: Client,
        *,
        run_id: str | None = None,
        project: str | None = None,
        event_seq: int | None = None,
        steps: dict[str, int] | None = None,
        log_seq: int | None = None,
    ) -> None:
        """Add a subscription, send the ack, and (with a cursor) what the client missed.

        Holds the hub's lock, so the catch-up meets the live stream with no gap and no
        overlap. Raises ``NotFound`` for an unknown run.
        """
        async with self._lock:
            if run_id is not None:
                await self._subscribe_run(client, run_id, event_seq, steps, log_seq)
            elif project is not None:
                await self._subscribe_project(client, project, event_seq)

    async def _subscribe_run(self, client: Client, run_id: str, event_seq: int | None,
                             steps: dict[str, int] | None, log_seq: int | None) -> None:
        def read() -> tuple[Run, dict[str, int], int, int]:
            run = self.store.get_run(run_id)
            last = {key: step for key, (step, _, _) in self.store.latest(run_id).items()}
            return run, last, self.store.current_seq()[1], self.store.last_log_seq(run_id)

        run, last, store_event_seq, last_line = await asyncio.to_thread(read)
        self._projects[run.id] = run.project
        sub = Subscription(run_id=run_id, project=None)
        if event_seq is not None or steps is not None:
            sub.steps = dict(steps or {})
            for key, top in last.items():
                if sub.steps.get(key, -(2**63)) < top:
                    self._dirty.add((run_id, key))
        else:
            sub.steps = dict(last)
        if log_seq is not None:
            # Lines above the cursor go out with the next tick, then live ones after them.
            sub.log_seq = log_seq
            if log_seq < last_line:
                self._log_dirty.add(run_id)
        else:
            sub.log_seq = last_line
        self._add(client, sub, event_seq, store_event_seq, last, last_line)
        if event_seq is not None:
            for event in await asyncio.to_thread(self._events_between, [run_id], event_seq):
                for msg in event_messages(event):
                    client.send_obj(msg)

    def _add(self, client: Client, sub: Subscription, event_seq: int | None,
             store_event_seq: int, last: dict[str, int], log_seq: int | None = None) -> None:
        """Register ``sub`` and send the ack. Without an event cursor, events start after the
        store's newest one; with one, the catch-up covers up to ``self.event_seq`` and live
        events follow (a cursor ahead of the hub is taken at its word: nothing is resent)."""
        sub.event_seq = max(self.event_seq, store_event_seq if event_seq is None else event_seq)
        target: dict[str, str]
        if sub.run_id is not None:
            client.runs[sub.run_id] = sub
            target = {"run_id": sub.run_id}
        else:
            assert sub.project is not None
            client.projects[sub.project] = sub
            target = {"project": sub.project}
        client.send_obj({"type": "subscribed", **target,
                         "cursor": {"event_seq": sub.event_seq, "steps": last,
                                    "log_seq": log_seq}})

    async def _subscribe_project(self, client: Client, project: str,
                                 event_seq: int | None) -> None:
        store_event_seq = (await asyncio.to_thread(self.store.current_seq))[1]
        sub = Subscription(run_id=None, project=project)
        self._add(client, sub, event_seq, store_event_seq, {})
        if event_seq is None:
            return

        def events() -> list[Event]:
            runs, _ = self.store.list_runs(
                project=None if project == ALL_PROJECTS else project, limit=PROJECT_CATCHUP_MAX)
            for run in runs:
                self._projects[run.id] = run.project
            found = self._events_between([r.id for r in runs], event_seq)
            found.sort(key=lambda e: e.seq)
            return found[:PROJECT_CATCHUP_MAX]

        for event in await asyncio.to_thread(events):
            for msg in event_messages(event):
                client.send_obj(msg)

    def _events_between(self, run_ids: Iterable[str], after: int) -> list[Event]:
        """Events of the runs with ``after < seq <= self.event_seq`` (runs in a thread)."""
        out: list[Event] = []
        for run_id in run_ids:
            cursor = after
            while cursor < self.event_seq:
                try:
                    page = self.store.list_events(run_id, after_seq=cursor, limit=EVENT_PAGE)
                except NotFound:
                    break
                out.extend(e for e in page if e.seq <= self.event_seq)
                if len(page) < EVENT_PAGE:
                    break
                cursor = page[-1].seq
        return out

    def unsubscribe(self, client: Client, *, run_id: str | None = None,
                    project: str | None = None) -> bool:
        if run_id is not None:
            return client.runs.pop(run_id, None) is not None
        if project is not None:
            return client.projects.pop(project, None) is not None
        return False

    # -- following -----------------------------------------------------------------

    async def on_changes(self, changes: Changes) -> None:
        """One tick of the feed: send what changed to the clients that watch it."""
        async with self._lock:
            if self.clients:
                await self._fan_out(changes)
            else:
                self._dirty.clear()
                self._log_dirty.clear()
                self._heads.clear()
            if changes.events:
                self.event_seq = max(self.event_seq, changes.events[-1].seq)
            for run_id in changes.deleted_runs:
                self._projects.pop(run_id, None)

    async def _fan_out(self, changes: Changes) -> None:
        for run_id in changes.deleted_runs:
            # A run made again under the same id starts from step 0: forget the cursors
            # (before sending points: the new run's may be in this very batch).
            for client in self.clients:
                if (sub := client.runs.get(run_id)) is not None:
                    sub.steps.clear()
                    sub.log_seq = 0
            self._dirty = {rk for rk in self._dirty if rk[0] != run_id}
            self._log_dirty.discard(run_id)
            self._heads.pop(run_id, None)
            self._broadcast(run_id, {"type": "run_deleted", "run_id": run_id},
                            project=self._projects.get(run_id))
        for run in changes.runs:
            self._projects[run.id] = run.project
        unknown = {e.run_id for e in changes.events} | {c.run_id for c in changes.commands}
        unknown -= self._projects.keys()
        if unknown:
            self._projects.update(await asyncio.to_thread(self._lookup_projects, unknown))
        await self._send_points(changes)
        await self._send_logs(changes)
        for run in changes.runs:
            self._broadcast(run.id, {"type": "run_update", "run": run.to_dict()})
        for event in changes.events:
            self._send_event(event)
        for command in changes.commands:
            self._send_command(command)

    def _lookup_projects(self, run_ids: Iterable[str]) -> dict[str, str]:
        found = {}
        for run_id in run_ids:
            with contextlib.suppress(NotFound):
                found[run_id] = self.store.get_run(run_id).project
        return found

    def _broadcast(self, run_id: str, message: dict[str, Any], *,
                   project: str | None = None) -> None:
        data: bytes | None = None
        project = project or self._projects.get(run_id)
        for client in list(self.clients):
            if client.watchers(run_id, project):
                data = data or dumps(message)
                client.send(data)

    def _send_event(self, event: Event) -> None:
        project = self._projects.get(event.run_id)
        encoded: list[bytes] | None = None
        for client in list(self.clients):
            due = [s for s in client.watchers(event.run_id, project) if event.seq > s.event_seq]
            if not due:
                continue
            for sub in due:
                sub.event_seq = event.seq
            encoded = encoded or [dumps(m) for m in event_messages(event)]
            for data in encoded:
                client.send(data)

    def _send_command(self, command: Command) -> None:
        self._broadcast(command.run_id, {"type": "command_update", "command": command.to_dict()})

    async def _send_points(self, changes: Changes) -> None:
        """New points of the changed series, one ``metric_update`` per client and run.

        One read per series and distinct cursor: clients that are live share a cursor (and
        the encoded message); one catching up reads on its own and delays no one else. A
        live cursor one point behind needs no read at all (:meth:`_newest_only`).
        """
        keys_of: dict[str, list[str]] = {}
        for run_id, key in sorted({(s.run_id, s.key) for s in changes.series} | self._dirty):
            keys_of.setdefault(run_id, []).append(key)
        self._dirty = set()
        reads = {(run_id, key, sub.steps.get(key))
                 for client in self.clients for run_id, sub in client.runs.items()
                 for key in keys_of.get(run_id, ())}
        # per read: the newest step it found and its points as JSON triples
        found: dict[ReadKey, tuple[int, list[Triple]]] = self._newest_only(reads, changes.series)
        self._remember(changes.series)
        if rest := reads - found.keys():
            for rk, p in (await asyncio.to_thread(self._read_points, rest)).items():
                if len(p) >= self.max_points_per_read:
                    self._dirty.add((rk[0], rk[1]))  # more to come: continue next tick
                if len(p):
                    found[rk] = (int(p.steps[-1]), point_triples(p))
        if not found:
            return
        encoded: dict[tuple[str, tuple[ReadKey, ...]], bytes] = {}
        for client in list(self.clients):
            for run_id, sub in client.runs.items():
                mine = tuple(rk for rk in ((run_id, key, sub.steps.get(key))
                                           for key in keys_of.get(run_id, ())) if rk in found)
                if not mine:
                    continue
                for rk in mine:
                    sub.steps[rk[1]] = found[rk][0]
                data = encoded.get((run_id, mine))
                if data is None:
                    data = orjson.dumps({"type": "metric_update", "run_id": run_id,
                                         "points": {rk[1]: found[rk][1] for rk in mine}})
                    encoded[(run_id, mine)] = data
                client.send(data)

    def _newest_only(self, reads: set[ReadKey], series: list[SeriesChange]
                     ) -> dict[ReadKey, tuple[int, list[Triple]]]:
        """The reads the feed answers by itself. A series the hub last saw with ``n``
        points written and newest step ``s``, that now has ``n + 1`` and a newer step, has
        one point above ``s``: its newest, which the feed carries. A client whose cursor
        is ``s`` (a live one) gets that point without a read of the store. Anything else
        (several points, a backfill, a cursor elsewhere, a series not seen before) is read.
        """
        out: dict[ReadKey, tuple[int, list[Triple]]] = {}
        if not self._heads:
            return out
        now = {(s.run_id, s.key): s for s in series}
        for read in reads:
            run_id, key, after = read
            change = now.get((run_id, key))
            seen = self._heads.get(run_id, {}).get(key)
            if (change is None or seen is None or after is None or seen[1] != after
                    or change.written != seen[0] + 1 or change.last_step is None
                    or change.last_time is None or change.last_value is None
                    or change.last_step <= after):
                continue
            # the one point as the message carries it (no arrays to build and take apart)
            out[read] = (change.last_step, [(change.last_step, change.last_time,
                                             float_out(change.last_value))])
        return out

    def _remember(self, series: list[SeriesChange]) -> None:
        """Note where the feed says each series of a watched run is (and forget runs no
        one watches any more)."""
        watched = {run_id for client in self.clients for run_id in client.runs}
        for change in series:
            if change.run_id in watched:
                self._heads.setdefault(change.run_id, {})[change.key] = (
                    change.written, change.last_step)
        for run_id in self._heads.keys() - watched:
            del self._heads[run_id]

    def _read_points(self, reads: set[ReadKey]) -> dict[ReadKey, Points]:
        # one snapshot for the tick's reads; series deleted meanwhile are left out
        return self.store.read_points_many(sorted(reads, key=_read_order),
                                           limit=self.max_points_per_read)

    async def _send_logs(self, changes: Changes) -> None:
        """New console lines of the changed runs, one ``log`` message per client and run.

        One read per run and distinct cursor (live clients share theirs, and the encoded
        message); a full page leaves the run marked, to continue next tick."""
        runs = set(changes.logs) | self._log_dirty
        self._log_dirty = set()
        if not runs:
            return
        reads: set[tuple[str, int]] = set()
        for client in self.clients:
            for run_id, sub in client.runs.items():
                if run_id in runs and sub.log_seq < changes.logs.get(run_id, 2**63 - 1):
                    reads.add((run_id, sub.log_seq))
        if not reads:
            return
        found = await asyncio.to_thread(self._read_lines, reads)
        encoded: dict[tuple[str, int], bytes] = {}
        for (run_id, after), lines in found.items():
            if len(lines) >= LOG_PAGE:
                self._log_dirty.add(run_id)
            if lines:
                encoded[(run_id, after)] = dumps({
                    "type": "log", "run_id": run_id,
                    "lines": [line.to_dict() for line in lines]})
        for client in list(self.clients):
            for run_id, sub in client.runs.items():
                rk = (run_id, sub.log_seq)
                data = encoded.get(rk)
                if data is None:
                    continue
                sub.log_seq = found[rk][-1].seq
                client.send(data)

    def _read_lines(self, reads: set[tuple[str, int]]) -> dict[tuple[str, int], list[LogLine]]:
        out = {}
        for run_id, after in reads:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                out[(run_id, after)] = self.store.read_log_lines(run_id, after_seq=after,
                                                                 limit=LOG_PAGE)
        return out
