"""Launch request → run ``running`` → first metric point visible, over real processes.

A real server with a templates folder; the template's script sleeps 0.3 s (a script's own
start-up: imports, building a model), then ``td.init()`` attaches to the prepared run and
logs one point. Each of ``--launches`` launches is timed from the ``POST /api/launches``
request to the run reading ``running`` and to its first point being readable over the API
(polled every 5 ms). Prints one JSON object; bar: first point ≤ 1.5 s after the request.

    .venv/bin/python bench/launch_latency.py [--launches 10]
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
from _launching import launch, percentile, run_status, server, wait, write_template

SCRIPT = """
import time
time.sleep(0.3)  # the script's own start-up
import traindeck as td
run = td.init(system_interval=None)
run.log({"first": 1.0}, step=0)
run.finish()
"""


def one(client: httpx.Client) -> tuple[float, float]:
    """ms from the launch request to ``running``, and to the first point."""
    t0 = time.perf_counter()
    run_id = launch(client, "first_point")["run_id"]
    wait(lambda: run_status(client, run_id) in ("running", "completed"), 60, "running")
    running = (time.perf_counter() - t0) * 1000
    wait(lambda: client.get(f"/api/runs/{run_id}/metrics/latest").json()
         .get("latest", {}).get("first"), 60, "the first point")
    point = (time.perf_counter() - t0) * 1000
    wait(lambda: run_status(client, run_id) == "completed", 60, "the run's end")
    return running, point


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--launches", type=int, default=10)
    args = ap.parse_args()
    running_ms: list[float] = []
    point_ms: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_template(tmp / "templates", "first_point", SCRIPT)
        with server(tmp, tmp / "templates") as client:
            for _ in range(args.launches):
                running, point = one(client)
                running_ms.append(running)
                point_ms.append(point)
    print(json.dumps({
        "benchmark": "launch_latency",
        "launches": args.launches,
        "script_startup_s": 0.3,
        "running_ms_p50": percentile(running_ms, 50),
        "running_ms_p95": percentile(running_ms, 95),
        "first_point_ms_p50": percentile(point_ms, 50),
        "first_point_ms_p95": percentile(point_ms, 95),
        "bar_first_point_ms": 1500,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }))


if __name__ == "__main__":
    main()
