"""Runs in the store: create/get/list, updates, status events, reaping, deletion, the feed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from support import MakeStore, sqlite_path

from traindeck.store import Conflict, InvalidInput, NotFound, RunProgress, Store, open_store
from traindeck.store.models import RUN_STATUSES


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, dt: float = 1.0) -> float:
        self.now += dt
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(make_store: MakeStore, clock: FakeClock) -> Store:
    return make_store(clock=clock)


def points(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.arange(start, start + n, dtype=np.int64)
    return s, s.astype(np.float64), s.astype(np.float64) / 2


def status_events(store: Store, run_id: str) -> list[tuple[str | None, str]]:
    return [(e.payload["old_status"], e.payload["new_status"])
            for e in store.list_events(run_id, kind="status_change")]


# -- create / get / list ------------------------------------------------------------------


def test_create_and_get(store: Store, clock: FakeClock) -> None:
    run = store.create_run(
        project="vision", name="resnet", config={"lr": 0.1, "layers": [1, 2]}, tags=["a", "b"],
        host="h", pid=42, git_commit="abc", git_dirty=True, heartbeat_timeout=30.0,
    )
    assert len(run.id) == 16 and run.status == "running"
    assert run.created_at == run.started_at == run.heartbeat_at == clock.now
    assert run.ended_at is None and run.git_dirty is True and run.config["layers"] == [1, 2]
    assert store.get_run(run.id) == run
    assert status_events(store, run.id) == [(None, "running")]
    queued = store.create_run(project="vision", status="queued", id="q-1")
    assert queued.name == "q-1" and queued.started_at is None and queued.heartbeat_at is None


def test_create_refuses_bad_input(store: Store) -> None:
    store.create_run(project="p", id="dup")
    with pytest.raises(Conflict):
        store.create_run(project="p", id="dup")
    for bad_id in ("has space", "a/b", ".hidden", "x" * 65, "é"):
        with pytest.raises(InvalidInput):
            store.create_run(project="p", id=bad_id)
    with pytest.raises(InvalidInput):
        store.create_run(project="p", status="exploded")
    with pytest.raises(InvalidInput):
        store.create_run(project="p", colour="red")
    with pytest.raises(InvalidInput):
        store.create_run(project="p", seq=5)
    with pytest.raises(NotFound):
        store.get_run("nope")


@pytest.fixture
def many(store: Store, clock: FakeClock) -> list[str]:
    specs = [
        ("vision", "resnet-50", "running", ["cnn", "big"]),
        ("vision", "resnet_18", "completed", ["cnn"]),
        ("vision", "vit%base", "failed", []),
        ("nlp", "bert", "queued", ["big"]),
        ("nlp", "gpt_tiny", "completed", ["small"]),
        ("nlp", "t5", "cancelled", []),
    ]
    ids = []
    for i, (project, name, status, tags) in enumerate(specs):
        clock.tick()
        ids.append(store.create_run(project=project, name=name, status=status, tags=tags,
                                    id=f"run{i}").id)
    return ids


def names(runs_total: tuple[list, int]) -> list[str]:  # type: ignore[type-arg]
    return [r.name for r in runs_total[0]]


def test_list_filters(store: Store, many: list[str]) -> None:
    runs, total = store.list_runs()
    assert total == 6 and [r.id for r in runs] == many[::-1]  # newest first
    assert names(store.list_runs(project="nlp")) == ["t5", "gpt_tiny", "bert"]
    assert names(store.list_runs(status="completed")) == ["gpt_tiny", "resnet_18"]
    assert names(store.list_runs(status=["queued", "failed"])) == ["bert", "vit%base"]
    assert names(store.list_runs(tag="big")) == ["bert", "resnet-50"]
    assert names(store.list_runs(tag="cnn", project="vision", status="running")) == ["resnet-50"]
    assert store.list_runs(tag="nothing") == ([], 0)
    assert store.projects() == ["nlp", "vision"]


def test_list_search_escapes_wildcards(store: Store, many: list[str]) -> None:
    assert names(store.list_runs(search="resnet")) == ["resnet_18", "resnet-50"]
    # '_' and '%' are literal characters, not LIKE wildcards.
    assert names(store.list_runs(search="_")) == ["gpt_tiny", "resnet_18"]
    assert names(store.list_runs(search="t_1")) == ["resnet_18"]
    assert names(store.list_runs(search="%")) == ["vit%base"]
    assert names(store.list_runs(search="t%b")) == ["vit%base"]
    assert names(store.list_runs(search="\\")) == []
    assert names(store.list_runs(search="RUN3")) == ["bert"]  # ids match too, any case
    assert names(store.list_runs(search="")) == names(store.list_runs())


def test_list_sort_and_paging(store: Store, many: list[str]) -> None:
    by_name = names(store.list_runs(sort="name", descending=False))
    assert by_name == sorted(by_name)
    assert names(store.list_runs(sort="status", descending=False))[0] == "t5"  # cancelled
    page1, total = store.list_runs(limit=4)
    page2, total2 = store.list_runs(limit=4, offset=4)
    assert total == total2 == 6 and len(page1) == 4 and len(page2) == 2
    assert [r.id for r in page1 + page2] == many[::-1]
    assert store.list_runs(limit=2, offset=100) == ([], 6)
    with pytest.raises(InvalidInput):
        store.list_runs(sort="id; DROP TABLE runs")


# -- updates and status -------------------------------------------------------------------


def test_update_run(store: Store) -> None:
    run = store.create_run(project="p", id="r")
    upd = store.update_run("r", notes="hello", tags=["x"], summary={"acc": 0.9},
                           launch_spec={"entry": "train.py"})
    assert upd.notes == "hello" and upd.tags == ["x"] and upd.summary == {"acc": 0.9}
    assert upd.launch_spec == {"entry": "train.py"} and upd.seq > run.seq
    assert store.update_run("r", launch_spec=None).launch_spec is None
    for bad in ({"status": "completed"}, {"id": "other"}, {"seq": 1}, {"nope": 1}):
        with pytest.raises(InvalidInput):
            store.update_run("r", **bad)
    with pytest.raises(NotFound):
        store.update_run("missing", notes="x")
    assert store.get_run("r").notes == "hello"
    # No status event for a plain update.
    assert status_events(store, "r") == [(None, "running")]


def test_set_progress_writes_every_run_in_one_stamp_and_skips_runs_gone(store: Store) -> None:
    for name in ("a", "b", "gone"):
        store.create_run(project="p", id=name)
    store.set_status("b", "completed")
    store.delete_run("gone")
    before = store.get_run("a").seq
    asked = store.set_progress([RunProgress("a", 0.25, 12.5, 60.0),
                                RunProgress("gone", 0.5, 1.0, 2.0),
                                RunProgress("b", 1.0, 3.0, 9.0)])
    assert asked == 3
    a, b = store.get_run("a"), store.get_run("b")
    assert (a.progress, a.steps_per_s, a.eta_s) == (0.25, 12.5, 60.0)
    assert (b.progress, b.steps_per_s, b.eta_s) == (1.0, 3.0, None)  # ended: no ETA
    assert a.seq == b.seq > before  # one transaction, one stamp: a follower hears of both
    with pytest.raises(NotFound):
        store.get_run("gone")
    assert {r.id for r in store.changes_since(before, 0).runs} == {"a", "b"}


def test_status_changes_emit_events(store: Store, clock: FakeClock) -> None:
    store.create_run(project="p", id="r")
    t_pause = clock.tick()
    paused = store.set_status("r", "paused")
    assert paused.heartbeat_at == t_pause and paused.ended_at is None
    t_end = clock.tick()
    done = store.set_status("r", "completed", summary={"loss": 0.1})
    assert done.ended_at == t_end and done.summary == {"loss": 0.1}
    assert store.set_status("r", "completed").ended_at == t_end  # no change, no new event
    clock.tick()
    resumed = store.set_status("r", "running")  # resume reopens the run
    assert resumed.ended_at is None and resumed.heartbeat_at == clock.now
    assert status_events(store, "r") == [
        (None, "running"), ("running", "paused"), ("paused", "completed"),
        ("completed", "running"),
    ]
    with pytest.raises(InvalidInput):
        store.set_status("r", "bogus")
    with pytest.raises(InvalidInput):
        store.set_status("r", "completed", colour="x")
    with pytest.raises(NotFound):
        store.set_status("nope", "completed")
    assert set(RUN_STATUSES) >= {"queued", "running", "interrupted"}


def test_reap_stale(store: Store, clock: FakeClock) -> None:
    store.create_run(project="p", id="silent", heartbeat_timeout=60.0)
    store.create_run(project="p", id="alive", heartbeat_timeout=60.0)
    store.create_run(project="p", id="paused", heartbeat_timeout=60.0)
    store.set_status("paused", "paused")
    store.create_run(project="p", id="queued", status="queued")
    store.create_run(project="p", id="done", status="completed")
    clock.tick(59.0)
    assert store.reap_stale() == []  # not yet stale
    clock.tick(2.0)
    store.heartbeat("alive")
    store.write_metrics("paused", {"m": points(3)}, heartbeat=clock.now)  # a flush heartbeats
    clock.tick(1.0)
    assert store.reap_stale() == ["silent"]
    silent = store.get_run("silent")
    assert silent.status == "interrupted" and silent.ended_at == clock.now
    (last,) = status_events(store, "silent")[-1:]
    assert last == ("running", "interrupted")
    reason = store.list_events("silent", kind="status_change")[-1].payload["reason"]
    assert reason == "heartbeat lost"
    assert store.get_run("alive").status == "running"
    assert store.get_run("paused").status == "paused"
    assert store.reap_stale() == []  # once only
    clock.tick(120.0)
    assert sorted(store.reap_stale()) == ["alive", "paused"]
    assert store.get_run("queued").status == "queued"
    assert store.get_run("done").status == "completed"


def test_heartbeat_at_explicit_time(store: Store) -> None:
    store.create_run(project="p", id="r")
    store.heartbeat("r", at=12_345.0)
    assert store.get_run("r").heartbeat_at == 12_345.0


# -- deletion -----------------------------------------------------------------------------


def test_sqlite_delete_cascades(store: Store) -> None:
    store.create_run(project="p", id="gone")
    store.create_run(project="p", id="kept")
    for rid in ("gone", "kept"):
        store.write_metrics(rid, {"loss": points(10_000), "acc": points(5)})
        store.create_command(rid, "a")
        store.add_event(rid, "note", {"text": "hi"})
    store.delete_run("gone")
    with pytest.raises(NotFound):
        store.get_run("gone")
    with pytest.raises(NotFound):
        store.read_buckets("gone", "loss")
    with pytest.raises(NotFound):
        store.delete_run("gone")
    conn = sqlite3.connect(sqlite_path(store))  # SQLite-only: the rows themselves
    for table in ("series", "events", "commands"):
        sql = f"SELECT count(*) FROM {table} WHERE run_id = 'gone'"
        assert conn.execute(sql).fetchone() == (0,)
    n_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    kept_chunks = conn.execute(
        "SELECT count(*) FROM chunks c JOIN series s ON s.id = c.series_id WHERE s.run_id = 'kept'"
    ).fetchone()[0]
    assert n_chunks == kept_chunks > 0
    assert store.read_buckets("kept", "loss", n=1).count == 10_000
    # The id can be used again, and starts empty.
    store.create_run(project="p", id="gone")
    assert store.metric_keys("gone") == []


# -- the change feed ---------------------------------------------------------------------


def test_changes_since(store: Store) -> None:
    seq0, ev0 = store.current_seq()
    assert (seq0, ev0) == (0, 0)
    store.create_run(project="p", id="a")
    store.create_run(project="p", id="b")
    ch = store.changes_since(seq0, ev0)
    assert sorted(r.id for r in ch.runs) == ["a", "b"] and ch.series == [] and ch.commands == []
    assert [e.run_id for e in ch.events] == ["a", "b"]
    seq, ev = ch.seq, ch.events[-1].seq

    # Nothing new: nothing twice.
    again = store.changes_since(seq, ev)
    assert (again.runs, again.series, again.events, again.commands, again.deleted_runs) == (
        [], [], [], [], [])

    store.write_metrics("a", {"loss": points(100)})
    store.add_event("b", "note", {"text": "x"})
    cmd = store.create_command("b", "stop")
    ch = store.changes_since(seq, ev)
    # which series changed, with its newest point
    assert [(s.run_id, s.key, s.last_step, s.last_time, s.last_value) for s in ch.series] == [
        ("a", "loss", 99, 99.0, 49.5)]
    assert ch.runs == []
    assert [e.kind for e in ch.events] == ["note", "command"]
    assert [c.id for c in ch.commands] == [cmd.id]
    seq, ev = ch.seq, ch.events[-1].seq

    # A heartbeat alone is not a change; a metric write with a summary changes the run.
    store.heartbeat("a")
    assert store.changes_since(seq, ev).runs == []
    store.write_metrics("a", {"loss": points(10, start=100)}, summary={"best": 1.0})
    ch = store.changes_since(seq, ev)
    assert [r.id for r in ch.runs] == ["a"] and [s.last_step for s in ch.series] == [109]
    seq, ev = ch.seq, ev

    store.delete_run("b")
    ch = store.changes_since(seq, ev)
    assert ch.deleted_runs == ["b"] and ch.runs == [] and ch.events == []
    seq = ch.seq
    assert store.changes_since(seq, ev).deleted_runs == []

    # Events are paged by their own cursor.
    for i in range(5):
        store.add_event("a", "note", {"i": i})
    first = store.changes_since(seq, ev, limit=3)
    rest = store.changes_since(seq, first.events[-1].seq, limit=3)
    assert [e.payload["i"] for e in first.events + rest.events] == [0, 1, 2, 3, 4]


def test_the_feed_counts_every_point_written_to_a_series(store: Store) -> None:
    """``written`` moves by every point written (rewrites and backfills too), so a follower
    that saw a series at ``n`` knows from ``n + 1`` that only its newest point is new."""
    store.create_run(project="p", id="a")
    seq, ev = store.current_seq()
    store.write_metrics("a", {"loss": points(10)})
    [s] = store.changes_since(seq, ev).series
    assert (s.last_step, s.written) == (9, 10)
    store.write_metrics("a", {"loss": ([10], [10.0], [0.25])})  # one new point
    store.write_metrics("a", {"loss": ([3], [3.0], [1.0])})     # a backfill below it
    store.write_metrics("a", {"loss": ([10], [10.0], [0.5])})   # the newest, rewritten
    [s] = store.changes_since(seq, ev).series
    assert (s.last_step, s.last_value, s.written) == (10, 0.5, 13)


def test_open_store_paths(tmp_path: Path) -> None:
    with open_store(tmp_path / "folder") as s:
        assert s.path == tmp_path / "folder" / "traindeck.db"
    with open_store(f"sqlite:///{tmp_path / 'x.db'}") as s:
        assert s.path == tmp_path / "x.db"
    with pytest.raises(InvalidInput):
        open_store("postgresql://localhost/db")
