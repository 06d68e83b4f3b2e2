"""Remote mode for real: a server subprocess on a free port, a training script in another
process with ``TRAINDECK_URL``, points checked in the server's store and over its WebSocket,
a command sent from the API and answered by the script, offline runs uploaded with
``traindeck sync`` (twice: the second adds nothing), a spool that hits a full disk.

Nothing is mocked: the processes, sockets and files are real.
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
import numpy as np
import pytest
import websockets
from support import SERVE_SCRIPT, free_port, open_dir_store, wait_for

from traindeck.store import Store

CHILD = r'''
import math, os, resource, signal, sys, time
import traindeck as td

steps, sleep = int(sys.argv[1]), float(sys.argv[2])
if os.environ.get("FSIZE_LIMIT"):  # a "full disk": writes past this size fail (EFBIG)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(os.environ["FSIZE_LIMIT"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
run = td.init(project="remote", name=os.environ.get("CHILD_NAME", "child"),
              config={"steps": steps, "lr": 0.1}, heartbeat_interval=0.2,
              heartbeat_timeout=10.0, system_interval=None)

@run.command("validate")
def validate(scale: float = 1.0):
    return {"val": scale * 2, "nan": math.nan, "at": run.step}

print("READY", run.id, flush=True)
special = {3: math.nan, 4: math.inf, 5: -math.inf}
with run:
    for step in range(steps):
        run.log({"loss": special.get(step, 1.0 / (step + 1)), "sq": float(step * step)},
                step=step)
        if run.should_stop:
            break
        if sleep:
            time.sleep(sleep)
    run.summary["final"] = math.nan
print("DONE", run.step, flush=True)
'''




@dataclass
class Server:
    url: str
    ws_url: str
    dir: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: str = ""  # more Settings arguments

    def start(self) -> None:
        code = (SERVE_SCRIPT +
                "serve(Settings(**where, port=int(sys.argv[2]), reap_interval=0.5"
                f"{self.extra}))")
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen([sys.executable, "-c", code, str(self.dir),
                                          str(self.port)], stdout=subprocess.DEVNULL,
                                         stderr=sink)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                return httpx.get(self.url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, what="server up")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", tmp_path / "srv",
                 port, tmp_path / "server.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(steps: int, sleep: float, env: dict[str, str]) -> subprocess.Popen[str]:
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        err = (tmp_path / f"child{len(procs)}.err").open("w")
        proc = subprocess.Popen(
            [sys.executable, str(script), str(steps), str(sleep)],
            env={**os.environ, "TRAINDECK_DIR": str(tmp_path / "client"), **env},
            stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), f"child said {line!r}"
    return line.split()[1]


def series(store: Store, run_id: str, key: str) -> tuple[np.ndarray[Any, Any], ...]:
    p = store.read_points(run_id, key)
    return p.steps, p.values


async def ws_points(ws_url: str, run_id: str, want: int, timeout: float = 30.0
                    ) -> dict[int, float]:
    got: dict[int, float] = {}
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id,
                                  "since": {"steps": {"loss": -1}}}))
        deadline = time.monotonic() + timeout
        while len(got) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"only {len(got)} points came over the WebSocket")
            msg = json.loads(await asyncio.wait_for(ws.recv(), left))
            if msg.get("type") == "metric_update" and msg.get("run_id") == run_id:
                for step, _t, value in msg["points"].get("loss", []):
                    got[step] = float(value)
    return got


def test_remote_run_points_websocket_and_commands(server: Server, child: Any,
                                                  tmp_path: Path) -> None:
    proc = child(10**9, 0.002, {"TRAINDECK_URL": server.url})
    run_id = ready(proc)
    # The run is created on the server by its first batch.
    wait_for(lambda: httpx.get(f"{server.url}/api/runs/{run_id}").status_code == 200,
             what="the run on the server")
    pushed = asyncio.run(ws_points(server.ws_url, run_id, 50))
    assert math.isnan(pushed[3]) and pushed[4] == math.inf and pushed[5] == -math.inf
    run = httpx.get(f"{server.url}/api/runs/{run_id}").json()
    assert run["status"] == "running" and run["config"] == {"steps": 10**9, "lr": 0.1}
    assert wait_for(lambda: "validate" in httpx.get(
        f"{server.url}/api/runs/{run_id}").json()["commands_offered"], what="commands")

    # A command from the API reaches the remote script, and its result comes back.
    sent = time.monotonic()
    cmd = httpx.post(f"{server.url}/api/runs/{run_id}/commands",
                     json={"name": "validate", "args": {"scale": 3}}).json()

    def done() -> dict[str, Any] | None:
        c: dict[str, Any] = httpx.get(f"{server.url}/api/commands/{cmd['id']}").json()
        return c if c["status"] in ("done", "failed") else None

    result = wait_for(done, timeout=10, what="the command's result")
    took = time.monotonic() - sent
    assert result["status"] == "done", result
    assert result["result"]["val"] == 6 and result["result"]["nan"] == "NaN"
    assert took < 5, f"the command took {took:.1f} s"  # a second in practice

    httpx.post(f"{server.url}/api/runs/{run_id}/commands", json={"name": "stop"})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, (tmp_path / "child0.err").read_text()
    last = int(out.split("DONE")[1].split()[0]) - 1

    with open_dir_store(server.dir) as store:
        run_row = store.get_run(run_id)
        assert run_row.status == "cancelled"  # stopped from the API (defect 7)
        assert math.isnan(run_row.summary["final"]) if isinstance(
            run_row.summary["final"], float) else run_row.summary["final"] == "NaN"
        steps, values = series(store, run_id, "loss")
        assert steps.tolist() == list(range(last + 1))  # every point, once
        assert math.isnan(values[3]) and values[4] == math.inf and values[5] == -math.inf
        assert values[10] == 1 / 11
    spool = tmp_path / "client" / "runs" / run_id / "spool"
    assert not list(spool.glob("*.seg")), "everything acknowledged leaves the spool"


def test_offline_then_sync_twice_adds_nothing(server: Server, child: Any,
                                              tmp_path: Path) -> None:
    proc = child(5000, 0.0, {"TRAINDECK_MODE": "offline"})
    run_id = ready(proc)
    _, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    err = (tmp_path / "child0.err").read_text()
    assert "traindeck sync" in err  # the run says how to upload it
    client_dir = tmp_path / "client"
    assert httpx.get(f"{server.url}/api/runs/{run_id}").status_code == 404

    def sync(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "traindeck.cli", "sync", *map(str, paths),
             "--url", server.url], capture_output=True, text=True, timeout=120,
            env={**os.environ, "COLUMNS": "120"})

    first = sync(client_dir)
    assert first.returncode == 0, first.stderr
    assert "synced" in first.stdout

    def snapshot() -> tuple[Any, ...]:
        with open_dir_store(server.dir) as store:
            run = store.get_run(run_id)
            steps, values = series(store, run_id, "loss")
            events = len(store.list_events(run_id, limit=5000))
            return (run.status, steps.tolist(), values.tobytes(), events,
                    [s.count for s in store.metric_keys(run_id)])

    before = snapshot()
    assert before[0] == "completed"
    assert before[1] == list(range(5000))

    second = sync(client_dir)
    assert second.returncode == 0 and "nothing to sync" in second.stdout
    assert snapshot() == before

    # A batch the server has already applied is acknowledged and changes nothing.
    body = {"batch_id": "replayed:1", "metrics": {"loss": {
        "steps": [1, 2], "times": [1.0, 2.0], "values": [0.5, "NaN"]}}}
    answers = [httpx.post(f"{server.url}/api/runs/{run_id}/batch", json=body).json()
               for _ in range(2)]
    assert [a["applied"] for a in answers] == [True, False]


def test_sync_resends_unacknowledged_batches_exactly_once(server: Server, child: Any,
                                                          tmp_path: Path) -> None:
    proc = child(3000, 0.0, {"TRAINDECK_MODE": "offline"})
    run_id = ready(proc)
    proc.communicate(timeout=60)
    spool = tmp_path / "client" / "runs" / run_id / "spool"
    segments = {p.name: p.read_bytes() for p in spool.glob("*.seg")}
    assert segments
    cmd = [sys.executable, "-m", "traindeck.cli", "sync", str(spool), "--url", server.url]
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    with open_dir_store(server.dir) as store:
        before = [(s.key, s.count) for s in store.metric_keys(run_id)]
        events = len(store.list_events(run_id, limit=5000))
    # Put the spool back as it was before the sync (a sync killed before its acks).
    for name, data in segments.items():
        (spool / name).write_bytes(data)
    (spool / "acked").unlink()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "synced" in again.stdout
    with open_dir_store(server.dir) as store:
        assert [(s.key, s.count) for s in store.metric_keys(run_id)] == before
        assert len(store.list_events(run_id, limit=5000)) == events


def test_bearer_token_is_sent(tmp_path: Path, child: Any) -> None:
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", "", tmp_path / "srv", port, tmp_path / "s.log")
    with open_dir_store(srv.dir) as store:
        _, secret = store.create_token("sdk", "write")
    srv.start()
    try:
        assert httpx.post(f"{srv.url}/api/runs/x/batch", json={}).status_code == 401
        proc = child(500, 0.0, {"TRAINDECK_URL": srv.url, "TRAINDECK_TOKEN": secret})
        run_id = ready(proc)
        proc.communicate(timeout=60)
        assert proc.returncode == 0
        with open_dir_store(srv.dir) as store:
            assert store.get_run(run_id).status == "completed"
            assert series(store, run_id, "loss")[0].tolist() == list(range(500))
    finally:
        srv.stop()


def test_full_disk_on_the_spool_loses_nothing(tmp_path: Path, child: Any) -> None:
    """The server is away and the spool's disk fills up: training goes on, the user is
    told once, and once the server is back (the spool drains and frees its space) every
    point arrives."""
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", "", tmp_path / "srv", port, tmp_path / "s.log")
    proc = child(6000, 0.001, {"TRAINDECK_URL": srv.url, "FSIZE_LIMIT": str(256 * 1024)})
    run_id = ready(proc)
    err = tmp_path / "child0.err"
    wait_for(lambda: "File too large" in err.read_text(), timeout=60, what="a full spool")
    time.sleep(1.0)
    assert proc.poll() is None, "training goes on"
    srv.start()
    try:
        proc.communicate(timeout=120)
        assert proc.returncode == 0, err.read_text()
        text = err.read_text()
        assert text.count("File too large") == 1, text  # told once
        with open_dir_store(srv.dir) as store:
            wait_for(lambda: store.get_run(run_id).status == "completed", timeout=30,
                     what="the final status")
            steps, _ = series(store, run_id, "loss")
            assert steps.tolist() == list(range(6000))
    finally:
        srv.stop()


def test_batch_route_errors(server: Server) -> None:
    url = server.url
    ok = {"batch_id": "b1", "run": {"project": "p", "name": "n"},
          "metrics": {"x": {"steps": [0, 1, 2], "times": [1.0, 1.0, 1.0],
                            "values": ["NaN", "Infinity", "-Infinity"]}}}
    r = httpx.post(f"{url}/api/runs/r1/batch", json=ok)
    assert r.status_code == 200 and r.json() == {"batch_id": "b1", "applied": True}
    pts = httpx.get(f"{url}/api/runs/r1/metrics/latest").json()["latest"]["x"]
    assert pts["value"] == "-Infinity"

    def err(run: str, body: Any, content: bytes | None = None) -> tuple[int, str]:
        if content is None:
            r = httpx.post(f"{url}/api/runs/{run}/batch", json=body)
        else:
            r = httpx.post(f"{url}/api/runs/{run}/batch", content=content)
        return r.status_code, r.json()["error"]["message"]

    assert err("nope", {"batch_id": "b"})[0] == 404
    assert err("r1", {}, b"{not json")[0] == 422
    assert err("r1", [1])[0] == 422
    assert err("r1", {"metrics": {}})[0] == 422  # no batch_id
    code, msg = err("r1", {"batch_id": "b2", "metrics": {"x": {
        "steps": [0.5], "times": [1.0], "values": [1.0]}}})
    assert code == 422 and "steps must be integers" in msg
    code, msg = err("r1", {"batch_id": "b2", "metrics": {"x": {
        "steps": [0], "times": [1.0], "values": ["nan"]}}})
    assert code == 422 and "not a number" in msg
    code, msg = err("r1", {"batch_id": "b2", "metrics": {"x": {
        "steps": [0, 1], "times": [1.0], "values": [1.0, 2.0]}}})
    assert code == 422 and "length" in msg
    code, msg = err("r1", {"batch_id": "b2", "metrics": {"x": {
        "steps": [0], "times": [1.0], "values": [True]}}})
    assert code == 422
    assert err("r1", {"batch_id": "b2", "status": "bogus"})[0] == 422
    assert err("r1", {"batch_id": "b2", "update": {"id": "x"}})[0] == 422
    assert err("r1", {"batch_id": "b2", "heartbeat": "soon"})[0] == 422
    # Larger than the default 1 MiB body limit, within the batch limit: accepted.
    n = 100_000
    big = {"batch_id": "big", "metrics": {"y": {"steps": list(range(n)),
                                                "times": [1.0] * n, "values": [0.5] * n}}}
    r = httpx.post(f"{url}/api/runs/r1/batch", json=big, timeout=60)
    assert r.status_code == 200
    assert httpx.post(f"{url}/api/runs/r1/commands/deliver").json() == {"commands": []}
    assert httpx.post(f"{url}/api/runs/nope/commands/deliver").status_code == 404


def test_batch_body_limit_is_a_setting(tmp_path: Path) -> None:
    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", "", tmp_path / "srv", port, tmp_path / "s.log",
                 extra=", max_batch_bytes=2000, max_body_bytes=100")
    srv.start()
    try:
        url = srv.url
        body: dict[str, Any] = {"batch_id": "b", "run": {"project": "p"}, "metrics": {
            "x": {"steps": [1], "times": [1.0], "values": [1.0]}}}
        assert httpx.post(f"{url}/api/runs/r/batch", json=body).status_code == 200
        n = 300
        body["metrics"] = {"x": {"steps": list(range(n)), "times": [1.0] * n,
                                 "values": [1.0] * n}}
        r = httpx.post(f"{url}/api/runs/r/batch", json=body)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        # Other routes keep the small limit.
        assert httpx.post(f"{url}/api/runs/r/commands", json={
            "name": "x" * 50, "args": {"a": "b" * 100}}).status_code == 413
    finally:
        srv.stop()


def test_resume_a_remote_run(server: Server, tmp_path: Path) -> None:
    import traindeck as td

    client = tmp_path / "client"
    run = td.init(project="p", name="first", id="resume-me", config={"a": 1},
                  dir=client, url=server.url, system_interval=None, strict=True)
    for i in range(100):
        run.log({"x": float(i)})
    run.finish()
    again = td.init(project="p", id="resume-me", resume="allow", config={"b": 2},
                    dir=client, url=server.url, system_interval=None, strict=True)
    assert again.is_resumed and again.step == 100
    assert again.config == {"a": 1, "b": 2}
    for _ in range(50):
        again.log({"x": float(again.step)})
    again.finish()
    with open_dir_store(server.dir) as store:
        row = store.get_run("resume-me")
        assert row.status == "completed" and row.config == {"a": 1, "b": 2}
        steps, values = series(store, "resume-me", "x")
        assert steps.tolist() == list(range(150)) and values.tolist() == list(range(150))


def test_server_away_then_back(tmp_path: Path) -> None:
    """flush() waits for the server's acknowledgement: False while it is away (the points
    wait in the spool), True once it is back and has them all."""
    import traindeck as td

    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", "", tmp_path / "srv", port, tmp_path / "s.log")
    run = td.init(project="p", dir=tmp_path / "client", url=srv.url, system_interval=None)
    try:
        for i in range(1000):
            run.log({"x": float(i)}, step=i)
        assert run.flush(timeout=0.5) is False
        spool = tmp_path / "client" / "runs" / run.id / "spool"
        assert list(spool.glob("*.seg"))
        srv.start()
        assert run.flush(timeout=60) is True
        run.finish()
        with open_dir_store(srv.dir) as store:
            assert series(store, run.id, "x")[0].tolist() == list(range(1000))
            assert store.get_run(run.id).status == "completed"
    finally:
        run.finish()
        srv.stop()


def test_a_batch_is_applied_whole_or_not_at_all(tmp_path: Path) -> None:
    import dataclasses

    from traindeck.store import InvalidInput
    from traindeck.store.batch_wire import parse_batch

    with open_dir_store(tmp_path / "td") as store:
        good = parse_batch(json.dumps({
            "batch_id": "a:1", "run": {"project": "p", "name": "n"}, "update": {"notes": "x"},
            "metrics": {"x": {"steps": [0, 1], "times": [1.0, 2.0], "values": [1.0, "NaN"]}},
            "status": "running"}).encode())
        broken = dataclasses.replace(good, status="sleeping")  # fails last
        with pytest.raises(InvalidInput):
            store.apply_batch("r", broken)
        assert store.list_runs()[1] == 0  # the run, its points, the batch id: none stay
        assert store.apply_batch("r", good) is True
        assert store.apply_batch("r", good) is False
        assert store.get_run("r").notes == "x"
        assert store.read_points("r", "x").steps.tolist() == [0, 1]
        events = store.list_events("r")
        assert [e.kind for e in events] == ["status_change"]


def test_sync_sets_a_refused_batch_aside_and_uploads_the_rest(server: Server,
                                                               tmp_path: Path) -> None:
    from traindeck.sdk.spool import Spool

    spool_dir = tmp_path / "td" / "runs" / "hand-made" / "spool"
    with Spool(spool_dir) as sp:
        def put(body: dict[str, Any]) -> None:
            body["batch_id"] = f"{sp.uid}:{sp.next_seq}"
            sp.append(json.dumps(body).encode())

        put({"run": {"project": "p", "name": "hand"}, "status": "running"})
        put({"metrics": {"x": {"steps": [0, 1], "times": [1.0, 1.0], "values": [1, 2]}}})
        put({"metrics": {"x": {"steps": [0.5], "times": [1.0], "values": [1]}}})  # bad
        put({"metrics": {"x": {"steps": [2], "times": [1.0], "values": ["Infinity"]}}})
        put({"status": "completed"})
    cmd = [sys.executable, "-m", "traindeck.cli", "sync", str(tmp_path / "td"),
           "--url", server.url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "refused" in done.stdout and "steps must be integers" in done.stdout
    assert len(list((spool_dir / "rejected").glob("*.json"))) == 1
    with open_dir_store(server.dir) as store:
        assert store.get_run("hand-made").status == "completed"
        steps, values = series(store, "hand-made", "x")
        assert steps.tolist() == [0, 1, 2] and values.tolist() == [1.0, 2.0, math.inf]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "nothing to sync" in again.stdout


def test_several_batches_in_one_request(server: Server) -> None:
    one = {"batch_id": "m:1", "run": {"project": "p"},
           "metrics": {"x": {"steps": [0], "times": [1.0], "values": [0.5]}}}
    two = {"batch_id": "m:2", "metrics": {"x": {"steps": [1], "times": [1.0],
                                                "values": ["NaN"]}}}
    url = f"{server.url}/api/runs/multi/batch"
    assert httpx.post(url, json=[one]).json() == {"batches": 1, "applied": 1}
    assert httpx.post(url, json=[one, two]).json() == {"batches": 2, "applied": 1}
    assert httpx.post(url, json=[]).status_code == 422
    bad = {"batch_id": "m:3", "metrics": {"x": {"steps": ["a"], "times": [1.0],
                                                "values": [1.0]}}}
    assert httpx.post(url, json=[{**two, "batch_id": "m:4"}, bad]).status_code == 422
    with open_dir_store(server.dir) as store:
        assert series(store, "multi", "x")[0].tolist() == [0, 1]  # m:4 not applied either
        assert store.metric_keys("multi")[0].count == 2


def test_a_backlog_is_merged_in_order(server: Server) -> None:
    def pts(bid: str, steps: list[int], values: list[Any], **more: Any) -> dict[str, Any]:
        return {"batch_id": bid, "metrics": {"x": {
            "steps": steps, "times": [1.0] * len(steps), "values": values}}, **more}

    backlog = [
        {"batch_id": "g:0", "run": {"project": "p"}},
        pts("g:1", [0, 1, 2], [1, 1, 1], summary={"v": 1}),
        pts("g:2", [2, 3], [2, "NaN"], summary={"v": 2}, heartbeat=5.0),
        pts("g:2", [2, 3], [9, 9]),  # the same batch twice: applied once
        {"batch_id": "g:3", "events": [{"kind": "note", "payload": {"n": 1}}]},
        pts("g:4", [3], [3]),
        {"batch_id": "g:5", "status": "completed"},
    ]
    r = httpx.post(f"{server.url}/api/runs/g/batch", json=backlog)
    assert r.json() == {"batches": 7, "applied": 6}
    again = httpx.post(f"{server.url}/api/runs/g/batch", json=backlog[1:])
    assert again.json() == {"batches": 6, "applied": 0}
    with open_dir_store(server.dir) as store:
        steps, values = series(store, "g", "x")
        assert steps.tolist() == [0, 1, 2, 3] and values.tolist() == [1, 1, 2, 3]
        run = store.get_run("g")
        assert run.status == "completed" and run.summary == {"v": 2}
        assert [e.kind for e in store.list_events("g")].count("note") == 1


def test_a_smaller_body_limit_shrinks_the_requests(tmp_path: Path) -> None:
    """A server (or a proxy) with a lower body limit than the sender's groups: 413 for a
    group makes the sender send smaller ones; nothing is set aside, nothing lost."""
    import traindeck as td

    port = free_port()
    srv = Server(f"http://127.0.0.1:{port}", "", tmp_path / "srv", port, tmp_path / "s.log",
                 extra=", max_batch_bytes=1_500_000")
    run = td.init(project="p", dir=tmp_path / "client", url=srv.url, system_interval=None)
    try:
        for i in range(100_000):  # ~3.4 MB of batches wait while the server is away
            run.log({"a": i * 0.5, "b": float(i)}, step=i)
        assert run.flush(timeout=0.5) is False
        srv.start()
        assert run.flush(timeout=60) is True
        run.finish()
        spool = tmp_path / "client" / "runs" / run.id / "spool"
        assert not (spool / "rejected").exists()
        with open_dir_store(srv.dir) as store:
            for key in ("a", "b"):
                assert series(store, run.id, key)[0].tolist() == list(range(100_000))
    finally:
        run.finish()
        srv.stop()


def test_sync_leaves_a_live_runs_spool_alone(server: Server, tmp_path: Path) -> None:
    import traindeck as td

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the batches stay spooled
    run = td.init(project="p", dir=tmp_path / "client", url=dead, system_interval=None)
    try:
        run.log({"x": 1.0})
        run.flush(timeout=0.3)
        done = subprocess.run(
            [sys.executable, "-m", "traindeck.cli", "sync", str(tmp_path / "client"),
             "--url", server.url], capture_output=True, text=True, timeout=60,
            env={**os.environ, "COLUMNS": "200"})
        assert done.returncode == 0, done.stderr
        assert "in use by a running process" in done.stdout
        assert httpx.get(f"{server.url}/api/runs/{run.id}").status_code == 404
    finally:
        run._worker.backend.drain_timeout = 0.1
        run.finish()
    # The script ended with its batches still spooled: sync uploads them now.
    done = subprocess.run(
        [sys.executable, "-m", "traindeck.cli", "sync", str(tmp_path / "client"),
         "--url", server.url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "synced" in done.stdout, done.stderr
    with open_dir_store(server.dir) as store:
        assert store.get_run(run.id).status == "completed"
        assert series(store, run.id, "x")[1].tolist() == [1.0]


def test_liveness_is_judged_on_the_servers_clock(server: Server) -> None:
    """A training host whose clock is a day behind (or jumps) is still alive to the server;
    its point times are kept as sent."""
    url = f"{server.url}/api/runs/skewed/batch"
    day = 86_400.0
    sent = time.time() - day
    first = {"batch_id": "s:1", "run": {"project": "p", "heartbeat_timeout": 5.0},
             "heartbeat": sent, "metrics": {"x": {"steps": [0], "times": [sent],
                                                  "values": [1.0]}}}
    assert httpx.post(url, json=first).status_code == 200
    jumped = {"batch_id": "s:2", "heartbeat": sent + 2 * day,
              "metrics": {"x": {"steps": [1], "times": [sent - 3600], "values": [2.0]}}}
    assert httpx.post(url, json=jumped).status_code == 200
    with open_dir_store(server.dir) as store:
        run = store.get_run("skewed")
        assert abs((run.heartbeat_at or 0) - time.time()) < day / 2
        assert store.reap_stale() == []
        assert run.status == "running"
        assert store.read_points("skewed", "x").times.tolist() == [sent, sent - 3600]
