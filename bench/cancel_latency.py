"""Cancel → the launched process group gone and the run ``cancelled``, over real processes.

Two scripts: a cooperative one (uses the SDK, which handles SIGTERM: emergency checkpoint
hook, then exit) and one that ignores SIGTERM (killed with SIGKILL after the launch's grace
period, ``--grace`` s). Each is launched ``--reps`` times; timed from the
``POST /api/runs/{id}/cancel`` request until both the process group is gone
(``killpg(pgid, 0)`` fails) and the run reads ``cancelled`` (polled every 5 ms).
Bar: grace + 0.5 s. Prints one JSON object.

    .venv/bin/python bench/cancel_latency.py [--reps 5] [--grace 2]
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
from _launching import (
    group_gone,
    launch,
    percentile,
    run_status,
    server,
    wait,
    write_template,
)

COOPERATIVE = """
import time, traindeck as td
run = td.init(system_interval=None)
step = 0
while not run.should_stop:
    run.log({"x": float(step)}, step=step)
    step += 1
    time.sleep(0.01)
"""

STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(0.05)
"""


def one(client: httpx.Client, name: str, grace: float) -> float:
    """ms from the cancel request until the group is gone and the run ``cancelled``."""
    started = launch(client, name, grace_s=grace)
    run_id, launch_id = started["run_id"], started["id"]
    pid = wait(lambda: client.get(f"/api/launches/{launch_id}").json().get("pid"), 60,
               "the process")
    wait(lambda: run_status(client, run_id) == "running", 60, "running")
    time.sleep(0.3)  # well under way
    t0 = time.perf_counter()
    response = client.post(f"/api/runs/{run_id}/cancel")
    if response.status_code >= 300:
        raise SystemExit(f"cancel refused: {response.text}")
    wait(lambda: group_gone(pid) and run_status(client, run_id) == "cancelled", grace + 60,
         "the cancel")
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--grace", type=float, default=2.0)
    args = ap.parse_args()
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_template(tmp / "templates", "cooperative", COOPERATIVE)
        write_template(tmp / "templates", "stubborn", STUBBORN)
        with server(tmp, tmp / "templates") as client:
            for name in ("cooperative", "stubborn"):
                took = [one(client, name, args.grace) for _ in range(args.reps)]
                out[name] = {"p50_ms": percentile(took, 50), "max_ms": round(max(took), 1)}
    print(json.dumps({
        "benchmark": "cancel_latency",
        "reps": args.reps,
        "grace_s": args.grace,
        "cooperative": out["cooperative"],
        "ignores_sigterm": out["stubborn"],
        "bar_ms": round((args.grace + 0.5) * 1000),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }))


if __name__ == "__main__":
    main()
