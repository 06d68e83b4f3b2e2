"""What server-side rules cost, and how soon a NaN reaches a webhook (issue 12's bar).

1,000 rules (10 per run: nan on every key, spike x2, plateau, threshold x2, stall, gpu_idle,
disk, heartbeat) over 100 live runs, each logging 5 keys at ``--hz`` points per second
(flushed ``--flush`` times a second, as the SDK's background thread does), for
``--seconds``. Writer processes write the SQLite store as embedded training processes do;
a real server (uvicorn, in this process) follows it and evaluates the rules; a webhook
receiver on 127.0.0.1 (in this process) takes the alerts. Every ``--nan-every`` seconds a
writer logs one NaN on a random run; latency = the receiver's clock when the webhook
arrives - the writer's clock just before the write that carried the NaN.

Figures: ``evaluator_cpu_pct`` = the evaluator's own CPU time (``time.thread_time`` in its
worker thread, reads of new points included) over the window, as % of one core;
``server_process_cpu_pct`` = this whole process (server, hub, webhook receiver) for context;
``nan_to_webhook_ms`` p50/p95/max. Prints one JSON object.

    .venv/bin/python bench/rules_cost.py [--seconds 40] [--runs 100] [--hz 100]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

KEYS = ("loss", "val/acc", "grad_norm", "lr", "throughput")


def writer(store_dir: str, run_ids: list[str], hz: int, flush: int, seconds: float,
           nan_every: float, seed: int, out: Any) -> None:
    from traindeck.store import open_store

    store = open_store(store_dir)
    rng = np.random.default_rng(seed)
    per = hz // flush
    step = {r: 0 for r in run_ids}
    points = 0
    end = time.monotonic() + seconds
    next_nan = time.monotonic() + nan_every * (0.5 + rng.random())
    tick = 1.0 / flush
    nxt = time.monotonic()
    while time.monotonic() < end:
        inject = None
        if time.monotonic() >= next_nan:
            inject = run_ids[int(rng.integers(len(run_ids)))]
            next_nan += nan_every
        for run_id in run_ids:
            s0 = step[run_id]
            steps = np.arange(s0, s0 + per)
            now = time.time()
            times = np.full(per, now)
            series = {}
            for k in KEYS:
                v = 1.0 + rng.normal(0, 0.01, per)
                if run_id == inject and k == "loss":
                    v[per // 2] = math.nan
                series[k] = (steps, times, v)
            sent = time.time()
            store.write_metrics(run_id, series, heartbeat=sent)
            if run_id == inject:
                out.put(("nan", run_id, int(s0 + per // 2), sent))
            step[run_id] = s0 + per
            points += per * len(KEYS)
        nxt += tick
        time.sleep(max(0.0, nxt - time.monotonic()))
    out.put(("done", points, 0, 0.0))
    store.close()


def receiver() -> tuple[ThreadingHTTPServer, list[tuple[float, dict[str, Any]]]]:
    got: list[tuple[float, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            got.append((time.time(), body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def rules_for(run_id: str) -> list[dict[str, Any]]:
    return [
        {"kind": "nan", "cooldown_s": 0},
        {"kind": "spike", "key": "loss", "params": {"k": 50}},
        {"kind": "spike", "key": "grad_norm", "params": {"k": 50}},
        {"kind": "plateau", "key": "val/acc", "params": {"steps": 10**9}},
        {"kind": "threshold", "key": "lr", "params": {"op": ">", "value": 1e9}},
        {"kind": "threshold", "key": "throughput",
         "params": {"op": "<", "value": -1e9, "after_step": 100}},
        {"kind": "stall", "params": {"minutes": 30}},
        {"kind": "gpu_idle", "params": {"minutes": 30}},
        {"kind": "disk", "params": {"min_free_percent": 1}},
        {"kind": "heartbeat"},
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--hz", type=int, default=100)
    ap.add_argument("--flush", type=int, default=5, help="writes per run per second")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--nan-every", type=float, default=1.0, help="seconds, per writer")
    ap.add_argument("--warmup", type=float, default=5.0)
    args = ap.parse_args()

    from traindeck.server import Settings, create_app
    from traindeck.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="td-rules-"))
    store = open_store(tmp)
    runs = [store.create_run(project="bench", name=f"r{i}", heartbeat_timeout=3600).id
            for i in range(args.runs)]
    store.close()
    hook, got = receiver()

    app = create_app(Settings(dir=tmp, web_dir=tmp / "no-web"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with httpx.Client(base_url=url, timeout=30) as client:
        for run_id in runs:
            for rule in rules_for(run_id):
                r = client.post("/api/rules", json={"run_id": run_id, **rule})
                assert r.status_code == 201, r.text
        client.post("/api/webhooks", json={"url": f"http://127.0.0.1:{hook.server_port}/h"})
        n_rules = len(client.get("/api/rules").json()["rules"])

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    chunks = [runs[i::args.writers] for i in range(args.writers)]
    total = args.warmup + args.seconds
    procs = [ctx.Process(target=writer, args=(str(tmp), chunk, args.hz, args.flush, total,
                                              args.nan_every, i, out))
             for i, chunk in enumerate(chunks)]
    for p in procs:
        p.start()
    evaluator = app.state.rules
    time.sleep(args.warmup)
    cpu0, proc0, wall0 = evaluator.cpu_s, time.process_time(), time.monotonic()
    ticks0 = evaluator.ticks
    time.sleep(args.seconds)
    cpu1, proc1, wall1 = evaluator.cpu_s, time.process_time(), time.monotonic()
    ticks1 = evaluator.ticks
    nans: dict[tuple[str, int], float] = {}
    points, done = 0, 0
    while done < len(procs):
        kind, a, b, c = out.get(timeout=120)
        if kind == "nan":
            nans[(a, b)] = c
        else:
            points += a
            done += 1
    for p in procs:
        p.join()
    time.sleep(3)  # the last alerts' webhooks
    lat = []
    for at, body in got:
        alert = body["alert"]
        sent = nans.get((alert["run_id"], alert["step"]))
        if sent is not None and alert["kind"] == "nan":
            lat.append((at - sent) * 1000)
    server.should_exit = True
    wall = wall1 - wall0
    arr = np.array(lat) if lat else np.array([math.nan])
    print(json.dumps({
        "bench": "rules_cost",
        "rules": n_rules, "runs": args.runs, "keys": len(KEYS), "hz": args.hz,
        "flushes_per_s": args.flush, "seconds": args.seconds,
        "points_per_s": round(points / total),
        "evaluator_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 2),
        "server_process_cpu_pct": round(100 * (proc1 - proc0) / wall, 1),
        "evaluator_ticks": ticks1 - ticks0,
        "nans_logged": len(nans), "nan_alerts_received": len(lat),
        "nan_to_webhook_ms": {"p50": round(float(np.percentile(arr, 50)), 1),
                              "p95": round(float(np.percentile(arr, 95)), 1),
                              "max": round(float(arr.max()), 1)},
        "evaluator": evaluator.stats(), "webhooks": app.state.webhooks.stats(),
        "cpus": os.cpu_count(), "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
