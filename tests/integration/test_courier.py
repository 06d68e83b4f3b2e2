"""One sender for all the runs of a process (``sdk/courier.py``) against a real server.

Several runs of one process reach the server together, in ``POST /api/batches`` requests,
and every point arrives; a run the server refuses does not hold the others back (its bad
batch is set aside, the rest of it arrives); a server away and then back, a body limit
below a request's size, and a server that does not know ``/api/batches`` (an older one)
lose nothing. A relay on 127.0.0.1 between the SDK and the server records what goes by
(and plays the older server by answering ``/api/batches`` with a 404, or a proxy that
refuses it)."""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

import httpx
import numpy as np
import orjson
import pytest
from support import free_port, open_dir_store, start_server, stop_process, wait_for

from traindeck.runfiles import RunFiles
from traindeck.sdk.courier import Couriers
from traindeck.sdk.policy import FailurePolicy
from traindeck.sdk.remote import RemoteBackend, RemoteLocator


class Relay(http.server.BaseHTTPRequestHandler):
    """Forwards each request to ``target`` and records ``(method, path, body)``; with
    ``refuse``, answers ``POST /api/batches`` itself with that status (404: a server
    before the route; 422: something between that will not take it)."""

    protocol_version = "HTTP/1.1"
    target: ClassVar[str] = ""
    refuse: ClassVar[int | None] = None
    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((method, self.path, body))
        if self.refuse and self.path == "/api/batches":
            status, answer = self.refuse, b'{"error": {"code": "no", "message": "refused"}}'
        else:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection")}
            r = httpx.request(method, self.target + self.path, content=body,
                              headers=headers, timeout=60)
            status, answer = r.status_code, r.content
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self) -> None:
        self._forward("POST")

    def do_GET(self) -> None:
        self._forward("GET")

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def relay(target: str, *, refuse: int | None = None,
          base: type[Relay] = Relay) -> Iterator[tuple[str, list[Any]]]:
    seen: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (base,), {"target": target, "refuse": refuse, "seen": seen})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "srv"
    port = free_port()
    proc = start_server(folder, port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        stop_process(proc)


def points(n: int, scale: float) -> dict[str, tuple[Any, Any, Any]]:
    steps = np.arange(n, dtype=np.int64)
    return {"x": (steps, np.full(n, 1.0), steps * scale)}


def stored(folder: Path, run_id: str) -> list[float]:
    with open_dir_store(folder) as store:
        values: list[float] = store.read_points(run_id, "x").values.tolist()
        return values


def backends(tmp_path: Path, url: str, names: list[str], *,
             stream: io.StringIO | None = None,
             couriers: Couriers | None = None) -> list[RemoteBackend]:
    """Runs of one process on ``url``, sharing one sender, created on the server."""
    locator = RemoteLocator(RunFiles(tmp_path / "client"), url=url, token=None,
                            policy=FailurePolicy(stream=stream or io.StringIO()),
                            couriers=couriers or Couriers())
    out = [locator.backend(name) for name in names]
    for b in out:
        b.create_run({"project": "p"})
    return out


def test_the_runs_of_a_process_travel_together(server: tuple[str, Path],
                                               tmp_path: Path) -> None:
    """Three runs logging in one loop (``td.init`` three times): their batches share
    requests to ``/api/batches``, and every point of each run arrives."""
    import traindeck as td

    url, folder = server
    with relay(url) as (proxy_url, seen):
        runs = [td.init(project="p", name=f"r{i}", dir=tmp_path / "client", url=proxy_url,
                        system_interval=None) for i in range(3)]
        try:
            for step in range(400):
                for i, run in enumerate(runs):
                    run.log({"x": step * (i + 1.0)}, step=step)
                time.sleep(0.002)  # a training loop: the batches of many ticks
            assert all(run.flush(timeout=60) for run in runs)
        finally:
            for run in runs:
                run.finish()
        shared = [orjson.loads(body) for method, path, body in seen
                  if method == "POST" and path == "/api/batches"]
        assert any({item["run_id"] for item in b} == {r.id for r in runs} for b in shared)
        for i, run in enumerate(runs):
            assert stored(folder, run.id) == [s * (i + 1.0) for s in range(400)]
            with open_dir_store(folder) as store:
                assert store.get_run(run.id).status == "completed"


def test_a_refused_run_does_not_hold_the_others_back(server: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    url, folder = server
    said = io.StringIO()
    bad, good = backends(tmp_path, url, ["bad", "good"], stream=said)
    bad.append(cast(Any, {"metrics": {"x": {"steps": ["one"], "times": [1.0],
                                             "values": [1.0]}}}))
    for b in (bad, good):
        b.write_points(points(50, 2.0), summary=None, heartbeat=None)
    bad.close()
    good.close()
    assert stored(folder, "good") == [s * 2.0 for s in range(50)]
    assert stored(folder, "bad") == [s * 2.0 for s in range(50)]  # all but the bad batch
    rejected = tmp_path / "client" / "runs" / "bad" / "spool" / "rejected"
    assert [p.suffix for p in sorted(rejected.iterdir())] == [".json", ".why"]
    assert "422" in next(rejected.glob("*.why")).read_text()
    assert "refused" in said.getvalue()
    assert not (tmp_path / "client" / "runs" / "good" / "spool" / "rejected").exists()


@pytest.mark.parametrize("refuse", [404, 422, 403])
def test_runs_go_on_their_own_routes_where_the_shared_one_is_refused(
        server: tuple[str, Path], tmp_path: Path, refuse: int) -> None:
    """An older server (404) is asked once, then each run posts its own route; a request
    refused whole for another reason (422 or 403 from something in between) is sent again
    run by run, which sets nothing aside."""
    url, folder = server
    with relay(url, refuse=refuse) as (proxy_url, seen):
        runs = backends(tmp_path, proxy_url, ["a", "b"])
        for k in range(3):
            for b in runs:
                steps = np.arange(k * 10, (k + 1) * 10, dtype=np.int64)
                b.write_points({"x": (steps, np.full(10, 1.0), steps * 3.0)}, summary=None,
                               heartbeat=None)
            # one batch a run waits, then none: the next request carries one batch a run
            wait_for(lambda: not any(len(b.spool) for b in runs), 60, "the spools empty")
        for b in runs:
            b.close()
        posted = [path for m, path, _ in seen if m == "POST" and "batch" in path]
        assert set(posted) <= {"/api/batches", "/api/runs/a/batch", "/api/runs/b/batch"}
        if refuse == 404:
            assert posted.count("/api/batches") <= 1  # asked once
    for name in ("a", "b"):
        assert stored(folder, name) == [s * 3.0 for s in range(30)]
        assert not (tmp_path / "client" / "runs" / name / "spool" / "rejected").exists()


def test_runs_wait_for_a_server_away_and_arrive_whole(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runs = backends(tmp_path, url, ["a", "b", "c"])
    for i, b in enumerate(runs):
        for k in range(10):
            n = 20
            steps = np.arange(k * n, (k + 1) * n, dtype=np.int64)
            b.write_points({"x": (steps, np.full(n, 1.0), steps * (i + 1.0))},
                           summary=None, heartbeat=None)
    assert all(len(b.spool) == 11 for b in runs)  # nothing reached the server
    proc = start_server(tmp_path / "srv", port, tmp_path / "server.log")
    try:
        for b in runs:
            b.close()
        for i, name in enumerate(("a", "b", "c")):
            assert stored(tmp_path / "srv", name) == [s * (i + 1.0) for s in range(200)]
        assert all(b.failures > 0 and b.sent == 11 for b in runs)
    finally:
        stop_process(proc)


class SlowRelay(Relay):
    """A busy server: each answer takes 50 ms, and the first waits for ``go``
    (``arrived`` is set when a batch reaches it)."""

    go: ClassVar[threading.Event] = threading.Event()
    arrived: ClassVar[threading.Event] = threading.Event()

    def _forward(self, method: str) -> None:
        if "/batch" in self.path:
            self.arrived.set()
        self.go.wait(30)
        time.sleep(0.05)
        super()._forward(method)


def test_after_a_gap_the_sender_takes_what_the_run_holds_with_it(
        server: tuple[str, Path], tmp_path: Path) -> None:
    """A slow answer makes the sender wait before its next request (the gap); when it
    sends again it first pulls the run's worker, so the points the worker held (logged
    since its last tick) go in that same request instead of a whole gap later."""
    url, folder = server
    SlowRelay.go, SlowRelay.arrived = threading.Event(), threading.Event()
    with relay(url, base=SlowRelay) as (proxy_url, seen):
        # a gap of up to 2 s: the first answer (held until the test lets it go) is slow
        # whatever the machine's load, and still followed by a gap (at 0.15 s, one that
        # took longer than that on a busy machine was followed by none)
        (run,) = backends(tmp_path, proxy_url, ["a"],  # its first batch: held by the relay
                          couriers=Couriers(gap_max=2.0))
        pulls: list[int] = []

        def pull() -> threading.Event:  # the worker holding steps 10-19 until pulled
            if not pulls:
                steps = np.arange(10, 20, dtype=np.int64)
                run.write_points({"x": (steps, np.full(10, 1.0), steps * 1.0)},
                                 summary=None, heartbeat=None)
            pulls.append(1)
            done = threading.Event()
            done.set()
            return done

        run.pull_with(pull)
        assert SlowRelay.arrived.wait(30)
        steps = np.arange(10, dtype=np.int64)  # spooled while the first request is slow
        run.write_points({"x": (steps, np.full(10, 1.0), steps * 1.0)}, summary=None,
                         heartbeat=None)
        SlowRelay.go.set()
        wait_for(lambda: run.sent == 3, timeout=30, what="every batch acknowledged")
        run.close()
    assert pulls  # after the slow answer's gap
    assert stored(folder, "a") == [float(s) for s in range(20)]
    posts = [path for method, path, _ in seen if method == "POST" and "/batch" in path]
    assert len(posts) == 2  # the run's start; then steps 0-9 and the pulled 10-19 together


def test_a_request_over_the_body_limit_is_sent_smaller(tmp_path: Path) -> None:
    """Two runs whose batches together pass the server's body limit: the shared request
    is refused (413), smaller ones carry everything; a batch over the limit by itself is
    set aside."""
    port = free_port()
    folder = tmp_path / "srv"
    proc = start_server(folder, port, tmp_path / "server.log",
                        settings=", max_batch_bytes=20_000")
    try:
        url = f"http://127.0.0.1:{port}"
        said = io.StringIO()
        runs = backends(tmp_path, url, ["a", "b"], stream=said)
        for b in runs:
            for k in range(8):  # ~4 KB a batch: the eight of both runs pass 20 KB
                steps = np.arange(k * 200, (k + 1) * 200, dtype=np.int64)
                b.write_points({"x": (steps, np.full(200, 1.0), steps * 0.5)},
                               summary=None, heartbeat=None)
        huge = np.arange(2000, 4000, dtype=np.int64)  # one batch of ~40 KB
        runs[0].write_points({"x": (huge, np.full(2000, 1.0), huge * 0.5)}, summary=None,
                             heartbeat=None)
        for b in runs:
            b.close()
        for name in ("a", "b"):
            assert stored(folder, name) == [s * 0.5 for s in range(1600)]
        rejected = tmp_path / "client" / "runs" / "a" / "spool" / "rejected"
        assert "413" in next(rejected.glob("*.why")).read_text()
        assert not (tmp_path / "client" / "runs" / "b" / "spool" / "rejected").exists()
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    finally:
        stop_process(proc)


def test_a_token_bound_to_a_run_writes_that_run_alone(server: tuple[str, Path]) -> None:
    """A launched process's token (bound to its run) may post ``/api/batches``, but only
    its own run's batches are applied: every other run of the body is refused with the
    403 its own route would answer, through the SDK's lane and the whole stack alike."""
    url, folder = server
    with open_dir_store(folder) as store:
        for name in ("mine", "other"):
            store.create_run(project="p", id=name)
        _, secret = store.create_token("launch", "write", run_id="mine")
    body = [{"run_id": name, "batches": [{"batch_id": f"{name}-1", "metrics": {
        "x": {"steps": [0], "times": [1.0], "values": [7.0]}}}]} for name in ("mine", "other")]
    for extra in ({}, {"origin": url}):  # the lane, then the whole stack (a browser's)
        r = httpx.post(f"{url}/api/batches", json=body, timeout=30,
                       headers={"authorization": f"Bearer {secret}", **extra})
        assert r.status_code == 200, r.text
        mine, other = r.json()["runs"]
        assert (mine["run_id"], mine["batches"]) == ("mine", 1)
        assert (other["run_id"], other["status"], other["error"]["code"]) == (
            "other", 403, "forbidden")
    own = httpx.post(f"{url}/api/runs/other/batch", json=body[1]["batches"][0], timeout=30,
                     headers={"authorization": f"Bearer {secret}"})
    assert own.status_code == 403
    assert stored(folder, "mine") == [7.0]
    with open_dir_store(folder) as store:
        assert store.metric_keys("other") == []  # nothing of it was written
