"""The PostgreSQL engine: ingest through the batch route, and 1,000 buckets of 10M points.

A throwaway PostgreSQL cluster is started in a temp folder (``tests/pg_service.py``: the
tests' own; fsync off, as for any benchmark of a disposable cluster), or ``--store URL``
names one. Then:

- **ingest**: ``traindeck serve --store URL`` in a child process; this process logs
  ``--steps`` steps x 5 scalars with ``TRAINDECK_URL`` set, as fast as a loop can, timed
  from the first ``log()`` until ``run.flush()`` returns (every batch sent, committed to
  PostgreSQL and acknowledged), as ``bench/remote_ingest.py`` does for SQLite;
- **read**: a series of ``--points`` points (written with ``write_metrics`` in batches of
  100k, as a training loop's batches land), then ``read_buckets(n=1000)`` timed warm over
  the full range and over 1% step windows spread across the series (median and p95 of
  ``--reads`` reads each).

Prints one JSON object. Bars (issue 14): ingest >= 300k points/s; 1,000 buckets of a
10M-point series <= 50 ms.

    .venv/bin/python bench/pg_store.py [--steps 200000] [--points 10000000] [--reads 30]
        [--store postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _launching import free_port
from _serving import start_server

import traindeck as td
from traindeck.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def ingest(url: str, tmp: Path, steps: int) -> dict[str, float]:
    port = free_port()
    server = start_server(tmp / "files", port, store=url)
    try:
        run = td.init(project="bench", name="pg_ingest", dir=tmp / "client",
                      url=f"http://127.0.0.1:{port}", system_interval=None)
        log = run.log
        t0 = time.perf_counter()
        for i in range(steps):
            log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 1e-3, "grad_norm": 0.5,
                 "tok": i}, step=i)
        ok = run.flush(timeout=900)
        took = time.perf_counter() - t0
        run.finish()
        if not ok:
            raise SystemExit("flush timed out")
        with open_store(url, files_root=tmp / "files") as store:
            stored = sum(s.count for s in store.metric_keys(run.id))
    finally:
        server.terminate()
        server.wait(30)
    return {"points": steps * 5, "points_on_server": stored, "durable_s": round(took, 3),
            "points_per_s": round(steps * 5 / took)}


def read(url: str, tmp: Path, points: int, reads: int) -> dict[str, float]:
    with open_store(url, files_root=tmp / "files") as store:
        run = store.create_run(project="bench", name="pg_read")
        t0 = time.perf_counter()
        for lo in range(0, points, 100_000):
            s = np.arange(lo, min(points, lo + 100_000), dtype=np.int64)
            store.write_metrics(run.id, {"loss": (s, 1000.0 + s * 0.01,
                                                  np.sin(s / 10_000) + s * 1e-7)})
        written = time.perf_counter() - t0
        store.set_status(run.id, "completed")  # its last chunks grouped, as a run that ended

        def timed(**window: int) -> float:
            t = time.perf_counter()
            b = store.read_buckets(run.id, "loss", n=1000, **window)
            assert len(b) > 0
            return (time.perf_counter() - t) * 1000

        timed()  # warm
        full = [timed() for _ in range(reads)]
        rng = np.random.default_rng(7)
        width = points // 100
        windows = []
        for lo in rng.integers(0, points - width, reads):
            windows.append(timed(step_min=int(lo), step_max=int(lo) + width))
    return {"points": points, "write_s": round(written, 1),
            "full_median_ms": round(statistics.median(full), 2),
            "full_p95_ms": round(float(np.percentile(full, 95)), 2),
            "window_1pct_median_ms": round(statistics.median(windows), 2),
            "window_1pct_p95_ms": round(float(np.percentile(windows, 95)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--reads", type=int, default=30)
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (default: a throwaway "
                                                  "cluster in a temp folder)")
    args = ap.parse_args()
    cluster = None
    base = args.store
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        if base is None:
            from pg_service import start_postgres

            folder = Path(tempfile.mkdtemp(prefix="td-pg-bench-"))
            folder.chmod(0o755)
            cluster = start_postgres(folder)
            base = cluster.url()
        sep = "&" if "?" in base else "?"
        try:
            got_in = ingest(f"{base}{sep}schema=bench_{secrets.token_hex(3)}", tmp, args.steps)
            got_read = read(f"{base}{sep}schema=bench_{secrets.token_hex(3)}", tmp,
                            args.points, args.reads)
            with open_store(base, files_root=tmp) as s:
                engine = s.engine_version()
        finally:
            if cluster is not None:
                cluster.stop()
                shutil.rmtree(cluster.folder, ignore_errors=True)
    print(json.dumps({
        "benchmark": "pg_store",
        "engine": engine,
        "ingest": got_in,
        "bar_ingest_points_per_s": 300_000,
        "read_1000_buckets": got_read,
        "bar_read_ms": 50,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
