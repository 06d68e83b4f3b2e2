"""The run table's reads through a real server: sort 10,000 runs by a metric column.

A fresh SQLite store gets ``--runs`` runs (10,000), each with ``--metrics`` metric keys (20,
``k0``…, 10 points each) and ``--config`` config keys (10: ``c0``…, numbers, a string, a
nested one). A real server (``traindeck serve``'s code, uvicorn) runs in a subprocess on a
free port; each request is timed from sending it to its last byte read, over loopback:

- ``sort``: ``GET /api/runs?sort=-metric:k7:last&columns=<every column>&limit=100``;
- ``sort_min``: the same sorted by ``metric:k3:min``;
- ``sort_config``: sorted by ``config:c1`` descending;
- ``filter``: ``q=k2>0.5 c0<=5000 status:running`` with the same sort, columns and page;
- ``groups``: ``GET /api/runs/groups?by=config:c4&columns=<5 metric columns>``;
- ``columns``: ``GET /api/runs/columns``.

Prints one JSON object with p50/p95 in milliseconds (``--repeat`` requests each, after
one warm-up). The bar: ``sort`` p95 ≤ 300 ms.

    .venv/bin/python bench/run_table.py [--runs 10000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _launching import free_port
from _serving import start_server

from traindeck.store import SQLiteStore


def fill(folder: Path, runs: int, metrics: int, config: int) -> float:
    """The store; how long filling it took (seconds)."""
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    steps = np.arange(10)
    with SQLiteStore(folder / "traindeck.db") as store:
        for start in range(0, runs, 500):
            with store.core.write():  # one transaction per 500 runs
                for i in range(start, min(start + 500, runs)):
                    cfg: dict[str, Any] = {f"c{j}": float(rng.random()) for j in range(config)}
                    cfg["c0"] = i
                    cfg["c4"] = ["adam", "sgd", "lion"][i % 3]
                    cfg["c5"] = {"nested": int(i % 7)}
                    run = store.create_run(project=f"p{i % 4}", name=f"run-{i}", id=f"r{i:05d}",
                                           config=cfg, started_at=1.7e9 + i)
                    values = rng.random((metrics, len(steps)))
                    if i % 97 == 0:
                        values[7, -1] = np.nan  # some NaN last values on the sort key
                    store.write_metrics(run.id, {
                        f"k{j}": (steps, 1.7e9 + i + steps, values[j]) for j in range(metrics)})
                    if i % 5:
                        store.set_status(run.id, "completed")
    return time.perf_counter() - t0


def timed(client: httpx.Client, path: str, params: dict[str, Any], repeat: int
          ) -> dict[str, float]:
    r = client.get(path, params=params)
    r.raise_for_status()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path, params=params)
        r.raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
            "bytes": len(r.content)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--metrics", type=int, default=20)
    ap.add_argument("--config", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    cols = ",".join([f"metric:k{j}:last" for j in range(args.metrics)]
                    + [f"config:c{j}" for j in range(args.config)])
    page = {"columns": cols, "limit": 100}
    with tempfile.TemporaryDirectory() as tmp_:
        folder = Path(tmp_)
        fill_s = fill(folder, args.runs, args.metrics, args.config)
        port = free_port()
        proc = start_server(folder, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                out = {
                    "sort": timed(client, "/api/runs",
                                  {**page, "sort": "-metric:k7:last"}, args.repeat),
                    "sort_min": timed(client, "/api/runs",
                                      {**page, "sort": "metric:k3:min"}, args.repeat),
                    "sort_config": timed(client, "/api/runs",
                                         {**page, "sort": "-config:c1"}, args.repeat),
                    "filter": timed(client, "/api/runs", {
                        **page, "sort": "-metric:k7:last",
                        "q": "k2>0.5 c0<=5000 status:running"}, args.repeat),
                    "groups": timed(client, "/api/runs/groups", {
                        "by": "config:c4",
                        "columns": ",".join(f"metric:k{j}" for j in range(5))}, args.repeat),
                    "columns": timed(client, "/api/runs/columns", {}, args.repeat),
                }
                total = client.get("/api/runs", params={"limit": 1}).json()["total"]
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps({
        "bench": "run_table", "runs": total, "metric_keys": args.metrics,
        "config_keys": args.config, "n_columns": args.metrics + args.config,
        "page": 100, "repeat": args.repeat, "fill_s": round(fill_s, 1), **out,
        "bar_sort_p95_ms": 300, "ok": out["sort"]["p95_ms"] <= 300,
        "python": platform.python_version(), "machine": platform.machine(),
    }))


if __name__ == "__main__":
    sys.exit(main())
