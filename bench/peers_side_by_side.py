"""traindeck and trackio 0.43 side by side, one harness, same process layout (issue 15).

Each rep runs one fresh child process per tracker (interleaved: traindeck, trackio,
traindeck, …). A child precomputes ``--steps`` realistic training metrics (loss, acc and
grad_norm as float32-sourced floats, as ``tensor.item()`` gives; a float64 cosine lr; an
epoch counter), then, timed from the loop's first call:

- **cost per step**: loop wall time / steps, ``log(metrics, step=i)`` with the tracker's
  background writer running (not only the enqueue);
- **log → stored**: points / time until ``finish()`` returns and every point is durable;
- **bytes per point**: the store's files for that run (SQLite db + ``-wal``) once the child
  has exited (every connection closed); ``bytes_per_point_at_finish`` is the same while the
  child still lives, right after ``finish()`` (a WAL not yet folded back counts there).

The child then reads every point back from the store (traindeck: ``read_points``; trackio:
its SQLite ``metrics`` table) and fails loudly if any is missing or differs. trackio runs
in its own venv, ``.bench/peers/trackio-venv`` (created with ``trackio==0.43.0`` when
missing; never the project's), local only: ``TRACKIO_DIR`` under a temporary folder,
``HF_HUB_OFFLINE=1``, no Space, no server. Prints one JSON object (progress on stderr).

    .venv/bin/python bench/peers_side_by_side.py [--steps 100000] [--reps 3]
        [--trackers traindeck,trackio]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _workload import training_metrics

ROOT = Path(__file__).resolve().parents[1]
TRACKIO_VERSION = "0.43.0"
TRACKIO_VENV = ROOT / ".bench" / "peers" / "trackio-venv"
KEYS = ("loss", "acc", "lr", "grad_norm", "epoch")
BARS = {"cost_per_step": 20.0, "points_per_s": 20.0, "bytes_per_point": 25.0}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the workload (identical in both children) ------------------------------------------


def checksum(metrics: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for m in metrics:
        h.update(repr([m[k] for k in KEYS]).encode())
    return h.hexdigest()[:16]


def store_breakdown(db: Path, points: int) -> dict[str, float]:
    """Bytes per point of each table and index (SQLite's dbstat: whole pages, as a
    checkpointed db file holds them), the small ones summed as ``other``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error as e:
        return {"unavailable": str(e)}  # type: ignore[dict-item]
    finally:
        conn.close()
    total = sum(size for _, size in rows)
    out: dict[str, float] = {}
    other = 0.0
    for name, size in sorted(rows, key=lambda r: -r[1]):
        if size >= 0.01 * total:
            out[name] = round(size / points, 2)
        else:
            other += size / points
    out["other"] = round(other, 2)
    out["all_pages"] = round(total / points, 2)
    return out


def store_bytes(db: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists()}


def timed_loop(log: Any, finish: Any, metrics: list[dict[str, Any]]) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i, m in enumerate(metrics):
        log(m, step=i)
    t_loop = time.perf_counter()
    finish()
    return t_loop - t0, time.perf_counter() - t0


# -- children ---------------------------------------------------------------------------


def child_traindeck(work: Path, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    import traindeck as td
    from traindeck.store import open_store

    run = td.init(project="bench", name="peers", dir=work, system_interval=None)
    loop_s, durable_s = timed_loop(run.log, run.finish, metrics)
    db = work / "traindeck.db"
    files = store_bytes(db)  # while this process (and its store connection) lives
    store = open_store(work)
    try:
        stored = 0
        for key in KEYS:
            pts = store.read_points(run.id, key)
            want = np.array([float(m[key]) for m in metrics])
            if not (np.array_equal(pts.steps, np.arange(len(metrics)))
                    and np.array_equal(pts.values, want)):
                raise SystemExit(f"traindeck: {key}: {len(pts)} points stored of "
                                 f"{len(metrics)}, or values differ")
            stored += len(pts)
    finally:
        store.close()  # type: ignore[attr-defined]
    return {"version": td.__version__, "source": str(Path(td.__file__).parent),
            "loop_s": loop_s, "durable_s": durable_s, "db": str(db),
            "files_at_finish": files, "stored_points": stored,
            "breakdown_bytes_per_point": store_breakdown(db, stored)}


def child_trackio(work: Path, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    import trackio  # TRACKIO_DIR, HF_HOME and HF_HUB_OFFLINE are set by the parent

    run = trackio.init(project="bench", name="peers", embed=False, auto_log_cpu=False,
                       auto_log_gpu=False)
    loop_s, durable_s = timed_loop(run.log, run.finish, metrics)
    db = Path(os.environ["TRACKIO_DIR"]) / "bench.db"
    files = store_bytes(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT step, metrics FROM metrics WHERE run_id = ? ORDER BY step",
                            (run.id,)).fetchall()
    finally:
        conn.close()
    stored = 0
    for want_step, (step, blob) in enumerate(rows):
        got = json.loads(blob)
        want = metrics[want_step] if want_step < len(metrics) else {}
        if step != want_step or any(got.get(k) != want[k] for k in KEYS):
            raise SystemExit(f"trackio: row for step {step} differs: {got} != {want}")
        stored += len(KEYS)
    if len(rows) != len(metrics):
        raise SystemExit(f"trackio: {len(rows)} steps stored of {len(metrics)}")
    return {"version": trackio.__version__, "source": str(Path(trackio.__file__).parent),
            "loop_s": loop_s, "durable_s": durable_s, "db": str(db),
            "files_at_finish": files, "stored_points": stored,
            "breakdown_bytes_per_point": store_breakdown(db, stored)}


def child(tracker: str, steps: int, work: Path, out: Path) -> None:
    metrics = training_metrics(steps)
    body = child_traindeck if tracker == "traindeck" else child_trackio
    res = body(work, metrics)
    res["checksum"] = checksum(metrics)
    out.write_text(json.dumps(res))


# -- parent -----------------------------------------------------------------------------


def trackio_python() -> Path:
    """The trackio venv's python, creating the venv and installing trackio when missing."""
    py = TRACKIO_VENV / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('trackio'))"]
    if py.exists():
        got = subprocess.run(probe, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == TRACKIO_VERSION:
            return py
    say(f"installing trackio=={TRACKIO_VERSION} into {TRACKIO_VENV} (its own venv) ...")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TRACKIO_VENV)], check=True,
                       stdout=sys.stderr)
    subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                    f"trackio=={TRACKIO_VERSION}", "numpy"], check=True, stdout=sys.stderr)
    got = subprocess.run(probe, capture_output=True, text=True, check=True)
    if got.stdout.strip() != TRACKIO_VERSION:
        raise SystemExit(f"trackio venv has trackio {got.stdout.strip()!r}")
    say("trackio installed")
    return py


def run_child(tracker: str, python: Path, steps: int, tmp: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"{tracker}-", dir=tmp))
    out = work / "result.json"
    env = dict(os.environ)
    if tracker == "trackio":
        env.update(TRACKIO_DIR=str(work / "trackio"), HF_HOME=str(work / "hf"),
                   HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
        env.pop("PYTHONPATH", None)
    cmd = [str(python), __file__, "--child", tracker, "--steps", str(steps),
           "--work", str(work / "store"), "--out", str(out)]
    # The trackers' own prints go to stderr; stdout carries the one JSON object.
    done = subprocess.run(cmd, env=env, stdout=sys.stderr)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"{tracker} child failed (exit {done.returncode})")
    res: dict[str, Any] = json.loads(out.read_text())
    points = steps * len(KEYS)
    if res["stored_points"] != points:
        raise SystemExit(f"{tracker}: {res['stored_points']} of {points} points stored")
    # The store's size once the child (and every connection it held) is gone.
    res["files"] = store_bytes(Path(res["db"]))
    size, at_finish = sum(res["files"].values()), sum(res["files_at_finish"].values())
    res.update(cost_per_step_us=round(res["loop_s"] / steps * 1e6, 2),
               points_per_s=round(points / res["durable_s"]),
               store_bytes=size, bytes_per_point=round(size / points, 2),
               bytes_per_point_at_finish=round(at_finish / points, 2),
               loop_s=round(res["loop_s"], 3), durable_s=round(res["durable_s"], 3))
    return res


def summarize(reps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": reps[0]["version"],
        "source": reps[0]["source"],
        "cost_per_step_us": round(statistics.median(r["cost_per_step_us"] for r in reps), 2),
        "points_per_s": round(statistics.median(r["points_per_s"] for r in reps)),
        "bytes_per_point": round(statistics.median(r["bytes_per_point"] for r in reps), 2),
        "bytes_per_point_at_finish": round(statistics.median(
            r["bytes_per_point_at_finish"] for r in reps), 2),
        "breakdown_bytes_per_point": reps[-1]["breakdown_bytes_per_point"],
        "reps": [{k: r[k] for k in ("cost_per_step_us", "points_per_s", "bytes_per_point",
                                    "bytes_per_point_at_finish", "loop_s", "durable_s",
                                    "files", "files_at_finish")} for r in reps],
    }


def compare(td: dict[str, Any], tr: dict[str, Any]) -> dict[str, Any]:
    ratios = {
        "cost_per_step": tr["cost_per_step_us"] / td["cost_per_step_us"],
        "points_per_s": td["points_per_s"] / tr["points_per_s"],
        "bytes_per_point": tr["bytes_per_point"] / td["bytes_per_point"],
    }
    return {
        "traindeck_advantage": {k: round(v, 2) for k, v in ratios.items()},
        "bars": {k: {"ratio": round(v, 2), "bar": BARS[k], "met": v >= BARS[k]}
                 for k, v in ratios.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--trackers", default="traindeck,trackio")
    ap.add_argument("--child", choices=("traindeck", "trackio"), help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.work, args.out)
        return
    trackers = [t.strip() for t in args.trackers.split(",") if t.strip()]
    if not trackers or set(trackers) - {"traindeck", "trackio"}:
        ap.error("--trackers: a comma-separated subset of traindeck,trackio")
    pythons = {"traindeck": Path(sys.executable)}
    if "trackio" in trackers:
        pythons["trackio"] = trackio_python()
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in trackers}
    with tempfile.TemporaryDirectory(prefix="peers-") as d:
        for rep in range(args.reps):
            for tracker in trackers:
                res = run_child(tracker, pythons[tracker], args.steps, Path(d))
                results[tracker].append(res)
                say(f"rep {rep + 1}/{args.reps} {tracker}: {res['cost_per_step_us']} µs/step, "
                    f"{res['points_per_s']} points/s, {res['bytes_per_point']} bytes/point")
    sums = {t: set(r["checksum"] for r in rs) for t, rs in results.items()}
    if len(set().union(*sums.values())) != 1:
        raise SystemExit(f"the trackers were not given the same values: {sums}")
    per = {t: summarize(rs) for t, rs in results.items()}
    report: dict[str, Any] = {
        "benchmark": "peers_side_by_side",
        "steps": args.steps, "scalars_per_step": len(KEYS),
        "points": args.steps * len(KEYS), "reps": args.reps,
        "order": [t for _ in range(args.reps) for t in trackers],
        "values_checksum": next(iter(next(iter(sums.values())))),
        "trackers": per,
    }
    if "traindeck" in per and "trackio" in per:
        report.update(compare(per["traindeck"], per["trackio"]))
    report["machine"] = {
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "processor": platform.machine(), "sqlite": sqlite3.sqlite_version,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
