"""Points/s of ``traindeck export --format parquet`` of a 10M-point run.

Builds (once; cached under ``.bench/``, which git ignores) a store holding one run with a
10M-point series (a training-like loss with a few NaNs), written through
``SQLiteStore.write_metrics`` in batches of 100k points, then exports it to a Parquet file
under ``.bench/`` exactly as the command does (``traindeck.export.prepare`` and its chunks,
written to a file) and reads the file's row count back with pyarrow to check it. Reports
points/s, the file's bytes per point and the process's peak RSS growth (the export
streams; it never holds the run; null on the run that built the store). Prints one JSON object.

    .venv/bin/python bench/export_parquet.py [--points 10000000] [--rebuild]

Bar (docs): >= 2M points/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from traindeck.export import prepare
from traindeck.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
RUN = "bench-export"
KEY = "loss"
BATCH = 100_000
BAR_POINTS_PER_S = 2_000_000


def build(path: Path, n_points: int) -> float:
    """Write the series; returns its write rate (points/s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    rng = np.random.default_rng(n_points)
    steps = np.arange(n_points, dtype=np.int64)
    times = 1.7e9 + np.cumsum(rng.uniform(0.05, 0.15, n_points))
    values = 2.0 / np.sqrt(1.0 + steps / 1e4) + rng.normal(0.0, 0.05, n_points)
    values[rng.choice(n_points, max(1, n_points // 100_000), replace=False)] = np.nan
    with SQLiteStore(path) as store:
        store.create_run(project="bench", id=RUN, status="completed")
        t0 = time.perf_counter()
        for i in range(0, n_points, BATCH):
            sl = slice(i, i + BATCH)
            store.write_metrics(RUN, {KEY: (steps[sl], times[sl], values[sl])})
        rate = n_points / (time.perf_counter() - t0)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rate


def cached(path: Path, n_points: int) -> bool:
    if not path.exists():
        return False
    try:
        with SQLiteStore(path) as store:
            return {s.key: s.count for s in store.metric_keys(RUN)} == {KEY: n_points}
    except Exception:
        return False


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    path = CACHE / f"export_{args.points}.db"
    build_rate = None
    if args.rebuild or not cached(path, args.points):
        build_rate = build(path, args.points)
    out = CACHE / f"export_{args.points}.parquet"
    with SQLiteStore(path) as store:
        store.read_points(RUN, KEY, limit=1)  # open the read connection
        rss_before = rss_mib()
        t0 = time.perf_counter()
        job = prepare(store, [RUN], "parquet")
        with open(out, "wb") as f:
            for data in job.chunks():
                f.write(data)
        took = time.perf_counter() - t0
        rss_after = rss_mib()
    rows = pq.ParquetFile(out).metadata.num_rows
    assert rows == args.points == job.rows, (rows, job.rows)
    rate = args.points / took
    print(json.dumps({
        "benchmark": "export_parquet",
        "points": args.points,
        "seconds": round(took, 3),
        "points_per_s": round(rate),
        "bar_points_per_s": BAR_POINTS_PER_S,
        "meets_bar": rate >= BAR_POINTS_PER_S,
        "file_bytes_per_point": round(out.stat().st_size / args.points, 2),
        # the build's own arrays set the peak when it ran in this process: rerun to measure
        "peak_rss_growth_mib": None if build_rate is not None
        else round(rss_after - rss_before, 1),
        "build_points_per_s": None if build_rate is None else round(build_rate),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
