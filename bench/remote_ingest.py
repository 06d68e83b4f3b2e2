"""Remote mode: points/s from ``log()`` to durable on the server, over loopback HTTP.

A real server (``traindeck serve``'s code, uvicorn, a SQLite store) runs in a subprocess on
a free port; this process logs 1M points (200k steps x 5 scalars) with ``TRAINDECK_URL``
set, as fast as a loop can, and is timed from the first ``log()`` until ``run.flush()``
returns (every batch spooled, fsynced, sent, committed by the server and acknowledged).
Then ``log()`` itself is timed call by call (median, p99) in remote mode over a second
run of 200k steps. Prints one JSON object.

    .venv/bin/python bench/remote_ingest.py [--steps 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _launching import free_port
from _serving import start_server

import traindeck as td
from traindeck.sdk.remote import RemoteBackend


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200_000)
    args = ap.parse_args()
    steps = args.steps
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(tmp / "srv", port)
        try:
            run = td.init(project="bench", name="remote_ingest", dir=tmp / "client",
                          url=url, system_interval=None)
            log = run.log
            t0 = time.perf_counter()
            for i in range(steps):
                log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 1e-3, "grad_norm": 0.5,
                     "tok": i}, step=i)
            t_logged = time.perf_counter()
            ok = run.flush(timeout=600)
            t_durable = time.perf_counter()
            run.finish()
            if not ok:
                raise SystemExit("flush timed out")
            worker = run._worker
            assert worker is not None and isinstance(worker.backend, RemoteBackend)
            batches = worker.backend.sent

            # log() alone, call by call, in remote mode (the background thread sending).
            run2 = td.init(project="bench", name="remote_log_overhead", dir=tmp / "client",
                           url=url, system_interval=None)
            clock = time.perf_counter_ns
            log = run2.log
            samples = np.empty(steps, dtype=np.int64)
            for i in range(steps):
                c0 = clock()
                log({"loss": 0.5, "acc": 0.9, "lr": 1e-3, "grad_norm": 1.5, "epoch": 3},
                    step=i)
                samples[i] = clock() - c0
            run2.finish()
            stored = httpx.get(f"{url}/api/runs/{run.id}/metrics").json()["metrics"]
            count = sum(m["count"] for m in stored)
        finally:
            server.terminate()
            server.wait(30)
    points = steps * 5
    us = samples / 1000.0
    print(json.dumps({
        "benchmark": "remote_ingest",
        "points": points,
        "points_on_server": count,
        "batches": batches,
        "log_loop_s": round(t_logged - t0, 3),
        "durable_s": round(t_durable - t0, 3),
        "points_per_s": round(points / (t_durable - t0)),
        "bar_points_per_s": 200_000,
        "log_median_us": round(float(np.median(us)), 3),
        "log_p99_us": round(float(np.percentile(us, 99)), 3),
        "bar_log_median_us": 2.0,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
