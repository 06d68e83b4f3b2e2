"""Load: R runs x H Hz x 5 keys through the remote SDK, plus V WebSocket viewers, for S s.

One or two ``traindeck serve`` processes over one store: SQLite (a folder) or PostgreSQL (a
throwaway cluster, ``tests/pg_service.py``, or ``--store URL``). Training processes
(``--procs``, each running R/procs runs: one loop logs a step of each of its runs, H times
a second) log 5 scalars per step; one of them, ``t``, is the wall time of its ``log()``.
Runs alternate between the servers, and so do the viewers: each subscribes to its share
of the runs and takes ``receive time - t`` for every point pushed (the push latency,
point -> WebSocket). Meanwhile the newest stored ``t`` of five runs is read ten times a
second: its age is the part of the latency spent before the store (``stored_lag``).
After the trainers finish (every batch acknowledged), the points stored are counted.

Reports points/s stored, push p50/p95, errors (trainers that failed, SDK warnings,
WebSocket drops), points lost (logged - stored) and the servers' CPU (% of one core). With
``--sweep 50,100,200`` it runs each number of runs in turn (``--seconds`` each) and stops
after the first whose push p95 passes 1 s: where the setup stops keeping up.

    .venv/bin/python bench/load.py [--engine sqlite|postgresql] [--servers 1|2]
        [--runs 50] [--hz 100] [--viewers 20] [--seconds 60] [--procs 10] [--sweep ...]

Bars (issue 14): 50 runs x 100 Hz + 20 viewers for 60 s -> 0 errors, 0 lost, push p95 <=
250 ms, on both engines. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psutil
import websockets
from _launching import free_port
from _machine import reference_loop_s
from _serving import start_server

TESTS = Path(__file__).resolve().parent.parent / "tests"
KEYS = ("t", "loss", "acc", "lr", "grad_norm")

TRAINER = """
import json, sys, time
import traindeck as td
urls, n, first = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[5])
hz, seconds = float(sys.argv[3]), float(sys.argv[4])
runs = [td.init(project="load", name=f"run{first + i}", url=urls[(first + i) % len(urls)],
                system_interval=None) for i in range(n)]
for r in runs:  # each run exists on its server before the viewers subscribe to it
    r.flush(timeout=120)
print("READY " + " ".join(f"{r.id}@{(first + i) % len(urls)}" for i, r in enumerate(runs)),
      flush=True)
sys.stdin.readline()  # the viewers are subscribed: go
step, start = 0, time.monotonic()
while time.monotonic() - start < seconds:  # one loop steps every run of this process
    for run in runs:
        run.log({"t": time.time(), "loss": 1 / (step + 1), "acc": step * 1e-6, "lr": 1e-3,
                 "grad_norm": 0.5}, step=step)
    step += 1
    time.sleep(max(0.0, start + step / hz - time.monotonic()))
logged = {run.id: step for run in runs}
for r in runs:
    if not r.flush(timeout=600): print("FLUSH TIMEOUT", r.id, file=sys.stderr, flush=True)
    r.finish()
print("DONE " + json.dumps(logged), flush=True)
"""


async def view(ws_url: str, run_ids: list[str], lat: list[float], errors: list[str],
               stop: asyncio.Event) -> None:
    try:
        async with websockets.connect(ws_url, max_size=None) as ws:
            for run_id in run_ids:
                await ws.send(json.dumps({"type": "subscribe", "run_id": run_id,
                                          "since": {"steps": {"t": -1}}}))
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                msg = orjson.loads(raw)
                if msg.get("type") == "metric_update":
                    for _step, _t, value in msg["points"].get("t", []):
                        lat.append((now - float(value)) * 1000)
    except Exception as exc:  # a drop is an error of the setup under load
        errors.append(f"viewer: {type(exc).__name__}: {exc}")


def others_cpu(trainers: list[subprocess.Popen[str]]) -> dict[str, float]:
    """CPU seconds so far of what shares the machine with the servers: the trainers (the
    reaped ones through RUSAGE_CHILDREN, minus their start-up, taken before "go"), this
    process (the viewers) and PostgreSQL's processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    trainers_s = children.ru_utime + children.ru_stime
    for proc in trainers:  # alive: before "go", what their start-up cost
        t = psutil.Process(proc.pid).cpu_times()
        trainers_s += t.user + t.system
    me = psutil.Process().cpu_times()
    pg = 0.0
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                pg += t.user + t.system
    return {"trainers": trainers_s, "viewers": me.user + me.system, "postgres": pg}


def pin(servers: list[psutil.Process]) -> None:
    """The servers and PostgreSQL on CPU 0; this process and the trainers it starts on the
    others: as near as one machine comes to a load generator on another host."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs two CPUs at least")
    for p in [*servers, *(q for q in psutil.process_iter(["name"])
                          if q.info["name"] == "postgres")]:
        with contextlib.suppress(psutil.Error):
            p.cpu_affinity(cpus[:1])
    os.sched_setaffinity(0, cpus[1:])


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def stored_points(base_urls: list[str], runs: dict[str, int]) -> int:
    total = 0
    with httpx.Client(timeout=60) as client:
        for run_id, server in runs.items():
            metrics = client.get(f"{base_urls[server]}/api/runs/{run_id}/metrics").json()
            total += sum(m["count"] for m in metrics["metrics"])
    return total


def one(urls: list[str], servers: list[psutil.Process], runs: int, hz: float,
        viewers: int, seconds: float, procs: int, tmp: Path) -> dict[str, Any]:
    per = [runs // procs + (1 if i < runs % procs else 0) for i in range(procs)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    trainers = []
    first = 0
    for i, n in enumerate(per):
        if n == 0:
            continue
        trainers.append(subprocess.Popen(
            [sys.executable, "-c", TRAINER, ",".join(urls), str(n), str(hz), str(seconds),
             str(first)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(tmp / f"trainer{i}.err", "w"), text=True,
            env={**env, "TRAINDECK_DIR": str(tmp / f"client{i}")}, cwd=tmp))
        first += n
    run_server: dict[str, int] = {}
    for proc in trainers:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise SystemExit(f"a trainer did not start: {line!r}")
        for item in line.split()[1:]:
            run_id, server = item.split("@")
            run_server[run_id] = int(server)
    lat: list[float] = []
    errors: list[str] = []
    ids = list(run_server)

    stored_lag: list[float] = []

    async def watch_stored(stop: asyncio.Event) -> None:
        """How old the newest stored ``t`` of a few runs is, 10 times a second: the part
        of the push latency spent before the store (SDK, HTTP, batch apply)."""
        sample = ids[:5]
        async with httpx.AsyncClient(timeout=30) as client:
            while not stop.is_set():
                for run_id in sample:
                    base = urls[run_server[run_id]]
                    got = await client.get(f"{base}/api/runs/{run_id}/metrics/latest")
                    if got.status_code == 200:
                        latest = got.json()["latest"].get("t")
                        if latest is not None:
                            stored_lag.append((time.time() - float(latest["value"])) * 1000)
                await asyncio.sleep(0.1)

    async def main() -> None:
        stop = asyncio.Event()
        tasks = []
        for v in range(viewers):
            mine = ids[v::viewers] or ids[v % len(ids)::len(ids)]
            server = run_server[mine[0]]
            ws = urls[server].replace("http://", "ws://") + "/ws"
            tasks.append(asyncio.create_task(view(ws, mine, lat, errors, stop)))
        await asyncio.sleep(1.0)  # subscribed
        go = asyncio.Event()
        lagging = asyncio.create_task(watch_stored(go))
        cpu0 = [p.cpu_times() for p in servers]
        others0 = others_cpu(trainers)
        t0 = time.monotonic()
        for proc in trainers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        logged: dict[str, int] = {}
        for proc in trainers:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            if line.startswith("DONE"):
                logged.update(json.loads(line[5:]))
            await asyncio.to_thread(proc.wait, 600)
            if proc.returncode != 0:
                errors.append(f"a trainer exited {proc.returncode}")
        wall = time.monotonic() - t0
        go.set()
        await lagging
        cpu1 = [p.cpu_times() for p in servers]
        others1 = others_cpu([])
        await asyncio.sleep(1.0)  # the last pushes
        stop.set()
        await asyncio.gather(*tasks)
        result["logged"] = sum(logged.values()) * len(KEYS)
        result["wall_s"] = wall
        result["cpu"] = [round(100 * ((b.user + b.system) - (a.user + a.system)) / wall, 1)
                         for a, b in zip(cpu0, cpu1, strict=True)]
        result["others"] = {k: round(100 * (others1[k] - others0[k]) / wall, 1)
                            for k in others0}

    result: dict[str, Any] = {}
    asyncio.run(main())
    for i in range(len(trainers)):
        text = (tmp / f"trainer{i}.err").read_text()
        errors += [ln for ln in text.splitlines() if ln.startswith(("traindeck:", "FLUSH"))]
    stored = stored_points(urls, run_server)
    arr = np.array(lat) if lat else np.array([float("nan")])
    return {
        "runs": runs, "hz": hz, "viewers": viewers, "seconds": seconds,
        "points_logged": result["logged"], "points_stored": stored,
        "lost": result["logged"] - stored,
        "points_per_s_stored": round(stored / result["wall_s"]),
        "push_p50_ms": round(float(np.percentile(arr, 50)), 1),
        "push_p95_ms": round(float(np.percentile(arr, 95)), 1),
        "push_samples": len(lat),
        "stored_lag_p50_ms": pct(stored_lag, 50), "stored_lag_p95_ms": pct(stored_lag, 95),
        "errors": len(errors), "error_examples": errors[:3],
        "server_cpu_pct": result["cpu"],
        "other_cpu_pct": result["others"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--servers", type=int, choices=(1, 2), default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--hz", type=float, default=100)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--procs", type=int, default=10)
    ap.add_argument("--sweep", default="", help="numbers of runs, one after the other")
    ap.add_argument("--pin", action="store_true",
                    help="the servers and PostgreSQL on the first CPU, the load on the rest")
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (else a throwaway one)")
    args = ap.parse_args()
    speed_at_start = reference_loop_s()
    cluster = None
    servers: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        store = None
        if args.engine == "postgresql":
            store = args.store
            if store is None:
                sys.path.insert(0, str(TESTS))
                from pg_service import start_postgres

                folder = Path(tempfile.mkdtemp(prefix="td-pg-load-"))
                folder.chmod(0o755)
                cluster = start_postgres(folder)
                store = cluster.url(schema=f"load_{secrets.token_hex(3)}")
        try:
            ports = [free_port() for _ in range(args.servers)]
            servers = [start_server(tmp / "files", p, store=store) for p in ports]
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            procs = [psutil.Process(s.pid) for s in servers]
            if args.pin:
                pin(procs)
            results = []
            for runs in ([int(x) for x in args.sweep.split(",")] if args.sweep else
                         [args.runs]):
                got = one(urls, procs, runs, args.hz, args.viewers, args.seconds,
                          min(args.procs, runs), tmp)
                results.append(got)
                if got["push_p95_ms"] > 1000:
                    break
        finally:
            for s in servers:
                s.terminate()
                s.wait(30)
            if cluster is not None:
                cluster.stop()
                shutil.rmtree(cluster.folder, ignore_errors=True)
    print(json.dumps({
        "benchmark": "load", "engine": args.engine, "servers": args.servers,
        "results": results if args.sweep else results[0],
        "bars": {"errors": 0, "lost": 0, "push_p95_ms": 250},
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "reference_loop_s": [speed_at_start, reference_loop_s()],
    }))


if __name__ == "__main__":
    main()
