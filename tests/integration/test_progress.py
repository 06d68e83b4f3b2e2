"""Progress, speed and ETA of real training processes, as a user sees them: over REST
(``GET /api/runs/{id}``), over the WebSocket (``run_update``) and in the CLI (``runs ls``,
``tail``). One child writes the store itself (embedded), another sends HTTP batches to
the server: the server learns of both through its change feed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from serving import served
from support import clean_env, open_dir_store, wait_for

from traindeck.server import Settings, create_app
from traindeck.server.protocol import SERVER_MESSAGE
from traindeck.server.schemas import RunOut
from traindeck.store import Store

SCRIPT = Path(__file__).parent / "scripts" / "progress_child.py"
Child = Callable[..., tuple[subprocess.Popen[str], str]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_dir_store(tmp_path / "td")
    yield s
    s.close()


@pytest.fixture
def server(tmp_path: Path, store: Store) -> Iterator[str]:
    with served(create_app(Settings(dir=tmp_path / "td"), store=store)) as url:
        yield url


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    """Start ``progress_child.py``; ``remote=URL`` sends to a server instead of the store."""
    children: list[subprocess.Popen[str]] = []

    def start(*args: str, remote: str | None = None) -> tuple[subprocess.Popen[str], str]:
        env = clean_env()
        env.update(TRAINDECK_DIR=str(tmp_path / ("spool" if remote else "td")),
                   TRAINDECK_STRICT="1")
        if remote:
            env["TRAINDECK_URL"] = remote
        err = (tmp_path / f"child{len(children)}.err").open("w")
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
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


def find_run(url: str, run_id: str) -> dict[str, Any] | None:
    """The run, or None while the server does not know it yet."""
    r = httpx.get(f"{url}/api/runs/{run_id}", timeout=10)
    if r.status_code == 404:
        return None
    RunOut.model_validate(r.json())
    return r.json()  # type: ignore[no-any-return]


def get_run(url: str, run_id: str) -> dict[str, Any]:
    body = httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()
    RunOut.model_validate(body)
    return body  # type: ignore[no-any-return]


async def run_updates(ws_url: str, run_id: str, until: Callable[[dict[str, Any]], bool],
                      timeout: float = 60.0) -> list[dict[str, Any]]:
    """The ``run_update`` messages of a run until one satisfies ``until``."""
    seen: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id}))
        deadline = time.monotonic() + timeout
        while not seen or not until(seen[-1]):
            left = deadline - time.monotonic()
            assert left > 0, f"no run_update as wanted; got {seen[-3:]}"
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            SERVER_MESSAGE.validate_python(msg)
            if msg["type"] == "run_update" and msg["run"]["id"] == run_id:
                seen.append(msg["run"])
    return seen


def test_an_embedded_run_with_a_total_shows_progress_speed_and_a_shrinking_eta(
    server: str, store: Store, child: Child, tmp_path: Path
) -> None:
    proc, run_id = child("--steps", "400", "--sleep", "0.02", "--total", "400")
    ws_url = server.replace("http", "ws") + "/ws"
    updates = asyncio.run(run_updates(
        ws_url, run_id, lambda r: r["steps_per_s"] is not None and r["eta_s"] is not None))
    live = updates[-1]
    assert live["total_steps"] == 400 and 0 < live["progress"] < 1
    assert live["steps_per_s"] > 0
    first = wait_for(lambda: (r := get_run(server, run_id))["eta_s"] is not None and r,
                     what="an ETA over REST")
    later = wait_for(lambda: (r := get_run(server, run_id))["progress"] is not None
                     and r["eta_s"] is not None and r["progress"] > first["progress"]
                     and r["eta_s"] < first["eta_s"] and r, what="a shrinking ETA")
    assert later["steps_per_s"] > 0
    # The CLI reads the same store while the run goes.
    shown = cli("runs", "ls", "-d", str(tmp_path / "td"), "--json")
    [row] = json.loads(shown)["runs"]
    assert row["total_steps"] == 400 and row["steps_per_s"] > 0
    head = cli("tail", run_id, "-d", str(tmp_path / "td"), "--once")
    assert "% of 400" in head and "steps/s" in head and "ETA" in head
    assert proc.wait(120) == 0
    done = wait_for(lambda: (r := get_run(server, run_id))["status"] == "completed"
                    and r["progress"] == 1.0 and r, what="the finished run")
    assert done["eta_s"] is None and done["steps_per_s"] > 0
    table = cli("runs", "ls", "-d", str(tmp_path / "td"))
    assert "400/400" in table and "100%" in table


def test_a_remote_run_without_a_total_shows_speed_then_progress_once_set(
    server: str, child: Child
) -> None:
    proc, run_id = child("--steps", "300", "--sleep", "0.02", "--set-total-at", "150",
                         remote=server)
    # a remote run reaches the server with the SDK's first batch, after READY
    first = wait_for(lambda: (r := find_run(server, run_id)) is not None
                     and r["steps_per_s"] is not None and r, what="a speed over REST")
    if first["total_steps"] is None:
        assert (first["progress"], first["eta_s"]) == (None, None)
        assert first["steps_per_s"] > 0
    later = wait_for(lambda: (r := get_run(server, run_id))["total_steps"] == 300
                     and r["progress"] is not None and r, what="set_total")
    assert 0.4 < later["progress"] <= 1.0
    assert proc.wait(120) == 0
    done = wait_for(lambda: (r := get_run(server, run_id))["status"] == "completed"
                    and r["progress"] == 1.0 and r, what="the finished run")
    assert done["eta_s"] is None and done["steps_per_s"] > 0


def cli(*args: str) -> str:
    env = clean_env()
    env["COLUMNS"] = "200"
    out = subprocess.run([sys.executable, "-m", "traindeck.cli", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout
