"""Group commit of SDK batches (``server/batch_group.py``) on a real store: requests that
wait together share one transaction, each gets its own answer, a bad one fails alone, and
every batch is applied exactly once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from support import MakeStore

from traindeck.runfiles import RunFiles
from traindeck.server.batch_group import GroupWriter
from traindeck.store import InvalidInput, NotFound, Store, Unavailable
from traindeck.store.batch_wire import Batch, parse_body


def batch(batch_id: str, steps: range, *, run: str | None = None) -> Batch:
    body: dict[str, Any] = {"batch_id": batch_id, "metrics": {"loss": {
        "steps": list(steps), "times": [1.0] * len(steps), "values": [0.5] * len(steps)}}}
    if run is not None:
        body["run"] = {"project": "p", "name": run}
    parsed = parse_body(orjson.dumps(body))
    assert isinstance(parsed, Batch)
    return parsed


def apply(writer: GroupWriter, run_id: str, batches: list[Batch]) -> int:
    """A request of ``batches`` for ``run_id``, waited for: how many were new."""
    return writer.submit(run_id, lambda: batches).result(30)


def together(writer: GroupWriter,
             requests: list[tuple[str, str, list[Batch]]]) -> dict[str, Any]:
    """Post ``(name, run_id, batches)`` requests from threads of their own while a write
    holds the turn (as a commit in progress does), so that they all queue up; then let
    them go. Their answers (or errors) by name."""
    answers: dict[str, Any] = {}

    def post(name: str, run_id: str, batches: list[Batch]) -> None:
        try:
            answers[name] = apply(writer, run_id, batches)
        except Exception as exc:
            answers[name] = exc

    with writer._turn:
        threads = [threading.Thread(target=post, args=r) for r in requests]
        for t in threads:
            t.start()
        while len(writer._queue) < len(requests):
            threading.Event().wait(0.01)
    for t in threads:
        t.join(30)
    return answers


def test_waiting_requests_share_a_transaction_and_get_their_own_answers(
        make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path))
    assert apply(writer, "a", [batch("a:1", range(0, 10), run="a")]) == 1
    assert apply(writer, "b", [batch("b:1", range(0, 10), run="b")]) == 1
    requests = [
        ("a-new", "a", [batch("a:2", range(10, 20)), batch("a:3", range(20, 30))]),
        ("b-new", "b", [batch("b:2", range(10, 20))]),
        ("a-again", "a", [batch("a:1", range(0, 10))]),  # a resend: not applied twice
        ("unknown", "nope", [batch("n:1", range(0, 5))]),  # no such run: fails alone
    ]
    before = writer.groups
    answers = together(writer, requests)
    assert answers["a-new"] == 2 and answers["b-new"] == 1 and answers["a-again"] == 0
    assert isinstance(answers["unknown"], NotFound)
    # the group failed on "unknown" and was written again one request at a time
    assert writer.groups - before == len(requests)
    loss = store.read_points("a", "loss")
    assert np.array_equal(loss.steps, np.arange(30))
    assert len(store.read_points("b", "loss").steps) == 20


def test_a_group_of_good_requests_is_one_transaction(
        make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path))
    for run in ("a", "b", "c"):
        apply(writer, run, [batch(f"{run}:0", range(0, 1), run=run)])
    seq_before = store.current_seq()[0]
    groups_before = writer.groups
    answers = together(writer, [(run, run, [batch(f"{run}:1", range(1, 6))])
                                for run in ("a", "b", "c")])
    assert answers == {"a": 1, "b": 1, "c": 1}
    assert writer.groups - groups_before == 1 and writer.requests >= 6
    assert store.current_seq()[0] == seq_before + 1  # one commit for the three
    for run in ("a", "b", "c"):
        assert store.read_points(run, "loss").steps.tolist() == [0, 1, 2, 3, 4, 5]


def test_max_group_splits_a_long_queue(
        make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path), max_group=2)
    apply(writer, "a", [batch("a:0", range(0, 1), run="a")])
    before = writer.groups
    answers = together(writer, [(str(i), "a", [batch(f"a:{i}", range(i, i + 1))])
                                for i in range(1, 6)])
    assert sorted(answers.values()) == [1] * 5
    assert writer.groups - before == 3  # 2 + 2 + 1
    assert store.read_points("a", "loss").steps.tolist() == list(range(6))


def test_one_request_alone_is_the_plain_path(
        make_store: MakeStore, tmp_path: Path) -> None:
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path))
    with pytest.raises(NotFound):
        apply(writer, "ghost", [batch("g:1", range(0, 3))])
    assert apply(writer, "r", [batch("r:1", range(0, 3), run="r")]) == 1
    assert apply(writer, "r", [batch("r:1", range(0, 3), run="r")]) == 0


def test_a_body_that_does_not_parse_fails_alone_and_its_group_is_written(
        make_store: MakeStore, tmp_path: Path) -> None:
    store, writer = run_a(make_store, tmp_path)
    good = orjson.dumps({"batch_id": "a:1", "metrics": {"loss": {
        "steps": [1], "times": [1.0], "values": [0.5]}}})
    groups_before = writer.groups
    with writer._turn:  # a write in progress: both wait for the next group
        bad = writer.submit("a", lambda: [parse_one(b"{not json")])
        fine = writer.submit("a", lambda: [parse_one(good)])
    assert fine.result(30) == 1
    with pytest.raises(InvalidInput, match="not JSON"):
        bad.result(30)
    assert writer.groups - groups_before == 1  # the good one was not written alone
    assert store.read_points("a", "loss").steps.tolist() == [0, 1]


def test_waiting_requests_hold_no_thread_and_all_join_one_group(
        make_store: MakeStore, tmp_path: Path) -> None:
    # 40 requests waiting at once from one thread: more than a pool of threads held (16),
    # so none of them had to wait for a thread before it could join the group
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path))
    for run in ("a", "b"):
        apply(writer, run, [batch(f"{run}:0", range(0, 1), run=run)])
    seq_before = store.current_seq()[0]
    with writer._turn:
        answers = [writer.submit(run, lambda run=run, i=i: [  # type: ignore[misc]
            batch(f"{run}:{i}", range(i, i + 1))]) for i in range(1, 21) for run in ("a", "b")]
    assert [a.result(30) for a in answers] == [1] * 40
    assert store.current_seq()[0] == seq_before + 1  # one commit for the forty
    assert store.read_points("b", "loss").steps.tolist() == list(range(21))


def test_a_request_its_client_gave_up_on_before_the_write_is_not_applied(
        make_store: MakeStore, tmp_path: Path) -> None:
    store, writer = run_a(make_store, tmp_path)
    with writer._turn:
        gone = writer.submit("a", lambda: [batch("a:1", range(1, 2))])
        assert gone.cancel()
        kept = writer.submit("a", lambda: [batch("a:2", range(2, 3))])
    assert kept.result(30) == 1
    assert store.read_points("a", "loss").steps.tolist() == [0, 2]
    # sent again, it is applied then (its id was never recorded)
    assert apply(writer, "a", [batch("a:1", range(1, 2))]) == 1


def test_closing_writes_what_is_queued_then_refuses_more(
        make_store: MakeStore, tmp_path: Path) -> None:
    store, writer = run_a(make_store, tmp_path)
    with writer._turn:
        queued = writer.submit("a", lambda: [batch("a:1", range(1, 2))])
        closing = threading.Thread(target=writer.close)
        closing.start()
    closing.join(30)
    assert queued.result(0) == 1
    with pytest.raises(Unavailable, match="stopping"):
        writer.submit("a", lambda: [batch("a:2", range(2, 3))])
    assert store.read_points("a", "loss").steps.tolist() == [0, 1]


def run_a(make_store: MakeStore, tmp_path: Path) -> tuple[Store, GroupWriter]:
    """A store with run "a" (one point, step 0) and a writer over it."""
    store = make_store()
    writer = GroupWriter(store, RunFiles(tmp_path))
    apply(writer, "a", [batch("a:0", range(0, 1), run="a")])
    return store, writer


def parse_one(data: bytes) -> Batch:
    parsed = parse_body(data)
    assert isinstance(parsed, Batch)
    return parsed
