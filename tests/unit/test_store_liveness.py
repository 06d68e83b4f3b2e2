"""A stalled run comes back to life; reader connections do not pile up with threads."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest
from support import MakeStore

from traindeck.store import NotFound, SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_reaped_run_that_heartbeats_again_is_running_again(make_store: MakeStore) -> None:
    clock = Clock()
    store = make_store(clock=clock)
    run = store.create_run(project="p", heartbeat_timeout=10)
    clock.now += 60
    assert store.reap_stale() == [run.id]
    assert store.get_run(run.id).status == "interrupted"
    store.write_metrics(run.id, {"x": (np.array([0]), np.array([clock.now]), np.array([1.0]))},
                        heartbeat=clock.now)
    back = store.get_run(run.id)
    assert back.status == "running" and back.ended_at is None
    reasons = [e.payload.get("reason") for e in store.list_events(run.id, kind="status_change")]
    assert reasons == [None, "heartbeat lost", "heartbeat resumed"]
    store.create_command(run.id, "stop")  # live again: commands reach it
    # A run that ended on purpose stays ended.
    store.set_status(run.id, "interrupted")
    store.heartbeat(run.id, clock.now)
    assert store.get_run(run.id).status == "interrupted"
    with pytest.raises(NotFound):
        store.heartbeat("nope")
    store.close()


def test_sqlite_reader_connections_close_when_their_threads_end(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    run = store.create_run(project="p")

    def read() -> None:
        store.get_run(run.id)

    for _ in range(50):
        t = threading.Thread(target=read)
        t.start()
        t.join()
    assert len(store.core._readers) <= 2
    store.close()


def test_sqlite_close_leaves_a_live_threads_reader_to_that_thread(tmp_path: Path) -> None:
    """Closing the store while another thread holds its reader (a server worker thread
    the shutdown did not wait for) does not close that connection under it: the thread's
    next read is refused cleanly, and its connection closes when the thread ends."""
    store = SQLiteStore(tmp_path / "t.db")
    run = store.create_run(project="p")
    ready, closed, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[object] = []

    def worker() -> None:
        seen.append(store.get_run(run.id).id)  # this thread's reader is open
        ready.set()
        closed.wait(10)
        try:
            store.get_run(run.id)
        except RuntimeError as exc:
            seen.append(str(exc))
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    assert ready.wait(10)
    store.close()
    assert len(store.core._readers) == 1  # the live thread's, left open for it
    closed.set()
    assert done.wait(10)
    t.join(10)
    assert seen == [run.id, "store is closed"]
    gc.collect()
    assert store.core._readers == []
