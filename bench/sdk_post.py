"""A remote run's batch request, on both ends: CPU per request of the client and of the server.

A real server (``traindeck serve``, SQLite) on a free port; this process posts ``--requests``
batches of what a logging loop sends every tick (5 keys x 2 steps, a summary, a heartbeat)
one after another over one keep-alive connection, through the SDK's sender connection
(``sdk/lite_http.py``'s ``Poster``) and, for comparison, through ``httpx`` (what the SDK
used before), in turns. Reports each client's CPU per request (this process's CPU time)
and the server's (its process's CPU time over the same requests). Prints one JSON object.

    .venv/bin/python bench/sdk_post.py [--requests 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil
from _launching import free_port
from _serving import start_server

from traindeck.sdk.lite_http import HttpxPoster, Poster
from traindeck.sdk.transport import auth_headers, post_batches

KEYS = ("t", "loss", "acc", "lr", "grad_norm")


def body(i: int, first: bool = False) -> bytes:
    now = time.time()
    b: dict[str, object] = {
        "batch_id": f"b{i}", "summary": {"loss": 0.5}, "heartbeat": now,
        "metrics": {k: {"steps": [2 * i, 2 * i + 1], "times": [now, now],
                        "values": [0.5, 0.25]} for k in KEYS}}
    if first:
        b["run"] = {"project": "bench", "name": "r1"}
    return orjson.dumps(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    n = args.requests
    client: dict[str, list[float]] = {"lite": [], "httpx": []}
    server: dict[str, list[float]] = {"lite": [], "httpx": []}
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        proc = start_server(Path(d) / "td", port)
        try:
            url = f"http://127.0.0.1:{port}"
            headers = auth_headers(None)
            posters = {"lite": Poster(url, headers, 60.0),
                       "httpx": HttpxPoster(httpx.Client(headers=headers, timeout=60.0), url)}
            post_batches(posters["lite"], "r1", [body(0, first=True)])
            for i in range(1, 200):  # warm up both
                post_batches(posters["lite" if i % 2 else "httpx"], "r1", [body(i)])
            served = psutil.Process(proc.pid)
            at = 200
            for _ in range(args.rounds):
                for name, poster in posters.items():
                    bodies = [body(i) for i in range(at, at + n)]
                    at += n
                    s0 = served.cpu_times()
                    c0 = time.process_time()
                    for b in bodies:
                        post_batches(poster, "r1", [b])
                    c1 = time.process_time()
                    s1 = served.cpu_times()
                    client[name].append((c1 - c0) / n * 1e6)
                    server[name].append((s1.user + s1.system - s0.user - s0.system) / n * 1e6)
            for poster in posters.values():
                poster.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(json.dumps({
        "benchmark": "sdk_post",
        "requests": n,
        "rounds": args.rounds,
        "client_cpu_us_per_request": {k: round(statistics.median(v)) for k, v in client.items()},
        "server_cpu_us_per_request": {k: round(statistics.median(v)) for k, v in server.items()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }))


if __name__ == "__main__":
    main()
