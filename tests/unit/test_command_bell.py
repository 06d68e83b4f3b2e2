"""The command bell (``server/command_bell.py``) on a real store's change feed: a held
long-poll of a run is woken by a new pending command for that run, and only by that."""

from __future__ import annotations

import asyncio

import pytest
from support import MakeStore

from traindeck.server.command_bell import CommandBell


def test_a_pending_command_rings_its_run_only(make_store: MakeStore) -> None:
    store = make_store()
    mine = store.create_run(project="p", name="mine", commands_offered=["validate"])
    other = store.create_run(project="p", name="other", commands_offered=["validate"])
    seq, event_seq = store.current_seq()

    async def main() -> None:
        bell = CommandBell()
        with bell.listen(mine.id) as rung, bell.listen(other.id) as other_rung:
            store.create_command(mine.id, "validate", {})
            await bell.on_changes(store.changes_since(seq, event_seq))
            assert rung.is_set() and not other_rung.is_set()
            rung.clear()
            taken = store.take_pending_commands(mine.id)  # delivered: no longer pending
            assert len(taken) == 1
            after = store.changes_since(seq, event_seq)
            assert [c.status for c in after.commands] == ["delivered"]
            await bell.on_changes(after)
            assert not rung.is_set()
        bell.ring(mine.id)  # nobody listens any more: nothing to wake, nothing kept
        assert bell._waiters == {}

    asyncio.run(main())


def test_a_run_that_ends_rings_its_pollers_as_ended(make_store: MakeStore) -> None:
    """A script's poll is answered when its run reaches a final status (the SDK's poller
    then ends, instead of waiting out a long poll no command can end); a pause, which a
    resume command ends, does not ring."""
    store = make_store()
    mine = store.create_run(project="p", name="mine")
    other = store.create_run(project="p", name="other")
    seq, event_seq = store.current_seq()

    async def main() -> None:
        bell = CommandBell()
        with bell.listen(mine.id) as rung, bell.listen(other.id) as other_rung:
            store.set_status(mine.id, "paused")
            await bell.on_changes(store.changes_since(seq, event_seq))
            assert not rung.is_set() and not rung.ended
            store.set_status(mine.id, "running")
            store.set_status(mine.id, "completed")
            await bell.on_changes(store.changes_since(seq, event_seq))
            assert rung.is_set() and rung.ended
            assert not other_rung.is_set() and not other_rung.ended

    asyncio.run(main())


def test_the_sdk_asks_for_poll_waits_the_server_allows() -> None:
    from traindeck.sdk.remote import COMMAND_WAIT, MAX_COMMAND_WAIT, command_wait_from
    from traindeck.server.routers.batch import MAX_WAIT

    assert MAX_COMMAND_WAIT == MAX_WAIT
    assert command_wait_from(None) == command_wait_from(" ") == COMMAND_WAIT
    assert command_wait_from("12.5") == 12.5
    for bad in ("0", "-1", "31", "nan", "inf", "soon"):
        with pytest.raises(ValueError, match="TRAINDECK_COMMAND_WAIT"):
            command_wait_from(bad)
