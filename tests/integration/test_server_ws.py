"""A real server (uvicorn on a free port, in a thread) and a real ``websockets`` client.

The test writes the SQLite file through its own store connection, as a training process
does; the server only follows the file. The server's store has an injected clock so that a
lost heartbeat is a clock jump, not a sleep. Nothing asserts timing: waits poll with a
deadline.
"""

from __future__ import annotations

import asyncio
import math
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from serving import bound_socket, served
from support import SERVE_SCRIPT, MakeStore, is_postgres_suite, server_settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from traindeck.server import create_app
from traindeck.server.protocol import SERVER_MESSAGE
from traindeck.store import Store

TIMEOUT = 20.0


class Clock:
    """Real time plus an offset the test can move."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Live:
    url: str
    ws_url: str
    clock: Clock
    writer: Store


@pytest.fixture
def live(tmp_path: Path, make_store: MakeStore) -> Iterator[Live]:
    sock = bound_socket()
    port = sock.getsockname()[1]
    path = tmp_path / "td" / "traindeck.db"
    clock = Clock()
    server_store = make_store(clock=clock)
    settings = server_settings(path, port=port, follow_interval=0.02, reap_interval=0.05,
                        web_dir=tmp_path / "no-web")
    app = create_app(settings, store=server_store, clock=clock)
    writer = make_store()
    with served(app, sock) as url:
        yield Live(url, f"ws://127.0.0.1:{port}/ws", clock, writer)


class Conn:
    """A WebSocket client that checks every message against the protocol models."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **msg: Any) -> None:
        await self.ws.send(orjson.dumps(msg).decode())

    async def recv(self) -> dict[str, Any]:
        msg: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        SERVER_MESSAGE.validate_python(msg)
        self.seen.append(msg)
        return msg

    async def until(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            msg = await self.recv()
            if pred(msg):
                return msg

    async def points(self, run_id: str, key: str, count: int) -> list[list[Any]]:
        """Collect ``count`` points of one series from metric updates."""
        got: list[list[Any]] = []
        while len(got) < count:
            msg = await self.until(lambda m: m["type"] == "metric_update"
                                   and m["run_id"] == run_id)
            got += msg["points"].get(key, [])
        return got

    async def fence(self) -> list[dict[str, Any]]:
        """Everything received before a pong: the server has handled all we sent."""
        before = len(self.seen)
        await self.send(type="ping", id="fence")
        await self.until(lambda m: m["type"] == "pong" and m["id"] == "fence")
        return self.seen[before:-1]


@pytest.fixture
async def ws(live: Live) -> AsyncIterator[Conn]:
    async with connect(live.ws_url) as c:
        yield Conn(c)


def write(store: Store, run_id: str, key: str, steps: range,
          values: list[float] | None = None) -> None:
    vals = [float(s) for s in steps] if values is None else values
    store.write_metrics(run_id, {key: (list(steps), [1000.0 + s for s in steps], vals)})


async def test_points_written_to_the_file_arrive_exactly(live: Live, ws: Conn) -> None:
    live.writer.create_run(project="p", id="r1")
    await ws.send(type="subscribe", run_id="r1")
    ack = await ws.until(lambda m: m["type"] == "subscribed")
    assert ack["cursor"]["steps"] == {}
    values = [0.5, math.nan, math.inf, -math.inf, 1e-300]
    write(live.writer, "r1", "loss", range(5), values)
    write(live.writer, "r1", "loss", range(5, 205))
    got = await ws.points("r1", "loss", 205)
    assert got[:5] == [[0, 1000.0, 0.5], [1, 1001.0, "NaN"], [2, 1002.0, "Infinity"],
                       [3, 1003.0, "-Infinity"], [4, 1004.0, 1e-300]]
    assert [p[0] for p in got] == list(range(205))
    assert [p[2] for p in got[5:]] == [float(s) for s in range(5, 205)]


async def test_status_change_is_pushed(live: Live, ws: Conn) -> None:
    live.writer.create_run(project="p", id="r1")
    await ws.send(type="subscribe", run_id="r1")
    await ws.until(lambda m: m["type"] == "subscribed")
    live.writer.set_status("r1", "completed")
    msg = await ws.until(lambda m: m["type"] == "status_change")
    assert (msg["run_id"], msg["old_status"], msg["new_status"]) == ("r1", "running",
                                                                     "completed")
    [event] = [m["event"] for m in ws.seen if m["type"] == "event"]
    assert event["seq"] == msg["seq"] and event["payload"]["new_status"] == "completed"


async def test_command_created_over_rest_is_pushed(live: Live, ws: Conn) -> None:
    live.writer.create_run(project="p", id="r1")
    await ws.send(type="subscribe", run_id="r1")
    await ws.until(lambda m: m["type"] == "subscribed")
    async with httpx.AsyncClient(base_url=live.url) as http:
        r = await http.post("/api/runs/r1/commands", json={"name": "save", "args": {"k": 1}})
        assert r.status_code == 201, r.text
    cmd_id = r.json()["id"]
    pushed = await ws.until(lambda m: m["type"] == "command_update")
    assert pushed["command"]["id"] == cmd_id and pushed["command"]["status"] == "pending"
    [taken] = live.writer.take_pending_commands("r1")
    live.writer.finish_command(taken.id, ok=True, result={"path": "/ckpt"})
    done = await ws.until(lambda m: m["type"] == "command_update"
                          and m["command"]["status"] == "done")
    assert done["command"]["result"] == {"path": "/ckpt"}


async def test_reconnect_with_a_cursor_gets_exactly_what_it_missed(live: Live) -> None:
    live.writer.create_run(project="p", id="r1")
    write(live.writer, "r1", "loss", range(100))
    async with connect(live.ws_url) as c:
        first = Conn(c)
        await first.send(type="subscribe", run_id="r1", since={"steps": {"loss": 39}})
        ack = await first.until(lambda m: m["type"] == "subscribed")
        event_seq = ack["cursor"]["event_seq"]
        got = await first.points("r1", "loss", 60)
        write(live.writer, "r1", "loss", range(100, 150), [math.nan] * 50)
        got += await first.points("r1", "loss", 50)
    # Disconnected: the run goes on, a new key appears, something happens.
    write(live.writer, "r1", "loss", range(150, 300))
    write(live.writer, "r1", "lr", range(10))
    live.writer.add_event("r1", "note", {"text": "while you were away"})
    last = got[-1][0]
    async with connect(live.ws_url) as c:
        again = Conn(c)
        await again.send(type="subscribe", run_id="r1",
                         since={"event_seq": event_seq, "steps": {"loss": last}})
        got += await again.points("r1", "loss", 150)
        write(live.writer, "r1", "loss", range(300, 310))
        got += await again.points("r1", "loss", 10)
        lr = [p for m in again.seen if m["type"] == "metric_update"
              for p in m["points"].get("lr", [])]
        if len(lr) < 10:
            lr += await again.points("r1", "lr", 10 - len(lr))
        extra = await again.fence()
    notes = [m["event"]["payload"] for m in again.seen
             if m["type"] == "event" and m["event"]["kind"] == "note"]
    assert notes == [{"text": "while you were away"}]
    steps = [p[0] for p in got]
    assert steps == list(range(40, 310))   # no hole, no duplicate
    assert all(p[2] == "NaN" for p in got if 100 <= p[0] < 150)
    assert [p[0] for p in lr] == list(range(10))
    assert not [m for m in extra if m["type"] == "metric_update"]


async def test_heartbeat_lost_is_pushed_as_interrupted(live: Live, ws: Conn) -> None:
    live.writer.create_run(project="p", id="r1", heartbeat_timeout=30.0)
    await ws.send(type="subscribe", run_id="r1")
    await ws.until(lambda m: m["type"] == "subscribed")
    live.clock.offset = 3600.0   # the server's clock: an hour without a heartbeat
    msg = await ws.until(lambda m: m["type"] == "status_change")
    assert (msg["old_status"], msg["new_status"], msg["reason"]) == (
        "running", "interrupted", "heartbeat lost")
    assert live.writer.get_run("r1").status == "interrupted"


async def test_project_subscription(live: Live, ws: Conn) -> None:
    await ws.send(type="subscribe", project="p")
    await ws.until(lambda m: m["type"] == "subscribed")
    live.writer.create_run(project="q", id="other")
    live.writer.create_run(project="p", id="mine")
    update = await ws.until(lambda m: m["type"] == "run_update")
    assert update["run"]["id"] == "mine"
    assert all(m.get("run_id", m.get("run", {}).get("id")) != "other" for m in ws.seen)


async def test_star_subscribes_to_every_project_once(live: Live, ws: Conn) -> None:
    await ws.send(type="subscribe", project="*")
    await ws.send(type="subscribe", project="p")  # overlapping: still one message per change
    await ws.until(lambda m: m["type"] == "subscribed" and m["project"] == "p")
    live.writer.create_run(project="q", id="other")
    live.writer.create_run(project="p", id="mine")
    await ws.until(lambda m: m["type"] == "run_update" and m["run"]["id"] == "mine")
    live.writer.set_status("other", "completed")
    await ws.until(lambda m: m["type"] == "status_change" and m["run_id"] == "other"
                   and m["new_status"] == "completed")
    await ws.send(type="ping", id="end")  # anything sent twice would come before the pong
    await ws.until(lambda m: m["type"] == "pong")
    changes = [m["seq"] for m in ws.seen
               if m["type"] == "status_change" and m["run_id"] == "other"]
    assert len(changes) == 2 and len(set(changes)) == 2  # created, completed: once each


async def test_bad_messages_get_errors_and_the_connection_stays(ws: Conn) -> None:
    await ws.ws.send("{not json")
    assert (await ws.recv())["code"] == "invalid_input"
    await ws.send(type="subscribe")
    assert (await ws.recv())["code"] == "invalid_input"
    await ws.send(type="subscribe", run_id="a", project="b")
    assert (await ws.recv())["code"] == "invalid_input"
    await ws.send(type="launch")
    assert (await ws.recv())["code"] == "invalid_input"
    await ws.send(type="subscribe", run_id="nope")
    err = await ws.recv()
    assert err["type"] == "error" and err["code"] == "not_found"
    await ws.ws.send(b"\x00binary")
    assert (await ws.recv())["code"] == "invalid_input"
    await ws.send(type="ping", id=7)
    assert await ws.recv() == {"type": "pong", "id": 7}


async def test_subscriptions_per_connection_are_bounded(live: Live, ws: Conn) -> None:
    for i in range(65):
        live.writer.create_run(project="p", id=f"r{i}")
        await ws.send(type="subscribe", run_id=f"r{i}")
    msgs = await ws.fence()
    assert sum(m["type"] == "subscribed" for m in msgs) == 64
    assert [m["code"] for m in msgs if m["type"] == "error"] == ["too_many_subscriptions"]
    await ws.send(type="unsubscribe", run_id="r0")
    assert await ws.until(lambda m: m["type"] == "unsubscribed") == {
        "type": "unsubscribed", "run_id": "r0"}


async def test_foreign_origins_are_refused(live: Live) -> None:
    with pytest.raises(InvalidStatus) as exc:
        async with connect(live.ws_url, origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert exc.value.response.status_code == 403
    own = live.url
    async with connect(live.ws_url, origin=own) as c:  # type: ignore[arg-type]
        await c.send('{"type": "ping"}')
        assert orjson.loads(await c.recv()) == {"type": "pong", "id": None}


async def test_rest_over_a_real_socket(live: Live) -> None:
    live.writer.create_run(project="p", id="r1")
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/api/runs")).json()["total"] == 1
        big = b"x" * (2 * 1024 * 1024)
        r = await http.post("/api/runs/r1/commands", content=big,
                            headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(32):
                yield b"y" * 65536

        r = await http.post("/api/runs/r1/commands", content=chunked(),
                            headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert (await http.get("/health")).status_code == 200


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_uvicorn_and_prints_its_url(tmp_path: Path, stop: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (SERVE_SCRIPT +
            "serve(Settings(**where, port=int(sys.argv[2]), web_dir=sys.argv[3]))")
    with subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "td"), str(port), str(tmp_path / "w")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip().endswith(f"at http://127.0.0.1:{port}"), line
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
            # no dashboard built in web_dir: the note on how to build it
            assert page.status_code == 503 and "npm run build" in page.text
            version = httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=5).json()
            assert version["schema_version"] >= 1 and version["leader"] is True
            if not is_postgres_suite():  # the store it made: a file in the folder
                assert (tmp_path / "td" / "traindeck.db").exists()
        finally:
            proc.send_signal(stop)
            _, err = proc.communicate(timeout=TIMEOUT)
    # Ctrl-C is a normal way to stop a server; SIGTERM ends it by that signal, cleanly.
    assert proc.returncode == (0 if stop == signal.SIGINT else -stop), err
    assert "Traceback" not in err
