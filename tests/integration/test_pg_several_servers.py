"""Several ``traindeck serve`` processes over one PostgreSQL store and one files folder,
alone and behind a real nginx (the configuration of docs/deployment.md): what one server
hears reaches the others' clients, one server leads and another takes over when it dies,
and a server killed under load loses nothing a training script sent.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from nginx_service import running_nginx
from pg_service import PostgresService
from support import clean_env, free_port, wait_for

from traindeck.store import NotFound, Store, open_store


@dataclass
class ServerProc:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def version(self) -> dict[str, Any]:
        out: dict[str, Any] = httpx.get(f"{self.url}/api/version", timeout=5).json()
        return out

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


@dataclass
class Shared:
    url: str
    files: Path
    logs: Path
    servers: list[ServerProc]

    def serve(self) -> ServerProc:
        """One more ``traindeck serve --store URL --dir FILES`` on a free port."""
        port = free_port()
        with (self.logs / f"server-{port}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "traindeck.cli", "serve", "--store", self.url,
                 "--dir", str(self.files), "--port", str(port)],
                stdout=log, stderr=log, env={**clean_env(), "TRAINDECK_STORE": ""})
        server = ServerProc(f"http://127.0.0.1:{port}", port, proc)
        self.servers.append(server)

        def up() -> bool:
            assert proc.poll() is None, (self.logs / f"server-{port}.log").read_text()
            try:
                return httpx.get(f"{server.url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, what="a server")
        return server

    def store(self) -> Store:
        return open_store(self.url, files_root=self.files)


@pytest.fixture
def shared(postgres: PostgresService, tmp_path: Path) -> Iterator[Shared]:
    logs = tmp_path / "logs"
    logs.mkdir()
    one = Shared(postgres.url(schema=f"multi_{secrets.token_hex(4)}"), tmp_path / "files",
                 logs, [])
    try:
        yield one
    finally:
        for server in one.servers:
            if server.proc.poll() is None:
                server.proc.terminate()
                try:
                    server.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    server.proc.wait()


async def points_over_ws(ws_url: str, run_id: str, key: str, want: int) -> dict[int, float]:
    got: dict[int, float] = {}
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id,
                                  "since": {"steps": {key: -1}}}))
        while len(got) < want:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if msg.get("type") == "metric_update" and msg.get("run_id") == run_id:
                for step, _t, value in msg["points"].get(key, []):
                    got[step] = float(value)
    return got


def test_pg_a_point_posted_to_one_server_reaches_a_websocket_of_another(
    shared: Shared,
) -> None:
    import traindeck as td

    a, b = shared.serve(), shared.serve()
    run = td.init(project="p", dir=shared.files.parent / "client", url=a.url,
                  system_interval=None)
    try:
        run.log({"loss": 0.5}, step=0)
        assert run.flush(timeout=60)
        result: dict[int, float] = {}
        listening = threading.Thread(target=lambda: result.update(
            asyncio.run(points_over_ws(b.ws_url, run.id, "loss", 20))), daemon=True)
        listening.start()
        for step in range(1, 20):
            run.log({"loss": 1.0 / step}, step=step)
        assert run.flush(timeout=60)  # all of it is on server A
        listening.join(timeout=90)
        assert result == {0: 0.5, **{s: 1.0 / s for s in range(1, 20)}}
    finally:
        run.finish()


def test_pg_a_command_posted_on_one_server_reaches_a_script_polling_another(
    shared: Shared,
) -> None:
    a, b = shared.serve(), shared.serve()
    with shared.store() as store:
        run = store.create_run(project="p", name="steered", commands_offered=["validate"])
    delivered: list[dict[str, Any]] = []

    def poll_b() -> None:
        r = httpx.post(f"{b.url}/api/runs/{run.id}/commands/deliver", params={"wait": 30},
                       timeout=60)
        delivered.extend(r.json()["commands"])

    poller = threading.Thread(target=poll_b, daemon=True)
    poller.start()
    posted = httpx.post(f"{a.url}/api/runs/{run.id}/commands",
                        json={"name": "validate", "args": {"scale": 2}}).json()
    poller.join(timeout=60)
    assert [(c["id"], c["name"], c["args"]) for c in delivered] == [
        (posted["id"], "validate", {"scale": 2})]
    assert httpx.get(f"{a.url}/api/commands/{posted['id']}").json()["status"] == "delivered"


def test_pg_one_server_leads_and_another_takes_over_when_it_dies(shared: Shared) -> None:
    first, second = shared.serve(), shared.serve()
    assert wait_for(lambda: first.version()["leader"], what="the first server to lead")
    assert second.version()["leader"] is False
    with shared.store() as store:
        assert store.lead("lead") is False  # taken, by a server
        assert second.version()["engine"] == store.engine_version()
        first.kill9()
        assert wait_for(lambda: second.version()["leader"], what="the second to take over")
        # and it does the leader's work: a run that stopped beating is interrupted
        stale = store.create_run(project="p", name="silent", heartbeat_timeout=0.5)
        wait_for(lambda: store.get_run(stale.id).status == "interrupted",
                 what="the new leader to reap the silent run")


CHILD = """
import sys, time
import traindeck as td
n = int(sys.argv[1])
run = td.init(project="load", name="through the proxy", system_interval=None)
print("READY", run.id, flush=True)
for step in range(n):
    run.log({f"k{j}": step * 10 + j for j in range(5)}, step=step)
    if step % 50 == 0:
        time.sleep(0.01)
run.finish()
print("DONE", flush=True)
"""


def test_pg_a_server_killed_under_load_behind_nginx_loses_nothing(shared: Shared,
                                                                  tmp_path: Path) -> None:
    a, b = shared.serve(), shared.serve()
    with running_nginx([a.port, b.port], tmp_path / "nginx") as proxy:
        n = 20_000
        env = {**clean_env(), "TRAINDECK_URL": proxy, "TRAINDECK_DIR": str(tmp_path / "cl"),
               "TRAINDECK_STORE": ""}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(n)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=tmp_path)
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("READY"), child.stderr.read() if child.stderr else line
        run_id = line.split()[1]
        with shared.store() as store:
            def stored() -> bool:
                try:
                    return any(s.count > 1000 for s in store.metric_keys(run_id))
                except NotFound:  # its first batch is not in yet
                    return False

            wait_for(stored, what="points stored before the kill")
            a.kill9()  # mid-run: its requests in flight fail, the SDK sends them again
            out, err = child.communicate(timeout=300)
            assert child.returncode == 0 and "DONE" in out, err
            for j in range(5):
                points = store.read_points(run_id, f"k{j}")
                assert points.steps.tolist() == list(range(n))  # every step, once
                assert np.array_equal(points.values, np.arange(n) * 10.0 + j)
            assert store.get_run(run_id).status == "completed"
        # the proxy still answers, from the server left
        assert httpx.get(f"{proxy}/api/runs/{run_id}", timeout=10).json()["status"] == \
            "completed"
