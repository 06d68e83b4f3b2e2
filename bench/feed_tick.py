"""One tick of a live server's follower, in the store alone: what changed
(``changes_since``) and the new points of every changed series (``read_points_many``).

R runs x 5 keys exist with ``--points`` points each (full chunks and an open one, as a run
that has logged for a while). Each tick, every series gets 2 new steps (written untimed,
one ``write_metrics`` a run), then the tick's two reads are timed, as the hub does them:
``changes_since`` from the last tick's ``seq``, and ``read_points_many`` of every changed
series after its last step sent. Reports the median and p95 of each over ``--ticks``
ticks. A throwaway PostgreSQL cluster is started for ``--engine postgresql``
(``tests/pg_service.py``), or ``--store URL`` names one. Prints one JSON object.

    .venv/bin/python bench/feed_tick.py [--engine sqlite|postgresql] [--runs 50]
        [--points 10000] [--ticks 50] [--store postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _stores import store_url

from traindeck.store import open_store

KEYS = ("t", "loss", "acc", "lr", "grad_norm")


def series(lo: int, hi: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    steps = np.arange(lo, hi, dtype=np.int64)
    return {k: (steps, steps * 0.01, np.sin(steps * 0.001)) for k in KEYS}


def ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50_ms": round(statistics.median(values) * 1e3, 2),
            "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1e3, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--ticks", type=int, default=50)
    ap.add_argument("--store", help="a PostgreSQL URL to use instead of a throwaway cluster")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="td-tick-"))
    try:
        with store_url(args.engine, args.store, tmp, "tick") as url:
            store = open_store(url, files_root=str(tmp / "files"))
            runs = [store.create_run(project="bench", name=f"r{i}").id for i in range(args.runs)]
            for run_id in runs:
                store.write_metrics(run_id, series(0, args.points))
            seq, event_seq = store.current_seq()
            sent = {(r, k): args.points - 1 for r in runs for k in KEYS}
            feed: list[float] = []
            reads: list[float] = []
            top = args.points
            for _ in range(args.ticks):
                for run_id in runs:
                    store.write_metrics(run_id, series(top, top + 2))
                top += 2
                t0 = time.perf_counter()
                changes = store.changes_since(seq, event_seq)
                t1 = time.perf_counter()
                wanted = [(s.run_id, s.key, sent[(s.run_id, s.key)]) for s in changes.series]
                got = store.read_points_many(wanted, limit=5000)
                t2 = time.perf_counter()
                assert len(got) == len(wanted) == args.runs * len(KEYS)
                for (run_id, key, _), p in got.items():
                    assert len(p) == 2
                    sent[(run_id, key)] = int(p.steps[-1])
                seq = changes.seq
                feed.append(t1 - t0)
                reads.append(t2 - t1)
            store.close()
            print(json.dumps({
                "benchmark": "feed_tick", "engine": args.engine,
                "results": {"runs": args.runs, "series": args.runs * len(KEYS),
                            "points_per_series": args.points, "ticks": args.ticks,
                            "changes_since": ms(feed), "read_points_many": ms(reads),
                            "tick": ms([a + b for a, b in zip(feed, reads, strict=True)])},
                "python": platform.python_version()}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
