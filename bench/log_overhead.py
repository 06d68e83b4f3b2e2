"""µs per ``run.log()`` of 5 scalars, median and p99, over 200k steps (embedded mode).

Each call is timed alone with ``perf_counter_ns`` while the run's background thread writes to
a real SQLite file, as in training. The figure includes building the dict literal, as a
script would. Prints one JSON object.

    .venv/bin/python bench/log_overhead.py [--steps 200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time

import numpy as np

import traindeck as td


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = td.init(project="bench", name="log_overhead", dir=tmp, system_interval=None)
        clock = time.perf_counter_ns
        log = run.log
        samples = np.empty(args.steps, dtype=np.int64)
        # Timer overhead, measured the same way, is reported (not subtracted).
        empty = np.empty(10_000, dtype=np.int64)
        for i in range(len(empty)):
            t0 = clock()
            empty[i] = clock() - t0
        gc_was = gc.isenabled()
        t_start = time.perf_counter()
        for i in range(args.steps):
            t0 = clock()
            log({"loss": 0.5, "acc": 0.9, "lr": 1e-3, "grad_norm": 1.5, "epoch": 3}, step=i)
            samples[i] = clock() - t0
        wall = time.perf_counter() - t_start
        t_flush = time.perf_counter()
        run.finish()
        flush_s = time.perf_counter() - t_flush
    us = samples / 1000.0
    print(json.dumps({
        "benchmark": "log_overhead",
        "steps": args.steps,
        "scalars_per_log": 5,
        "median_us": round(float(np.median(us)), 3),
        "p99_us": round(float(np.percentile(us, 99)), 3),
        "p999_us": round(float(np.percentile(us, 99.9)), 3),
        "mean_us": round(float(us.mean()), 3),
        "timer_overhead_median_us": round(float(np.median(empty)) / 1000.0, 3),
        "loop_wall_s": round(wall, 3),
        "finish_flush_s": round(flush_s, 3),
        "gc_enabled": gc_was,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "processor": platform.machine()},
    }))


if __name__ == "__main__":
    main()
