"""The command state machine: pending -> delivered -> done | failed, expired when a run ends."""

from __future__ import annotations

import pytest
from support import MakeStore

from traindeck.store import COMMAND_STATUSES, Conflict, InvalidInput, NotFound, Store
from traindeck.store.models import COMMAND_TRANSITIONS, TERMINAL_STATUSES

RUN = "r1"


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
    s = make_store(clock=clock)
    s.create_run(project="p", id=RUN)
    return s


def command_events(store: Store, cmd_id: str) -> list[str]:
    return [e.payload["status"] for e in store.list_events(RUN, kind="command")
            if e.payload["id"] == cmd_id]


def test_pending_delivered_done(store: Store, clock: FakeClock) -> None:
    cmd = store.create_command(RUN, "save_checkpoint", {"tag": "x"}, requested_by="alice")
    assert cmd.status == "pending" and cmd.args == {"tag": "x"} and cmd.requested_by == "alice"
    assert cmd.created_at == clock.now and cmd.delivered_at is None
    assert store.has_pending_commands(RUN)

    t_deliver = clock.tick()
    (got,) = store.take_pending_commands(RUN)
    assert got.id == cmd.id and got.status == "delivered" and got.delivered_at == t_deliver
    assert not store.has_pending_commands(RUN)
    assert store.take_pending_commands(RUN) == []  # delivered once only

    t_done = clock.tick()
    done = store.finish_command(cmd.id, ok=True, result={"path": "/ckpt"})
    assert done.status == "done" and done.result == {"path": "/ckpt"}
    assert done.finished_at == t_done and done.error is None
    assert store.get_command(cmd.id) == done
    assert command_events(store, cmd.id) == ["pending", "delivered", "done"]
    # A finished command is final.
    for ok in (True, False):
        with pytest.raises(Conflict):
            store.finish_command(cmd.id, ok=ok)


def test_delivered_failed(store: Store) -> None:
    cmd = store.create_command(RUN, "stop")
    store.take_pending_commands(RUN)
    failed = store.finish_command(cmd.id, ok=False, error="boom")
    assert failed.status == "failed" and failed.error == "boom"
    assert command_events(store, cmd.id) == ["pending", "delivered", "failed"]
    (ev,) = [e for e in store.list_events(RUN, kind="command") if e.payload["status"] == "failed"]
    assert ev.payload["error"] == "boom"


def test_pending_cannot_be_done_before_delivery(store: Store) -> None:
    cmd = store.create_command(RUN, "pause")
    with pytest.raises(Conflict):
        store.finish_command(cmd.id, ok=True)
    assert store.get_command(cmd.id).status == "pending"
    # The SDK may refuse a command it never delivered: pending -> failed is allowed.
    assert store.finish_command(cmd.id, ok=False, error="unknown").status == "failed"


def test_take_pending_is_oldest_first(store: Store, clock: FakeClock) -> None:
    ids = []
    for name in ("a", "b", "c"):
        ids.append(store.create_command(RUN, name).id)
        clock.tick()
    assert [c.id for c in store.take_pending_commands(RUN)] == ids
    assert [c.status for c in store.list_commands(RUN)] == ["delivered"] * 3
    assert store.list_commands(RUN, status="pending") == []


@pytest.mark.parametrize("end", sorted(TERMINAL_STATUSES))
def test_run_end_expires_open_commands(store: Store, end: str) -> None:
    pending = store.create_command(RUN, "a")
    delivered = store.create_command(RUN, "b")
    store.take_pending_commands(RUN)
    pending2 = store.create_command(RUN, "c")
    done = store.finish_command(delivered.id, ok=True)
    store.set_status(RUN, end)
    statuses = {c.id: c.status for c in store.list_commands(RUN)}
    assert statuses == {pending.id: "expired", delivered.id: "done", pending2.id: "expired"}
    exp = store.get_command(pending2.id)
    assert exp.finished_at is not None and exp.error is not None and end in exp.error
    assert command_events(store, pending2.id) == ["pending", "expired"]
    assert command_events(store, pending.id) == ["pending", "delivered", "expired"]
    assert store.get_command(done.id) == done
    # An expired command cannot finish, and a finished run takes no new command.
    with pytest.raises(Conflict):
        store.finish_command(pending.id, ok=True)
    with pytest.raises(Conflict):
        store.create_command(RUN, "d")


def test_reaped_run_expires_commands(store: Store, clock: FakeClock) -> None:
    cmd = store.create_command(RUN, "a")
    clock.tick(1_000)
    assert store.reap_stale() == [RUN]
    assert store.get_command(cmd.id).status == "expired"


def test_commands_reach_live_runs_only(store: Store) -> None:
    store.create_run(project="p", id="queued", status="queued")
    with pytest.raises(Conflict):
        store.create_command("queued", "a")
    store.set_status(RUN, "paused")
    assert store.create_command(RUN, "resume").status == "pending"
    with pytest.raises(NotFound):
        store.create_command("nope", "a")
    with pytest.raises(InvalidInput):
        store.create_command(RUN, "")
    with pytest.raises(InvalidInput):
        store.create_command(RUN, "x" * 101)
    with pytest.raises(NotFound):
        store.get_command("nope")
    with pytest.raises(NotFound):
        store.finish_command("nope", ok=True)


def test_transition_table_is_the_design() -> None:
    assert set(COMMAND_TRANSITIONS) == set(COMMAND_STATUSES)
    reachable = {(a, b) for a, bs in COMMAND_TRANSITIONS.items() for b in bs}
    assert reachable == {
        ("pending", "delivered"), ("pending", "expired"), ("pending", "failed"),
        ("delivered", "done"), ("delivered", "failed"), ("delivered", "expired"),
    }


def test_commands_in_change_feed(store: Store) -> None:
    seq, ev = store.current_seq()
    cmd = store.create_command(RUN, "a")
    ch = store.changes_since(seq, ev)
    assert [c.id for c in ch.commands] == [cmd.id]
    assert [e.payload["status"] for e in ch.events if e.kind == "command"] == ["pending"]
    store.take_pending_commands(RUN)
    ch2 = store.changes_since(ch.seq, max(e.seq for e in ch.events))
    assert [(c.id, c.status) for c in ch2.commands] == [(cmd.id, "delivered")]
    assert [e.payload["status"] for e in ch2.events] == ["delivered"]
