"""A real training script in a child process, a real server in another, a real WS client.

The script writes the SQLite file directly (embedded mode); the server follows the file and
pushes what is new. Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from support import SERVE_SCRIPT, free_port, open_dir_store, wait_for

from traindeck.store import Store

SCRIPT = Path(__file__).parent / "scripts" / "train_child.py"




@dataclass
class Server:
    url: str
    ws_url: str
    dir: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    tdir = tmp_path / "td"
    code = (
        SERVE_SCRIPT +
        "serve(Settings(**where, port=int(sys.argv[2]), reap_interval=0.2))"
    )
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(tdir), str(port)],
            stdout=subprocess.DEVNULL, stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, what="server up")
    yield Server(url, f"ws://127.0.0.1:{port}/ws", tdir, proc)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def start_child(server: Server, tmp_path: Path) -> Iterator[Callable[..., tuple[Any, str]]]:
    """Start ``train_child.py`` with args; returns (process, run id). Reaped at teardown."""
    children: list[subprocess.Popen[str]] = []
    env = {**os.environ, "TRAINDECK_DIR": str(server.dir), "TRAINDECK_STRICT": "1"}

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        err = (tmp_path / f"child{len(children)}.err").open("w")
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], env=env, stdout=subprocess.PIPE,
            stderr=err, text=True,
        )
        err.close()
        children.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), f"child said {line!r}"
        return proc, line.split()[1]

    yield start
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def store(server: Server) -> Iterator[Store]:
    s = open_dir_store(server.dir)
    yield s
    s.close()


async def collect_points(ws_url: str, run_id: str, want_steps: int,
                         timeout: float = 60.0) -> dict[int, float]:
    got: dict[int, float] = {}
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id,
                                  "since": {"steps": {"loss": -1}}}))
        deadline = time.monotonic() + timeout
        while len(got) < want_steps:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"only {len(got)} points arrived over the WebSocket")
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            if msg.get("type") == "metric_update" and msg.get("run_id") == run_id:
                for step, _t, value in msg["points"].get("loss", []):
                    v = value if not isinstance(value, str) else float(value)
                    assert step not in got, f"step {step} pushed twice"
                    got[step] = v
    return got


def test_points_of_a_training_process_arrive_over_the_websocket(
    server: Server, tmp_path: Path, store: Store,
    start_child: Callable[..., tuple[Any, str]],
) -> None:
    proc, run_id = start_child("--steps", "200", "--sleep", "0.005")
    try:
        got = asyncio.run(collect_points(server.ws_url, run_id, 200))
    finally:
        proc.wait(60)
    assert sorted(got) == list(range(200))
    assert math.isnan(got[3])
    assert got[10] == 1.0 / 11
    assert proc.returncode == 0
    wait_for(lambda: store.get_run(run_id).status == "completed", what="completed")


def test_a_command_posted_over_rest_reaches_the_handler_and_returns_its_result(
    server: Server, tmp_path: Path, store: Store,
    start_child: Callable[..., tuple[Any, str]],
) -> None:
    proc, run_id = start_child("--sleep", "0.01")
    try:
        wait_for(lambda: "validate" in httpx.get(f"{server.url}/api/runs/{run_id}").json()
                 ["commands_offered"], what="validate offered")
        r = httpx.post(f"{server.url}/api/runs/{run_id}/commands",
                       json={"name": "validate", "args": {"scale": 2.0}})
        assert r.status_code == 201, r.text
        cmd_id = r.json()["id"]

        def done() -> dict[str, Any] | None:
            c = httpx.get(f"{server.url}/api/commands/{cmd_id}").json()
            return c if c["status"] in ("done", "failed") else None

        cmd = wait_for(done, what="command result")
        assert cmd["status"] == "done", cmd
        assert cmd["result"]["at_step"] >= 0
        assert cmd["result"]["val_loss"] == 2.0 / (cmd["result"]["at_step"] + 1)
        stop = httpx.post(f"{server.url}/api/runs/{run_id}/commands", json={"name": "stop"})
        assert stop.status_code == 201
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # Stopped by a person: cancelled (defect 7).
    wait_for(lambda: store.get_run(run_id).status == "cancelled", what="cancelled after stop")


def test_sigkill_turns_the_run_interrupted(
    server: Server, tmp_path: Path, store: Store,
    start_child: Callable[..., tuple[Any, str]],
) -> None:
    proc, run_id = start_child("--heartbeat-timeout", "1.0")
    wait_for(lambda: store.get_run(run_id).status == "running"
             and any(k.key == "loss" and k.count > 5 for k in store.metric_keys(run_id)),
             what="training")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    wait_for(lambda: store.get_run(run_id).status == "interrupted", what="interrupted")
    change = [e.payload for e in store.list_events(run_id, kind="status_change")][-1]
    assert change["new_status"] == "interrupted" and change["old_status"] == "running"


def test_sigterm_runs_the_exit_hook_then_marks_interrupted(
    server: Server, tmp_path: Path, store: Store,
    start_child: Callable[..., tuple[Any, str]],
) -> None:
    marker = tmp_path / "exit-hook"
    proc, run_id = start_child("--marker", str(marker))
    wait_for(lambda: any(k.key == "loss" and k.count > 20 for k in store.metric_keys(run_id)),
             what="training")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert marker.read_text().startswith("exit hook ran")
    run = store.get_run(run_id)
    assert run.status == "interrupted"
    assert [e.payload for e in store.list_events(run_id, kind="signal")] == [{"signal": "SIGTERM"}]
    # Everything logged before the signal was written: steps 0..last with no hole.
    steps = store.read_points(run_id, "loss").steps.tolist()
    assert steps == list(range(len(steps))) and len(steps) > 20
