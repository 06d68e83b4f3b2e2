"""Launch rows and a run's exit code in the store (issue 10 §2)."""

from __future__ import annotations

import pytest

from traindeck.store import InvalidInput, NotFound, Store


def test_a_launch_is_created_read_listed_and_updated(store: Store) -> None:
    run = store.create_run(project="p", id="r1", status="queued")
    spec = {"template": "mnist", "overrides": ["lr=0.1"], "grace_s": 10}
    first = store.create_launch(run_id=run.id, spec=spec)
    second = store.create_launch(run_id=run.id, spec=spec, executor="local")
    assert first.status == "queued" and first.restarts == 0 and first.pid is None
    assert store.get_launch(first.id) == first
    assert [x.id for x in store.list_launches()] == [first.id, second.id]  # queue order

    moved = store.update_launch(first.id, status="running", pid=1234, started_at=5.0,
                                state={"pgid": 1234, "start_time": 1.5})
    assert (moved.status, moved.pid, moved.state["pgid"]) == ("running", 1234, 1234)
    assert [x.id for x in store.list_launches(status="queued")] == [second.id]
    assert [x.id for x in store.list_launches(status=["running", "queued"])] == [
        first.id, second.id]
    assert store.list_launches(run_id="other") == []

    out = moved.to_dict()
    assert out["template"] == "mnist" and out["overrides"] == ["lr=0.1"]
    assert out["grace_s"] == 10 and out["pid"] == 1234


def test_bad_launch_fields_and_unknown_launches_are_refused(store: Store) -> None:
    launch = store.create_launch(run_id=None, spec={})
    with pytest.raises(InvalidInput):
        store.update_launch(launch.id, status="exploded")
    with pytest.raises(InvalidInput):
        store.update_launch(launch.id, colour="red")
    with pytest.raises(InvalidInput):
        store.list_launches(status="exploded")
    with pytest.raises(NotFound):
        store.get_launch("nope")
    with pytest.raises(NotFound):
        store.update_launch("nope", status="running")


def test_a_run_records_the_exit_code_of_its_process(store: Store) -> None:
    run = store.create_run(project="p", id="r1")
    assert run.exit_code is None and run.to_dict()["exit_code"] is None
    done = store.set_status("r1", "failed", exit_code=3)
    assert done.exit_code == 3 and store.get_run("r1").exit_code == 3


def test_deleting_a_run_keeps_its_launch_rows(store: Store) -> None:
    store.create_run(project="p", id="r1")
    launch = store.create_launch(run_id="r1", spec={})
    store.delete_run("r1")
    assert store.get_launch(launch.id).run_id is None
