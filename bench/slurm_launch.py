"""Slurm launch: launch request → job running → first metric point (issue 11 §5).

The tests' one-node Slurm (tests/slurm_service.py: slurmctld + slurmd on 127.0.0.1) and a
real ``traindeck serve`` whose environment reaches it (``SLURM_CONF``). The template is
``bench/launch_latency.py``'s (its script sleeps 0.3 s, a script's own start-up, then
``td.init()`` attaches to the prepared run and logs one point), launched with
``"executor": "slurm"`` ``--launches`` times, one after the other. Each is timed from the
``POST /api/launches`` request to its run reading ``running`` (the job runs: sbatch, Slurm's
scheduling, the batch script and its srun step) and to its first point being readable over
the API (both polled every 5 ms). Prints p50 and p95 of each.

    .venv/bin/python bench/slurm_launch.py [--launches 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import _remote  # noqa: F401  (puts tests/ on sys.path)
import httpx
from _launching import free_port, launch, percentile, run_status, wait
from _remote import serve, stop
from slurm_service import PROGRAMS, SlurmService, _program

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
    run_id = launch(client, "first_point", executor="slurm", resources={"cpus": 1})["run_id"]
    wait(lambda: run_status(client, run_id) in ("running", "completed"), 120, "running")
    running = (time.perf_counter() - t0) * 1000
    wait(lambda: client.get(f"/api/runs/{run_id}/metrics/latest").json()
         .get("latest", {}).get("first"), 120, "the first point")
    point = (time.perf_counter() - t0) * 1000
    wait(lambda: run_status(client, run_id) in ("completed", "failed"), 120, "the run's end")
    if run_status(client, run_id) != "completed":
        raise SystemExit(f"run {run_id} failed")
    return running, point


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--launches", type=int, default=10)
    args = ap.parse_args()
    absent = [p for p in PROGRAMS if _program(p) is None]
    if absent or os.geteuid() != 0:
        raise SystemExit(f"no one-node Slurm here (missing: {absent or 'root'})")
    running_ms: list[float] = []
    point_ms: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        slurm = SlurmService.start(tmp / "slurm")
        try:
            templates = tmp / "templates" / "first_point"
            templates.mkdir(parents=True)
            (templates / "script.py").write_text(SCRIPT)
            (templates / "traindeck.yaml").write_text(json.dumps(
                {"command": [sys.executable, "script.py"], "config": {}}))
            (tmp / "td").mkdir()
            port = free_port()
            proc = serve(tmp / "td", port, templates.parent, env=slurm.env)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            try:
                wait(lambda: _healthy(client), 60, "the server")
                for _ in range(args.launches):
                    running, point = one(client)
                    running_ms.append(running)
                    point_ms.append(point)
            finally:
                client.close()
                stop(proc)
        finally:
            slurm.stop()
    print(json.dumps({
        "benchmark": "slurm_launch",
        "launches": args.launches,
        "script_startup_s": 0.3,
        "running_ms_p50": percentile(running_ms, 50),
        "running_ms_p95": percentile(running_ms, 95),
        "first_point_ms_p50": percentile(point_ms, 50),
        "first_point_ms_p95": percentile(point_ms, 95),
        "cluster": "one-node Slurm on 127.0.0.1 (tests/slurm_service.py)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
    }))


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
