"""Points/s from ``log()`` to durable in the store, against raw SQLite in the same run.

traindeck: 1M points (200k steps x 5 scalars) logged as fast as a loop can, timed from the
first ``log()`` until ``run.flush()`` returns (everything committed, rollups included).
Ceiling: plain ``sqlite3.executemany`` of the same 1M (run, key, step, time, value) rows into
a table keyed by (run, key, step), same pragmas (WAL, synchronous=NORMAL), one transaction.
Also reports the store file's bytes per point. Prints one JSON object.

    .venv/bin/python bench/ingest.py [--points 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

import traindeck as td


def traindeck_ingest(tmp: Path, steps: int) -> tuple[float, float, int]:
    run = td.init(project="bench", name="ingest", dir=tmp / "td", system_interval=None)
    log = run.log
    t0 = time.perf_counter()
    for i in range(steps):
        log({"loss": 1.0 / (i + 1), "acc": i * 1e-6, "lr": 1e-3, "grad_norm": 0.5, "tok": i},
            step=i)
    t_logged = time.perf_counter()
    ok = run.flush(timeout=600)
    t_durable = time.perf_counter()
    run.finish()
    if not ok:
        raise SystemExit("flush timed out")
    db = tmp / "td" / "traindeck.db"
    size = sum(p.stat().st_size for p in db.parent.glob("traindeck.db*"))
    return t_logged - t0, t_durable - t0, size


def raw_ceiling(tmp: Path, steps: int) -> float:
    conn = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE points (run TEXT, key TEXT, step INTEGER, time REAL, value REAL, "
        "PRIMARY KEY (run, key, step)) WITHOUT ROWID"
    )
    now = time.time()
    keys = ("loss", "acc", "lr", "grad_norm", "tok")
    rows = [("r1", k, i, now, float(i)) for k in keys for i in range(steps)]
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()
    steps = args.points // 5
    points = steps * 5
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        logged_s, durable_s, size = traindeck_ingest(tmp, steps)
        raw_s = raw_ceiling(tmp, steps)
    td_rate = points / durable_s
    raw_rate = points / raw_s
    print(json.dumps({
        "benchmark": "ingest",
        "points": points,
        "traindeck_points_per_s": round(td_rate),
        "traindeck_log_loop_s": round(logged_s, 3),
        "traindeck_durable_s": round(durable_s, 3),
        "raw_executemany_points_per_s": round(raw_rate),
        "ratio_to_raw": round(td_rate / raw_rate, 3),
        "store_bytes_per_point": round(size / points, 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "sqlite": sqlite3.sqlite_version},
    }))


if __name__ == "__main__":
    main()
