"""The server's group commit, in the store alone: ``Store.apply_many`` of R runs' requests.

R runs exist; each group holds one request of each run, as the batch route gathers them
when R trainers send together: one batch of 5 keys x 2 steps, with a summary and a
heartbeat (what a training loop's request carries). ``--groups`` groups are applied one
after the other, warm (20 groups first, untimed). Reports the CPU of this process per
request (the store's Python side: on PostgreSQL the database's own work is not in it) and
the wall time per group (on PostgreSQL, round trips and the database's work included).

A throwaway PostgreSQL cluster is started for ``--engine postgresql`` (``tests/pg_service.py``),
or ``--store URL`` names one. Prints one JSON object.

    .venv/bin/python bench/group_commit.py [--engine sqlite|postgresql] [--runs 20]
        [--groups 300] [--store postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _stores import store_url

from traindeck.runfiles import RunFiles
from traindeck.store import open_store
from traindeck.store.batch_wire import Batch

KEYS = ("t", "loss", "acc", "lr", "grad_norm")


def batch(run_id: str, i: int, *, first: bool = False) -> Batch:
    steps = np.arange(2 * i, 2 * i + 2, dtype=np.int64)
    now = time.time()
    return Batch(batch_id=f"{run_id}:{i}",
                 run={"project": "bench", "name": run_id} if first else None,
                 metrics={k: (steps, np.full(2, now), np.full(2, 0.5)) for k in KEYS},
                 summary={"loss": 0.5}, heartbeat=now)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--groups", type=int, default=300)
    ap.add_argument("--store", help="a PostgreSQL URL to use instead of a throwaway cluster")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="td-group-"))
    try:
        with store_url(args.engine, args.store, tmp, "group") as url:
            store = open_store(url, files_root=str(tmp / "files"))
            files = RunFiles(tmp / "files")
            runs = [f"r{j}" for j in range(args.runs)]
            for run_id in runs:
                store.apply_batches(run_id, [batch(run_id, 0, first=True)], files)
            for i in range(1, 21):
                store.apply_many([(r, [batch(r, i)]) for r in runs], files)
            groups = [[(r, [batch(r, i)]) for r in runs] for i in range(21, 21 + args.groups)]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for group in groups:
                store.apply_many(group, files)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            store.close()
            print(json.dumps({
                "benchmark": "group_commit", "engine": args.engine,
                "results": {"runs": args.runs, "groups": args.groups,
                            "cpu_us_per_request": round(cpu / (args.groups * args.runs) * 1e6, 1),
                            "wall_ms_per_group": round(wall / args.groups * 1e3, 2)},
                "python": platform.python_version()}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
