"""``Store.apply_many`` (the server's group commit of SDK requests) on a real store, both
engines: the runs whose requests are only points are written together, each batch once,
with the same results as applying the requests one after the other; the other requests
keep their order; one bad request fails the whole group and leaves nothing behind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import MakeStore

from traindeck.store import InvalidInput, NotFound, Store
from traindeck.store.batch_wire import Batch
from traindeck.store.models import MetricWrite


def points(batch_id: str, steps: range, value: float = 0.5, **more: Any) -> Batch:
    n = len(steps)
    return Batch(batch_id=batch_id, metrics={"loss": (
        np.arange(steps.start, steps.stop, dtype=np.int64), np.full(n, 1.0),
        np.full(n, value))}, **more)


def first(store: Store, run_id: str) -> None:
    """The run, made by its first batch (as the SDK's first request makes it)."""
    made = points(f"{run_id}:0", range(0, 1), run={"project": "p", "name": run_id})
    assert store.apply_batches(run_id, [made]) == 1


def test_many_runs_points_go_in_one_commit_each_batch_once(make_store: MakeStore) -> None:
    now = [1_000.0]
    store = make_store(clock=lambda: now[0])
    for run_id in ("a", "b", "c"):
        first(store, run_id)
    store.apply_batches("b", [points("b:1", range(1, 5))])
    store.apply_batches("c", [points("c:hb", range(0, 1), heartbeat=1.0)])
    now[0] += 100_000
    assert "c" in store.reap_stale()  # its heartbeat was lost: it was only stalled
    assert store.get_run("c").status == "interrupted"
    seq = store.current_seq()[0]
    counts = store.apply_many([
        ("a", [points("a:1", range(1, 10), summary={"loss": 1.0}),
               points("a:2", range(10, 20), summary={"loss": 2.0})]),
        ("b", [points("b:1", range(1, 5)), points("b:2", range(5, 8))]),  # b:1 is a resend
        ("a", [points("a:2", range(10, 20)),  # sent again while the first was in flight
               points("a:3", range(15, 16), value=9.0)]),  # a later point of step 15 wins
        ("c", [points("c:1", range(1, 3), heartbeat=1.0)]),
    ])
    assert counts == [2, 1, 1, 1]
    assert store.current_seq()[0] == seq + 1  # one commit for all of them
    a = store.read_points("a", "loss")
    assert a.steps.tolist() == list(range(20))
    assert a.values[15] == 9.0 and a.values[14] == 0.5
    assert store.get_run("a").summary == {"loss": 2.0}
    assert store.read_points("b", "loss").steps.tolist() == list(range(8))
    assert store.get_run("c").status == "running"  # its heartbeat brought it back
    assert store.get_run("c").heartbeat_at is not None
    # every one of them is recorded: sent again, nothing is applied twice
    again = store.apply_many([("a", [points("a:3", range(15, 16), value=1.0)]),
                              ("b", [points("b:2", range(5, 8), value=1.0)])])
    assert again == [0, 0]
    assert store.read_points("a", "loss").values[15] == 9.0


def test_one_bad_request_fails_the_group_and_nothing_is_kept(store: Store) -> None:
    first(store, "a")
    with pytest.raises(NotFound):
        store.apply_many([("a", [points("a:1", range(1, 5))]),
                          ("ghost", [points("g:1", range(0, 5))])])
    assert store.read_points("a", "loss").steps.tolist() == [0]
    assert store.apply_many([("a", [points("a:1", range(1, 5))])]) == [1]  # not recorded


def test_requests_with_more_than_points_keep_their_order(store: Store) -> None:
    first(store, "a")
    first(store, "b")
    counts = store.apply_many([
        ("a", [points("a:1", range(5, 6), value=1.0)]),
        ("a", [points("a:2", range(5, 6), value=2.0, events=[("note", {"n": 1})])]),
        ("n", [points("n:0", range(0, 3), run={"project": "p", "name": "n"})]),  # a new run
        ("b", [points("b:1", range(1, 3))]),
    ])
    assert counts == [1, 1, 1, 1]
    assert store.read_points("a", "loss").values[-1] == 2.0  # the later request won
    assert [e.kind for e in store.list_events("a", kind="note")] == ["note"]
    assert store.read_points("n", "loss").steps.tolist() == [0, 1, 2]
    assert store.read_points("b", "loss").steps.tolist() == [0, 1, 2]


def test_write_metrics_many_takes_one_write_a_run(store: Store) -> None:
    first(store, "a")
    one = MetricWrite("a", {"x": ([1], [1.0], [1.0])})
    with pytest.raises(InvalidInput):
        store.write_metrics_many([one, one])
    with pytest.raises(NotFound):
        store.write_metrics_many([one, MetricWrite("ghost", {"x": ([1], [1.0], [1.0])})])
    with pytest.raises(NotFound):
        store.read_points("a", "x")  # nothing was written
    store.write_metrics_many([one])
    assert store.read_points("a", "x").steps.tolist() == [1]


def test_a_group_of_many_runs_is_written_read_and_sent_again_as_a_small_one(
    store: Store,
) -> None:
    """Sixty runs of five keys, three batches each: more runs, series and batch ids than a
    statement takes as plain parameters (on PostgreSQL they go as arrays), in three group
    commits as a busy server makes them. Every point lands in its series, the hub's read of
    every series gives them back, and the whole group sent again applies nothing."""
    from traindeck.store.engine import ARRAY_MIN

    runs = [f"r{i:02d}" for i in range(60)]
    assert len(runs) > ARRAY_MIN  # the runs alone: more values than plain parameters
    keys = ("loss", "acc", "lr", "t", "gn")
    for run_id in runs:
        first(store, run_id)

    def batch(run_id: str, n: int) -> Batch:
        steps = np.arange(1 + 4 * n, 5 + 4 * n, dtype=np.int64)
        return Batch(batch_id=f"{run_id}:b{n}", heartbeat=1.0, summary={"n": n}, metrics={
            key: (steps, steps * 1.0, steps * (k + 1.0)) for k, key in enumerate(keys)})

    groups = [[(run_id, [batch(run_id, 3 * g + i) for i in range(3)]) for run_id in runs]
              for g in range(3)]
    for group in groups:  # new series, then appends to their open chunks
        assert store.apply_many(group) == [3] * len(runs)
    assert store.apply_many(groups[-1]) == [0] * len(runs)  # sent again: applied once
    reads = [(run_id, key, 4) for run_id in runs for key in keys]
    many = store.read_points_many(reads)
    for run_id, key, after in reads:
        got = many[(run_id, key, after)]
        assert got.steps.tolist() == list(range(5, 37)), (run_id, key)
        assert got.values.tolist() == [s * (keys.index(key) + 1.0) for s in range(5, 37)]
    assert {store.get_run(r).summary["n"] for r in runs} == {8}  # the last batch's
    # each series' newest point and count, as the run's page shows them
    assert store.latest("r07") == {key: (36, 36.0, 36 * (k + 1.0)) for k, key in enumerate(keys)}
    assert {s.key: s.count for s in store.metric_keys("r07")} == {
        "loss": 37, "acc": 36, "lr": 36, "t": 36, "gn": 36}
    assert store.read_points("r59", "gn").steps.tolist() == list(range(1, 37))
    assert store.read_points("r59", "loss").steps.tolist() == list(range(37))  # and the first
