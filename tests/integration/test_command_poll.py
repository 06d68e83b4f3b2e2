"""The SDK's command long-poll against a real server: held long (one request a run every
``TRAINDECK_COMMAND_WAIT`` seconds while no command comes), yet a command still reaches the
script at once, and a finished run's poller ends with the run instead of waiting its poll
out. The test holds its polls for the longest wait, so that anything that ends one early
(the bell) is told apart from the poll ending by itself with a wide margin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, start_server, stop_process

import traindeck as td
from traindeck.sdk.remote import MAX_COMMAND_WAIT

#: Well under the poll's wait: the bell's answer, not the poll's end, must beat it.
SOON = MAX_COMMAND_WAIT / 3


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_server(tmp_path / "srv", port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def poller(run_id: str) -> threading.Thread:
    return next(t for t in threading.enumerate() if t.name == f"traindeck-commands-{run_id}")


def test_a_command_arrives_while_the_poll_is_held_and_the_poller_ends_with_the_run(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setenv("TRAINDECK_COMMAND_WAIT", str(MAX_COMMAND_WAIT))
    run = td.init(project="p", name="polled", dir=tmp_path / "client", url=url,
                  system_interval=None)
    answered = threading.Event()

    @run.command("ping")
    def ping() -> str:
        answered.set()
        return "pong"

    thread = poller(run.id)
    step = 0
    try:
        run.log({"x": 1.0}, step=step)
        assert run.flush(timeout=30)
        sent = httpx.post(f"{url}/api/runs/{run.id}/commands",
                          json={"name": "ping", "args": {}}).json()
        deadline = time.monotonic() + SOON  # a held poll answered by the bell
        while not answered.is_set() and time.monotonic() < deadline:
            step += 1
            run.log({"x": 1.0}, step=step)  # the script's loop runs commands between steps
            time.sleep(0.02)
        assert answered.is_set()
        assert run.flush(timeout=30)
        got = httpx.get(f"{url}/api/commands/{sent['id']}").json()
        assert got["status"] == "done" and got["result"] == "pong"
    finally:
        run.finish()
    # the run's final status rings its held poll: the poller is gone long before a poll
    # would end by itself
    thread.join(SOON)
    assert not thread.is_alive()
