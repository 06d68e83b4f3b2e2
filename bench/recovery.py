"""Recovery: seconds from a server restart until 1M spooled points are drained into it.

The server is down while a remote run logs 1M points (200k steps x 5 scalars): every batch
waits, fsynced, in the run's spool, and the sender backs off (1 s doubling, jittered).
Then a real server starts on the port; timed from the moment it answers ``/health`` until
the spool is empty (every batch committed and acknowledged). Reported apart: the part of
that spent waiting for the sender's next retry (its backoff) and the upload itself (first
acknowledged batch to empty spool). Also: 10k small spooled batches (a slow script's long
outage) drained by a sender that finds the server up. Prints one JSON object.

    .venv/bin/python bench/recovery.py [--steps 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import traindeck as td
from traindeck.runfiles import RunFiles
from traindeck.sdk.policy import FailurePolicy
from traindeck.sdk.remote import RemoteBackend
from traindeck.store.ids import new_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def many_small_batches(tmp: Path, url: str, n: int) -> dict[str, Any]:
    """A slow script's long outage: ``n`` spooled batches of 100 points each (what one
    tick of a run logging 20 steps x 5 scalars a tick writes), then drained by a sender
    that finds the server up."""
    policy = FailurePolicy()
    files = RunFiles(tmp / "small")
    run_id = new_id()
    offline = RemoteBackend(run_id, files, url=None, token=None, policy=policy)
    offline.create_run({"project": "bench", "name": "small_batches"})
    step = 0
    for _ in range(n):
        cols = {}
        for k in ("loss", "acc", "lr", "grad_norm", "tok"):
            steps = np.arange(step, step + 20)
            cols[k] = (steps, np.full(20, time.time()), steps * 0.5)
        offline.write_points(cols, summary=None, heartbeat=time.time())
        step += 20
    offline.close()
    t0 = time.perf_counter()
    online = RemoteBackend(run_id, files, url=url, token=None, policy=policy)
    while len(online.spool):
        time.sleep(0.001)
    took = time.perf_counter() - t0
    online.close()
    return {"batches": n, "points": n * 100, "drain_s": round(took, 3),
            "batches_per_s": round(n / took), "requests": "grouped (up to 512 a request)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--small-batches", type=int, default=10_000)
    args = ap.parse_args()
    steps = args.steps
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        run = td.init(project="bench", name="recovery", dir=tmp / "client", url=url,
                      system_interval=None, heartbeat_interval=5.0, heartbeat_timeout=600)
        worker = run._worker
        assert worker is not None
        sink = worker.backend
        assert isinstance(sink, RemoteBackend)
        for i in range(steps):
            run.log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 1e-3, "grad_norm": 0.5,
                     "tok": i}, step=i)
        while run._queue or worker._pending:  # everything spooled
            time.sleep(0.01)
        spooled = len(sink.spool)
        spool_bytes = sink.spool.pending_bytes
        code = ("import sys; from traindeck.server import Settings, serve; "
                "serve(Settings(dir=sys.argv[1], port=int(sys.argv[2])))")
        server = subprocess.Popen([sys.executable, "-c", code, str(tmp / "srv"), str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.005)
            t_up = time.perf_counter()
            sent_before = sink.sent
            t_first = None
            while len(sink.spool):
                if t_first is None and sink.sent > sent_before:
                    t_first = time.perf_counter()
                time.sleep(0.001)
            t_drained = time.perf_counter()
            if t_first is None:
                t_first = t_drained
            run.finish()
            stored = httpx.get(f"{url}/api/runs/{run.id}/metrics").json()["metrics"]
            count = sum(m["count"] for m in stored)
            small = many_small_batches(tmp, url, args.small_batches)
        finally:
            server.terminate()
            server.wait(30)
    print(json.dumps({
        "benchmark": "recovery",
        "points": steps * 5,
        "points_on_server": count,
        "spooled_batches": spooled,
        "spooled_mib": round(spool_bytes / 2**20, 1),
        "restart_to_drained_s": round(t_drained - t_up, 3),
        "backoff_wait_s": round(t_first - t_up, 3),
        "upload_s": round(t_drained - t_first, 3),
        "upload_points_per_s": round(steps * 5 / max(t_drained - t_first, 1e-9)),
        "many_small_batches": small,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
