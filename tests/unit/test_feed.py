"""The change feed and its listeners over a real store, driven tick by tick.

A training process is a second store on the same file; time is an injected clock, so a lost
heartbeat or a server restart is a clock jump, not a sleep.
"""

from __future__ import annotations

import pytest
from support import MakeStore

from traindeck.server.feed import Follower, Listener
from traindeck.server.hub import Hub
from traindeck.server.reaper import Reaper
from traindeck.store import Changes, Store


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A listener that keeps what it was told (a rules engine or launcher would act)."""

    def __init__(self) -> None:
        self.changes: list[Changes] = []

    async def on_changes(self, changes: Changes) -> None:
        self.changes.append(changes)

    def run_ids(self) -> list[str]:
        return [r.id for c in self.changes for r in c.runs]


class Broken:
    async def on_changes(self, changes: Changes) -> None:
        raise RuntimeError("a listener with a bug")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server_store(make_store: MakeStore, clock: FakeClock) -> Store:
    return make_store(clock=clock)


@pytest.fixture
def writer(server_store: Store, make_store: MakeStore, clock: FakeClock) -> Store:
    """What a training process holds: its own connection to the same store."""
    return make_store(clock=clock)


async def test_a_listener_sees_every_change_with_no_websocket_client(
    server_store: Store, writer: Store
) -> None:
    follower = Follower(server_store)
    await follower.start(background=False)
    hub = Hub(server_store, start_event_seq=follower.event_seq)
    recorder = Recorder()
    follower.add_listener(hub)
    follower.add_listener(recorder)
    assert isinstance(recorder, Listener)
    assert hub.clients == set()  # no browser anywhere
    writer.create_run(project="p", id="r1")
    writer.write_metrics("r1", {"loss": ([0, 1], [1.0, 2.0], [0.5, 0.4])})
    await follower.tick()
    writer.set_status("r1", "completed")
    await follower.tick()
    assert recorder.run_ids() == ["r1", "r1"]
    assert [s.key for c in recorder.changes for s in c.series] == ["loss"]
    statuses = [e.payload.get("new_status") for c in recorder.changes for e in c.events
                if e.kind == "status_change"]
    assert statuses == ["running", "completed"]


async def test_what_was_there_before_the_follower_started_is_not_news(
    server_store: Store, writer: Store
) -> None:
    writer.create_run(project="p", id="old")
    follower = Follower(server_store)
    await follower.start(background=False)
    recorder = Recorder()
    follower.add_listener(recorder)
    writer.create_run(project="p", id="new")
    await follower.tick()
    assert recorder.run_ids() == ["new"]


async def test_a_failing_listener_does_not_stop_the_others_or_the_feed(
    server_store: Store, writer: Store
) -> None:
    follower = Follower(server_store)
    await follower.start(background=False)
    recorder = Recorder()
    follower.add_listener(Broken())
    follower.add_listener(recorder)
    writer.create_run(project="p", id="r1")
    await follower.tick()
    writer.create_run(project="p", id="r2")
    await follower.tick()
    assert recorder.run_ids() == ["r1", "r2"]


async def test_a_removed_listener_hears_nothing_more(
    server_store: Store, writer: Store
) -> None:
    follower = Follower(server_store)
    await follower.start(background=False)
    recorder = Recorder()
    follower.add_listener(recorder)
    follower.remove_listener(recorder)
    writer.create_run(project="p", id="r1")
    await follower.tick()
    assert recorder.changes == []


async def test_the_reaper_interrupts_a_run_whose_heartbeat_stopped(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    writer.create_run(project="p", id="r1", heartbeat_timeout=5.0)
    follower = Follower(server_store)
    await follower.start(background=False)
    recorder = Recorder()
    follower.add_listener(Reaper(server_store, interval=1.0, clock=clock))
    follower.add_listener(recorder)
    clock.now += 60
    await follower.tick()   # the reaper marks it; the status change is news next tick
    await follower.tick()
    assert server_store.get_run("r1").status == "interrupted"
    [change] = [e.payload for c in recorder.changes for e in c.events
                if e.kind == "status_change" and e.payload["new_status"] == "interrupted"]
    assert change["reason"] == "heartbeat lost"


def test_a_short_server_outage_does_not_interrupt_live_runs(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    """Defect 19: the server was down 20 s of a run's 30 s heartbeat timeout; it must
    not judge the run's heartbeat the moment it is back."""
    writer.create_run(project="p", id="r1", heartbeat_timeout=30.0)
    writer.heartbeat("r1")  # the run's last heartbeat before the server went down
    clock.now += 20         # 20 s down; the server restarts now
    reaper = Reaper(server_store, interval=1.0, clock=clock)
    clock.now += 15         # 35 s since that heartbeat; the SDK's retry is still waiting
    assert reaper.in_grace()
    assert reaper.reap() == []
    assert server_store.get_run("r1").status == "running"
    writer.heartbeat("r1")  # the run reaches the restarted server in time
    clock.now += 20         # grace over (35 s after the restart); heartbeat 20 s old
    assert reaper.reap() == []
    assert server_store.get_run("r1").status == "running"


def test_a_run_that_died_during_the_outage_is_reaped_after_the_grace(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    writer.create_run(project="p", id="dead", heartbeat_timeout=30.0)
    writer.create_run(project="p", id="slow", heartbeat_timeout=120.0)
    reaper = Reaper(server_store, interval=1.0, clock=clock)  # the server (re)starts now
    clock.now += 60         # past dead's timeout, but slow's is longer: still grace
    assert reaper.reap() == []
    clock.now += 61         # 121 s after the start: grace over, neither heartbeated
    assert sorted(reaper.reap()) == ["dead", "slow"]


def test_the_grace_is_at_least_the_configured_minimum(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    writer.create_run(project="p", id="r1", heartbeat_timeout=5.0)
    reaper = Reaper(server_store, interval=1.0, min_grace=100.0, clock=clock)
    clock.now += 50
    assert reaper.reap() == []
    clock.now += 51
    assert reaper.reap() == ["r1"]
