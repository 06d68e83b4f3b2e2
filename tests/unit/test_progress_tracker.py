"""The progress tracker over a real store and follower, tick by tick: a training process is
a second store on the same file writing points with chosen times; the tracker's clock is
injected, so its once-a-second pacing is a clock move, not a sleep."""

from __future__ import annotations

import numpy as np
import pytest
from support import MakeStore

from traindeck.server.feed import Follower
from traindeck.server.progress import ProgressTracker
from traindeck.store import Store


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server_store(make_store: MakeStore) -> Store:
    return make_store()


@pytest.fixture
def writer(server_store: Store, make_store: MakeStore) -> Store:
    """What a training process holds: its own connection to the same store."""
    return make_store()


async def following(server_store: Store, clock: FakeClock) -> tuple[Follower, ProgressTracker]:
    follower = Follower(server_store)
    await follower.start(background=False)
    tracker = ProgressTracker(server_store, clock=clock)
    follower.add_listener(tracker)
    return follower, tracker


def log(store: Store, run_id: str, steps: range, rate: float, t0: float = 5000.0,
        keys: tuple[str, ...] = ("loss",)) -> None:
    """Points at ``steps``, logged at ``rate`` steps per second from ``t0``."""
    s = np.arange(steps.start, steps.stop, steps.step, dtype=np.int64)
    times = t0 + s / rate
    store.write_metrics(run_id, {k: (s, times, np.ones(len(s))) for k in keys})


async def test_a_run_with_a_total_gets_progress_speed_and_eta(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r", total_steps=1000)
    await follower.tick()
    assert server_store.get_run("r").progress is None  # no step yet
    log(writer, "r", range(0, 100), rate=20.0)
    await follower.tick()
    log(writer, "r", range(100, 200), rate=20.0)
    clock.now += 1
    await follower.tick()
    run = server_store.get_run("r")
    assert run.total_steps == 1000
    assert run.progress == pytest.approx(199 / 1000)
    assert run.steps_per_s == pytest.approx(20.0)
    assert run.eta_s == pytest.approx(801 / 20, abs=0.1)
    log(writer, "r", range(200, 400), rate=20.0)
    clock.now += 1
    await follower.tick()
    later = server_store.get_run("r")
    assert later.progress == pytest.approx(399 / 1000)
    assert later.eta_s is not None and run.eta_s is not None and later.eta_s < run.eta_s


async def test_a_run_without_a_total_gets_a_speed_only(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r")
    log(writer, "r", range(0, 50), rate=4.0)
    await follower.tick()
    log(writer, "r", range(50, 80), rate=4.0)
    clock.now += 1
    await follower.tick()
    run = server_store.get_run("r")
    assert run.steps_per_s == pytest.approx(4.0)
    assert (run.total_steps, run.progress, run.eta_s) == (None, None, None)


async def test_system_series_do_not_count_as_steps(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r", total_steps=100)
    log(writer, "r", range(0, 10), rate=1.0)
    log(writer, "r", range(0, 5000), rate=1000.0, keys=("sys/cpu_percent",))
    await follower.tick()
    log(writer, "r", range(10, 20), rate=1.0)
    clock.now += 1
    await follower.tick()
    run = server_store.get_run("r")
    assert run.progress == pytest.approx(0.19)
    assert run.steps_per_s == pytest.approx(1.0)


async def test_writes_are_paced_but_a_new_total_or_status_goes_at_once(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, tracker = await following(server_store, clock)
    writer.create_run(project="p", id="r")
    log(writer, "r", range(0, 10), rate=10.0)
    await follower.tick()
    log(writer, "r", range(10, 20), rate=10.0)
    await follower.tick()
    first = server_store.get_run("r")
    assert first.steps_per_s == pytest.approx(10.0)
    log(writer, "r", range(20, 40), rate=10.0)
    await follower.tick()
    assert server_store.get_run("r").seq == first.seq  # within the second: not written
    writer.update_run("r", total_steps=100)  # a total arrives (run.set_total)
    await follower.tick()
    run = server_store.get_run("r")
    assert (run.progress, run.eta_s) == (pytest.approx(0.39), pytest.approx(6.1))
    writes = tracker.writes
    log(writer, "r", range(40, 60), rate=10.0)
    await follower.tick()
    await follower.tick()
    assert tracker.writes == writes  # paced again
    clock.now += 1
    await follower.tick()
    assert server_store.get_run("r").progress == pytest.approx(0.59)


async def test_a_finished_run_keeps_its_speed_and_loses_its_eta(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r", total_steps=50)
    log(writer, "r", range(0, 25), rate=5.0)
    await follower.tick()
    log(writer, "r", range(25, 50), rate=5.0)
    clock.now += 1
    await follower.tick()
    assert server_store.get_run("r").eta_s == pytest.approx(0.2)
    writer.set_status("r", "completed")
    await follower.tick()
    run = server_store.get_run("r")
    assert (run.status, run.progress, run.eta_s) == ("completed", 1.0, None)
    assert run.steps_per_s == pytest.approx(5.0)


async def test_a_run_stopped_early_shows_how_far_it_got(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r", total_steps=100)
    log(writer, "r", range(0, 30), rate=5.0)
    await follower.tick()
    writer.set_status("r", "cancelled")
    await follower.tick()
    run = server_store.get_run("r")
    assert (run.progress, run.eta_s) == (pytest.approx(0.29), None)


async def test_a_server_started_mid_run_reads_the_last_step_once(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    writer.create_run(project="p", id="r")
    log(writer, "r", range(0, 300), rate=10.0)
    follower, _ = await following(server_store, clock)  # a restart: nothing is news
    writer.update_run("r", total_steps=1000)
    await follower.tick()
    assert server_store.get_run("r").progress == pytest.approx(0.299)
    log(writer, "r", range(300, 320), rate=10.0)
    clock.now += 1
    await follower.tick()
    run = server_store.get_run("r")
    assert run.progress == pytest.approx(0.319)
    assert run.steps_per_s is None  # the speed starts again from the points that follow
    log(writer, "r", range(320, 340), rate=10.0)
    clock.now += 1
    await follower.tick()
    assert server_store.get_run("r").steps_per_s == pytest.approx(10.0)


async def test_a_pause_does_not_drag_the_speed_down(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, _ = await following(server_store, clock)
    writer.create_run(project="p", id="r", total_steps=1000)
    log(writer, "r", range(0, 100), rate=10.0)
    await follower.tick()
    log(writer, "r", range(100, 200), rate=10.0)
    await follower.tick()
    writer.set_status("r", "paused")
    await follower.tick()
    assert server_store.get_run("r").eta_s is None
    writer.set_status("r", "running")
    await follower.tick()
    log(writer, "r", range(200, 300), rate=10.0, t0=5000.0 + 600)  # ten minutes later
    clock.now += 1
    await follower.tick()
    run = server_store.get_run("r")
    assert run.steps_per_s == pytest.approx(10.0)
    assert run.eta_s == pytest.approx(70.1)


async def test_a_deleted_run_is_forgotten(
    server_store: Store, writer: Store, clock: FakeClock
) -> None:
    follower, tracker = await following(server_store, clock)
    writer.create_run(project="p", id="r", status="completed")
    await follower.tick()
    assert "r" in tracker.runs
    writer.delete_run("r")
    await follower.tick()
    assert "r" not in tracker.runs
