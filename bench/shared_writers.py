"""Several training processes writing one SQLite file at once (the embedded default): how
long each ``write_metrics`` takes, waiting for the write lock included.

``--procs`` processes (real child processes, each with its own ``SQLiteStore``) each write
one step of ``--keys`` keys every ``--every`` seconds for ``--seconds`` seconds, all
starting together; each times every ``write_metrics`` call. Reports the writes done and
the p50 / p95 / p99 / max of their durations. Prints one JSON object.

    .venv/bin/python bench/shared_writers.py [--procs 5] [--keys 200] [--every 0.05]
        [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from traindeck.store import SQLiteStore

CHILD = """
import json, sys, time
import numpy as np
from traindeck.store import SQLiteStore
path, run_id, keys, every, seconds, go = sys.argv[1:7]
keys, every, seconds, go = int(keys), float(every), float(seconds), float(go)
names = [f"k{i}" for i in range(keys)]
took = []
with SQLiteStore(path) as store:
    while time.time() < go:
        time.sleep(0.001)
    step = 0
    while time.time() < go + seconds:
        began = time.perf_counter()
        s = np.array([step])
        store.write_metrics(run_id, {k: (s, s * 0.1, s * 1.0) for k in names})
        took.append(time.perf_counter() - began)
        step += 1
        time.sleep(max(0.0, every - (time.perf_counter() - began)))
print(json.dumps(took))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=5)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--every", type=float, default=0.05)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "traindeck.db"
        with SQLiteStore(path) as store:
            ids = [store.create_run(project="bench").id for _ in range(args.procs)]
        go = time.time() + 3.0  # imports and opening first
        procs = [subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), run_id, str(args.keys), str(args.every),
             str(args.seconds), str(go)], stdout=subprocess.PIPE, text=True) for run_id in ids]
        took: list[float] = []
        for p in procs:
            out, _ = p.communicate()
            took += json.loads(out.strip().splitlines()[-1])
    ms = np.array(took) * 1000
    p50, p95, p99, top = (round(float(v), 1) for v in np.percentile(ms, [50, 95, 99, 100]))
    print(json.dumps({
        "benchmark": "shared_writers", "procs": args.procs, "keys": args.keys,
        "every_s": args.every, "seconds": args.seconds, "writes": len(took),
        "write_p50_ms": p50, "write_p95_ms": p95, "write_p99_ms": p99, "write_max_ms": top,
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
    }))


if __name__ == "__main__":
    main()
