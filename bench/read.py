"""ms to read 1,000 buckets of a 10M-point series: the full range and 1% windows.

Builds (once; cached under ``.bench/``, which git ignores) a store holding one 10M-point
series and one 1M-point series, written through ``SQLiteStore.write_metrics`` in batches of
100k points, then times ``read_buckets(n=1000)`` warm: the full range, 1% step windows spread
across the series, and 1% time windows, each figure the median and p95 of ~30 reads. The 1M
figures show that the time does not grow with the series' length. Also reports the write
rate of the build (when it ran) and the file's bytes per point. Prints one JSON object.

    .venv/bin/python bench/read.py [--points 10000000] [--reads 30] [--rebuild]

Bar (docs): <= 50 ms for 1,000 buckets of a 10M-point series on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import time
from pathlib import Path

import numpy as np

from traindeck.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
RUN = "bench-read"
BATCH = 100_000
N_BUCKETS = 1000


def series(n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training-like series: step 0..n-1, wall time growing with jitter, a noisy loss."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n_points, dtype=np.int64)
    times = 1.7e9 + np.cumsum(rng.uniform(0.05, 0.15, n_points))
    values = 2.0 / np.sqrt(1.0 + steps / 1e4) + rng.normal(0.0, 0.05, n_points)
    values[rng.choice(n_points, max(1, n_points // 100_000), replace=False)] = np.nan
    return steps, times, values


def build(path: Path, sizes: dict[str, int]) -> dict[str, float]:
    """Write every series; returns points/s of each build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    rates: dict[str, float] = {}
    with SQLiteStore(path) as store:
        store.create_run(project="bench", id=RUN, status="completed")
        for key, n_points in sizes.items():
            steps, times, values = series(n_points, seed=n_points)
            t0 = time.perf_counter()
            for i in range(0, n_points, BATCH):
                sl = slice(i, i + BATCH)
                store.write_metrics(RUN, {key: (steps[sl], times[sl], values[sl])})
            rates[key] = n_points / (time.perf_counter() - t0)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rates


def cached(path: Path, sizes: dict[str, int]) -> bool:
    if not path.exists():
        return False
    try:
        with SQLiteStore(path) as store:
            have = {s.key: s.count for s in store.metric_keys(RUN)}
    except Exception:
        return False
    return have == sizes


def timed(
    store: SQLiteStore, key: str, windows: list[dict[str, float]], reads: int
) -> dict[str, float]:
    for w in windows:  # warm: the pages are in the OS cache, the connection is open
        store.read_buckets(RUN, key, n=N_BUCKETS, **w)  # type: ignore[arg-type]
    ms: list[float] = []
    count = 0
    for i in range(reads):
        w = windows[i % len(windows)]
        t0 = time.perf_counter()
        b = store.read_buckets(RUN, key, n=N_BUCKETS, **w)  # type: ignore[arg-type]
        ms.append((time.perf_counter() - t0) * 1e3)
        count = len(b)
    a = np.array(ms)
    return {
        "median_ms": round(float(np.median(a)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "max_ms": round(float(a.max()), 3),
        "buckets": count,
        "reads": reads,
    }


def windows_for(n_points: int, k: int) -> dict[str, list[dict[str, float]]]:
    width = n_points // 100
    starts = np.linspace(0, n_points - width, k).astype(np.int64)
    step_w = [{"step_min": int(s), "step_max": int(s + width - 1)} for s in starts]
    # Time windows cover the same 1% of points (times grow with the step).
    _, times, _ = series(n_points, seed=n_points)
    time_w = [
        {"time_min": float(times[s]), "time_max": float(times[s + width - 1])} for s in starts
    ]
    return {"step": step_w, "time": time_w}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--reads", type=int, default=30)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    big = args.points
    small = max(1, big // 10)
    sizes = {f"loss_{small}": small, f"loss_{big}": big}
    path = CACHE / f"read_{big}.db"
    build_rate = None
    if args.rebuild or not cached(path, sizes):
        build_rate = build(path, sizes)
    db_bytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))

    results: dict[str, object] = {}
    with SQLiteStore(path) as store:
        for key, n_points in sizes.items():
            w = windows_for(n_points, k=10)
            results[str(n_points)] = {
                "full_range": timed(store, key, [{}], args.reads),
                "window_1pct_steps": timed(store, key, w["step"], args.reads),
                "window_1pct_time": timed(store, key, w["time"], args.reads),
            }
    big_full = results[str(big)]["full_range"]["median_ms"]  # type: ignore[index]
    big_win = results[str(big)]["window_1pct_steps"]["median_ms"]  # type: ignore[index]
    print(json.dumps({
        "benchmark": "read",
        "what": f"ms per read_buckets(n={N_BUCKETS}), warm, median/p95 of {args.reads} reads",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "points": big,
        "results": results,
        "bytes_per_point": round(db_bytes / sum(sizes.values()), 2),
        "file_bytes": db_bytes,
        "build_points_per_s": None if build_rate is None else {
            k: round(v) for k, v in build_rate.items()
        },
        "bar_ms": 50,
        "bar_met": bool(max(big_full, big_win) <= 50),
    }, indent=2))


if __name__ == "__main__":
    main()
