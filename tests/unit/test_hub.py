"""The live hub over a real store, driven tick by tick (no background tasks, no sockets).

Each test writes with a second store on the same file (as a training process would), calls
``hub.tick()`` and reads what the hub queued for its clients.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from support import MakeStore

from traindeck.server.feed import Follower
from traindeck.server.hub import Client, Hub
from traindeck.server.protocol import SERVER_MESSAGE
from traindeck.store import NotFound, Store


@pytest.fixture
def writer(store: Store, make_store: MakeStore) -> Store:
    """Another connection to the same store: what a training process holds."""
    return make_store()


@pytest.fixture
async def follower(store: Store) -> Follower:
    f = Follower(store)
    await f.start(background=False)  # the test calls tick()
    return f


@pytest.fixture
async def hub(store: Store, follower: Follower) -> AsyncIterator[Hub]:
    h = Hub(store, start_event_seq=follower.event_seq, max_points_per_read=1000)
    follower.add_listener(h)
    yield h
    h.close()


def connect(hub: Hub, max_queue_bytes: int = 1 << 20) -> Client:
    return hub.connect(max_queue_bytes=max_queue_bytes, max_subscriptions=8)


def received(client: Client) -> list[dict[str, Any]]:
    out = []
    for data in client.ready():
        msg = orjson.loads(data)
        SERVER_MESSAGE.validate_python(msg)
        out.append(msg)
    return out


def points(messages: list[dict[str, Any]], run_id: str, key: str) -> list[list[Any]]:
    return [p for m in messages if m["type"] == "metric_update" and m["run_id"] == run_id
            for p in m["points"].get(key, [])]


def log(w: Store, run_id: str, key: str, steps: range, value: float | None = None) -> None:
    w.write_metrics(run_id, {key: (list(steps), [float(s) for s in steps],
                                   [float(s) if value is None else value for s in steps])})


async def test_many_writes_in_one_tick_make_one_message(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    [ack] = received(client)
    assert ack == {"type": "subscribed", "run_id": "r1",
                   "cursor": {"event_seq": writer.current_seq()[1], "steps": {}, "log_seq": 0}}
    for i in range(100):  # 100 commits of 10 points: a fast logger between two ticks
        log(writer, "r1", "loss", range(10 * i, 10 * i + 10))
        log(writer, "r1", "acc", range(i, i + 1))
    await follower.tick()
    updates = [m for m in received(client) if m["type"] == "metric_update"]
    assert len(updates) == 1
    assert [p[0] for p in updates[0]["points"]["loss"]] == list(range(1000))
    assert [p[0] for p in updates[0]["points"]["acc"]] == list(range(100))
    await follower.tick()
    assert received(client) == []


async def test_values_and_non_finite_spellings(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    writer.write_metrics("r1", {"loss": ([0, 1, 2, 3], [10.0, 11.0, 12.0, 13.0],
                                         [0.5, math.nan, math.inf, -math.inf])})
    await follower.tick()
    assert points(received(client), "r1", "loss") == [
        [0, 10.0, 0.5], [1, 11.0, "NaN"], [2, 12.0, "Infinity"], [3, 13.0, "-Infinity"]]


async def test_subscribe_without_cursor_sends_only_what_comes_after(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(50))
    await follower.tick()
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    [ack] = received(client)
    assert ack["cursor"]["steps"] == {"loss": 49}
    log(writer, "r1", "loss", range(50, 60))
    await follower.tick()
    assert [p[0] for p in points(received(client), "r1", "loss")] == list(range(50, 60))


async def test_cursor_catch_up_has_no_holes_and_no_duplicates(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(2500))   # more than one read (max_points_per_read=1000)
    log(writer, "r1", "lr", range(5))
    writer.add_event("r1", "note", {"n": 1})
    await follower.tick()
    first_event = writer.list_events("r1")[0].seq

    client = connect(hub)
    await hub.subscribe(client, run_id="r1", event_seq=first_event, steps={"loss": 1999})
    msgs = received(client)
    assert msgs[0]["type"] == "subscribed"
    assert [m["event"]["kind"] for m in msgs if m["type"] == "event"] == ["note"]
    got: list[list[Any]] = []
    lr: list[list[Any]] = []
    for _ in range(5):   # live writes land while the catch-up is still going
        log(writer, "r1", "loss", range(2500 + 10 * _, 2510 + 10 * _))
        await follower.tick()
        batch = received(client)
        got += points(batch, "r1", "loss")
        lr += points(batch, "r1", "lr")
    assert [p[0] for p in got] == list(range(2000, 2550))
    assert [p[0] for p in lr] == list(range(5))   # a key the cursor did not name: all of it


async def test_long_history_for_a_new_subscriber_arrives_in_pieces(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(3500))
    client = connect(hub)
    await hub.subscribe(client, run_id="r1", steps={})
    sizes = []
    for _ in range(6):
        await follower.tick()
        sizes += [len(m["points"]["loss"]) for m in received(client)
                  if m["type"] == "metric_update"]
    assert sizes == [1000, 1000, 1000, 500]


async def test_two_clients_at_different_cursors(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(10))
    a, b = connect(hub), connect(hub)
    await hub.subscribe(a, run_id="r1", steps={"loss": 4})
    await hub.subscribe(b, run_id="r1")
    log(writer, "r1", "loss", range(10, 12))
    await follower.tick()
    assert [p[0] for p in points(received(a), "r1", "loss")] == list(range(5, 12))
    assert [p[0] for p in points(received(b), "r1", "loss")] == [10, 11]


async def test_status_events_commands_and_run_updates(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    received(client)
    cmd = writer.create_command("r1", "validate", {"x": 1})
    writer.set_status("r1", "completed")
    await follower.tick()
    msgs = received(client)
    kinds = [m["type"] for m in msgs]
    assert "run_update" in kinds
    [change] = [m for m in msgs if m["type"] == "status_change"]
    assert (change["old_status"], change["new_status"]) == ("running", "completed")
    updates = [m["command"] for m in msgs if m["type"] == "command_update"]
    assert updates[-1]["id"] == cmd.id and updates[-1]["status"] == "expired"
    events = [m["event"] for m in msgs if m["type"] == "event"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    # The command issued, the status change, and the command expired by it.
    assert [e["kind"] for e in events] == ["command", "status_change", "command"]


async def test_project_subscription_sees_new_runs_but_no_points(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    client = connect(hub)
    await hub.subscribe(client, project="p")
    received(client)
    writer.create_run(project="p", id="mine")
    writer.create_run(project="q", id="other")
    log(writer, "mine", "loss", range(3))
    await follower.tick()
    msgs = received(client)
    assert {m["run"]["id"] for m in msgs if m["type"] == "run_update"} == {"mine"}
    assert [m["run_id"] for m in msgs if m["type"] == "status_change"] == ["mine"]
    assert not [m for m in msgs if m["type"] == "metric_update"]

    writer.set_status("mine", "completed")
    writer.delete_run("mine")
    await follower.tick()
    assert {"type": "run_deleted", "run_id": "mine"} in received(client)


async def test_project_cursor_replays_events(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="a")
    writer.create_run(project="q", id="b")
    writer.set_status("a", "completed")
    await follower.tick()
    client = connect(hub)
    await hub.subscribe(client, project="p", event_seq=0)
    events = [m["event"] for m in received(client) if m["type"] == "event"]
    assert [(e["run_id"], e["payload"]["new_status"]) for e in events] == [
        ("a", "running"), ("a", "completed")]


async def test_unknown_run(hub: Hub) -> None:
    with pytest.raises(NotFound):
        await hub.subscribe(connect(hub), run_id="nope")


async def test_unsubscribe_stops_updates(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    assert hub.unsubscribe(client, run_id="r1")
    log(writer, "r1", "loss", range(3))
    await follower.tick()
    assert received(client) == [{"type": "subscribed", "run_id": "r1",
                                 "cursor": {"event_seq": 1, "steps": {}, "log_seq": 0}}]


async def test_a_slow_client_is_dropped_not_buffered(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    slow = connect(hub, max_queue_bytes=4096)
    fast = connect(hub)
    await hub.subscribe(slow, run_id="r1")
    await hub.subscribe(fast, run_id="r1")
    for i in range(5):
        log(writer, "r1", "loss", range(100 * i, 100 * i + 100))
        await follower.tick()
        received(fast)
    assert slow.dropped == "too_slow"
    assert slow.queued_bytes <= 4096
    while await slow.next() is not None:  # what was queued, then the drop marker
        pass
    log(writer, "r1", "loss", range(500, 510))
    await follower.tick()
    assert [p[0] for p in points(received(fast), "r1", "loss")] == list(range(500, 510))


async def test_a_client_catching_up_does_not_delay_live_ones(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(5000))
    live = connect(hub)
    await hub.subscribe(live, run_id="r1")
    late = connect(hub)
    await hub.subscribe(late, run_id="r1", steps={"loss": -1})
    log(writer, "r1", "loss", range(5000, 5003))
    await follower.tick()
    assert [p[0] for p in points(received(live), "r1", "loss")] == [5000, 5001, 5002]
    assert [p[0] for p in points(received(late), "r1", "loss")] == list(range(1000))


async def test_a_run_deleted_and_made_again_under_its_id_is_followed_from_step_0(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="again")
    log(writer, "again", "loss", range(100))
    await follower.tick()
    client = connect(hub)
    await hub.subscribe(client, run_id="again")
    received(client)
    writer.set_status("again", "completed")
    writer.delete_run("again")
    writer.create_run(project="p", id="again")
    log(writer, "again", "loss", range(50))
    await follower.tick()
    msgs = received(client)
    assert "run_deleted" in [m["type"] for m in msgs]
    assert [p[0] for p in points(msgs, "again", "loss")] == list(range(50))


class CountingReads:
    """The real store, with a count of the hub's reads of points (every other call goes
    straight through)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads: list[int] = []  # how many series each read asked for

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def read_points_many(self, reads: Any, **kw: Any) -> Any:
        self.reads.append(len(reads))
        return self._store.read_points_many(reads, **kw)


async def test_a_live_client_one_point_behind_gets_it_from_the_feed_without_a_read(
    store: Store, follower: Follower, writer: Store
) -> None:
    counted = CountingReads(store)
    hub = Hub(counted, start_event_seq=follower.event_seq)  # type: ignore[arg-type]
    follower.add_listener(hub)
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(3))
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    received(client)
    got: list[list[Any]] = []
    values = [0.5, math.nan, math.inf, 0.25, -1.0]
    for i, value in enumerate(values):  # a run logging slower than the feed ticks
        writer.write_metrics("r1", {"loss": ([3 + i], [100.0 + i], [value]),
                                    "acc": ([3 + i], [100.0 + i], [float(i)])})
        await follower.tick()
        msgs = received(client)
        got += points(msgs, "r1", "loss")
        assert points(msgs, "r1", "acc") == [[3 + i, 100.0 + i, float(i)]]
    assert got == [[3, 100.0, 0.5], [4, 101.0, "NaN"], [5, 102.0, "Infinity"],
                   [6, 103.0, 0.25], [7, 104.0, -1.0]]
    # the first tick read (the hub had not seen the series yet), the others did not
    assert counted.reads == [2]
    hub.close()


async def test_what_the_feed_cannot_answer_alone_is_read(
    follower: Follower, hub: Hub, writer: Store
) -> None:
    writer.create_run(project="p", id="r1")
    log(writer, "r1", "loss", range(0, 30, 10))  # 0, 10, 20
    client = connect(hub)
    await hub.subscribe(client, run_id="r1")
    received(client)
    log(writer, "r1", "loss", range(30, 31))
    await follower.tick()  # the hub sees the series for the first time: read
    assert [p[0] for p in points(received(client), "r1", "loss")] == [30]
    log(writer, "r1", "loss", range(40, 41))
    log(writer, "r1", "loss", range(35, 36))  # a backfill above the client's cursor (30)
    await follower.tick()
    assert [p[0] for p in points(received(client), "r1", "loss")] == [35, 40]
    log(writer, "r1", "loss", range(50, 52))  # two points in one tick
    await follower.tick()
    assert [p[0] for p in points(received(client), "r1", "loss")] == [50, 51]
    log(writer, "r1", "loss", range(51, 52), value=7.0)  # the newest rewritten: not news
    await follower.tick()
    assert points(received(client), "r1", "loss") == []
    log(writer, "r1", "loss", range(52, 53))
    await follower.tick()
    assert points(received(client), "r1", "loss") == [[52, 52.0, 52.0]]
    # a second client subscribing now starts at 52 and shares the next point
    late = connect(hub)
    await hub.subscribe(late, run_id="r1")
    received(late)
    log(writer, "r1", "loss", range(53, 54))
    await follower.tick()
    assert points(received(client), "r1", "loss") == [[53, 53.0, 53.0]]
    assert points(received(late), "r1", "loss") == [[53, 53.0, 53.0]]
