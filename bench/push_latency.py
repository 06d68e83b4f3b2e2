"""ms from ``log()`` in a training process to a WebSocket client of a server in another process.

Three processes on this machine: a server (``traindeck.server.serve``) following a SQLite
file, a training process logging one point every ``--interval`` seconds whose value is the
wall time of its ``log()`` call, and this process, subscribed over ``/ws``, which takes
``receive time - value`` for each point. Prints one JSON object (p50, p95, max).

    .venv/bin/python bench/push_latency.py [--points 300] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

TRAINER = """
import sys, time, traindeck as td
n, interval = int(sys.argv[1]), float(sys.argv[2])
run = td.init(project="bench", name="push", system_interval=None)
print(run.id, flush=True)
sys.stdin.readline()  # wait until the client is subscribed
for i in range(n):
    run.log({"sent_at": time.time()}, step=i)
    time.sleep(interval)
run.finish()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(ws_url: str, trainer: subprocess.Popen[str], run_id: str, n: int) -> list[float]:
    lat: list[float] = []
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id}))
        await asyncio.sleep(0.5)
        assert trainer.stdin is not None
        trainer.stdin.write("go\n")
        trainer.stdin.flush()
        deadline = time.monotonic() + n * 0.1 + 60
        while len(lat) < n and time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
            now = time.time()
            if msg.get("type") == "metric_update":
                for _step, _t, value in msg["points"].get("sent_at", []):
                    lat.append((now - float(value)) * 1000.0)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.02)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tdir = Path(d) / "td"
        port = free_port()
        env = {**os.environ, "TRAINDECK_DIR": str(tdir)}
        server = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from traindeck.server import Settings, serve; "
             "serve(Settings(dir=sys.argv[1], port=int(sys.argv[2])))", str(tdir), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        trainer = None
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            trainer = subprocess.Popen(
                [sys.executable, "-c", TRAINER, str(args.points), str(args.interval)], env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            assert trainer.stdout is not None
            run_id = trainer.stdout.readline().strip()
            lat = asyncio.run(measure(f"ws://127.0.0.1:{port}/ws", trainer, run_id, args.points))
            trainer.wait(60)
        finally:
            if trainer is not None and trainer.poll() is None:
                trainer.kill()
            server.terminate()
            server.wait(10)
    a = np.array(lat)
    print(json.dumps({
        "benchmark": "push_latency",
        "points": len(lat),
        "log_interval_s": args.interval,
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "max_ms": round(float(a.max()), 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }))


if __name__ == "__main__":
    main()
