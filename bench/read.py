"""ms to read 1,000 buckets of a series of 1M to 1B points: the full range and 1% windows.

Each size lives in its own store, built once and cached under ``.bench/`` (git ignores it),
keyed by size, how it was built and ``FORMAT`` (bump it when the layout or the data change,
so an old cache is rebuilt). The sizes up to ``--written`` (1M and 10M by default) are
written through ``SQLiteStore.write_metrics`` in batches of 100k points, as before; the
bigger ones (100M, 1B) are *synthesized* straight into chunk rows: the points generated chunk
by chunk, each chunk encoded by ``chunks.encode`` with the pcodec packer (worker processes),
inserted with the store's own SQL (``chunk_rows._INSERT_FULL``, the last partial chunk raw
with ``_INSERT_OPEN`` as a writer leaves it), the ``series`` row's last point set, and the
chunk groups made by ``group_rows.extend``. ``--verify`` checks, on 10M points, that a
synthesized store holds the same rows and reads exactly the same buckets as one written
through ``write_metrics``.

Then times ``read_buckets(n=1000)`` warm: the full range, 1% step windows spread across the
series and 1% time windows, each the median and p95 of ``--reads`` reads; each case says its
level (``chunks.bucket_level``), and a case over the bar gets a cProfile breakdown. Prints one
JSON object.

    .venv/bin/python bench/read.py [--sizes 1000000,10000000,100000000,1000000000]
        [--reads 30] [--rebuild] [--verify] [--workers 2]

Bar (issue 15): <= 10 ms for 1,000 buckets at every size, full range and 1% windows.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import inspect
import json
import multiprocessing
import os
import platform
import pstats
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from traindeck.store import SQLiteStore, chunk_rows, chunks, group_rows, packing, schema
from traindeck.store.chunk_rows import _INSERT_FULL, _INSERT_OPEN

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
#: The data and the build: a cache made under another FORMAT is rebuilt.
FORMAT = 2
RUN = "bench-read"
BATCH = 100_000
N_BUCKETS = 1000
BAR_MS = 10.0
C = chunks.CHUNK_MAX
#: Chunks a worker encodes per task, and chunks per write transaction.
TASK_CHUNKS = 64
TX_CHUNKS = 4096
#: Disk a synthesized store takes per point (measured ~5.8 bytes), with a margin.
EST_BYTES_PER_POINT = 7.0


def chunk_points(seed: int, index: int, n_points: int) -> chunks.Points:
    """Points of chunk ``index`` of a training-like series of ``n_points`` (steps 0..n-1):
    wall times growing ~0.1 s a step with jitter, a float32-sourced noisy loss with a few
    NaN, +Inf and -Inf. Each chunk is generated alone (its own random stream), so a series
    of any length is made chunk by chunk, in any order, in any process."""
    lo = index * C
    k = min(C, n_points - lo)
    rng = np.random.default_rng([seed, index])
    steps = np.arange(lo, lo + k, dtype=np.int64)
    times = 1.7e9 + 0.1 * steps + rng.uniform(0.0, 0.05, k)
    values = (2.0 / np.sqrt(1.0 + steps / 1e4) + rng.normal(0.0, 0.05, k)).astype(
        np.float32).astype(np.float64)
    u = rng.random(k)
    values[u < 1e-5] = np.nan
    values[(u >= 1e-5) & (u < 1.5e-5)] = np.inf
    values[(u >= 1.5e-5) & (u < 2e-5)] = -np.inf
    return chunks.Points(steps, times, values)


def insert_full(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    """Full chunk rows inserted as the store inserts them: through its helper where it has
    one (a packed chunk's sub-block units go to their own table), else its SQL."""
    helper = getattr(chunk_rows, "_insert_full", None)
    if helper is not None:
        helper(conn, rows)
    else:
        conn.executemany(_INSERT_FULL, rows)


def n_chunks(n_points: int) -> int:
    return -(-n_points // C)


def series(n_points: int, seed: int) -> chunks.Points:
    """The whole series (only for the sizes written through ``write_metrics``)."""
    return chunks.Points.concat(
        [chunk_points(seed, i, n_points) for i in range(n_chunks(n_points))])


def time_at(seed: int, n_points: int, step: int) -> float:
    return float(chunk_points(seed, step // C, n_points).times[step % C])


def layout() -> str:
    """The cache key: ``FORMAT``, the store's schema and the code that makes a chunk's rows
    (a store made under another schema text, even one version edited in place, or another
    encoder is rebuilt; a change to the read path is not)."""
    parts = ["\n".join(schema.MIGRATIONS)]
    for obj in (chunks.encode, packing.Packer, group_rows._put,
                getattr(chunk_rows, "_insert_full", None)):
        if obj is not None:
            parts.append(inspect.getsource(obj))
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]
    return f"v{FORMAT}-{digest}"


def store_path(n_points: int, how: str) -> Path:
    return CACHE / f"read_{layout()}_{how}_{n_points}.db"


def _drop_stale(path: Path, n_points: int, how: str) -> None:
    """Remove this bench's caches of the same size made under another layout."""
    for old in CACHE.glob(f"read_v*_{how}_{n_points}.db*"):
        if not old.name.startswith(path.name):
            old.unlink(missing_ok=True)


def _fresh(path: Path) -> Path:
    """An empty temporary store next to ``path`` holding the run (renamed when complete)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    with SQLiteStore(tmp) as store:
        store.create_run(project="bench", id=RUN, status="completed")
    return tmp


def _finish(tmp: Path, path: Path) -> None:
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)


def build_written(path: Path, n_points: int) -> float:
    """Write the series through ``write_metrics``; its points/s."""
    tmp = _fresh(path)
    p = series(n_points, seed=n_points)
    with SQLiteStore(tmp) as store:
        t0 = time.perf_counter()
        for i in range(0, n_points, BATCH):
            sl = slice(i, i + BATCH)
            store.write_metrics(RUN, {key_of(n_points): (p.steps[sl], p.times[sl], p.values[sl])})
        rate = n_points / (time.perf_counter() - t0)
    _finish(tmp, path)
    return rate


def _encode_task(task: tuple[int, int, int, int]) -> list[tuple[object, ...]]:
    """Encoded rows of chunks ``[c0, c1)`` (a worker's task)."""
    seed, n_points, c0, c1 = task
    full, raw = packing.Packer(packing.PCODEC), packing.Packer(packing.RAW)
    rows = []
    for i in range(c0, c1):
        p = chunk_points(seed, i, n_points)
        rows.append(chunks.encode(p, full if len(p) == C else raw))
    return rows


def build_synth(path: Path, n_points: int, workers: int) -> float:
    """Synthesize the series straight into chunk rows; its points/s."""
    need = n_points * EST_BYTES_PER_POINT
    free = shutil.disk_usage(CACHE if CACHE.exists() else ROOT).free
    if free < need * 1.2:
        sys.exit(f"read.py: {n_points:,} points need ~{need / 1e9:.1f} GB, "
                 f"only {free / 1e9:.1f} GB free")
    tmp = _fresh(path)
    seed, total = n_points, n_chunks(n_points)
    t0 = time.perf_counter()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    sid = int(conn.execute("INSERT INTO series (run_id, key) VALUES (?, ?) RETURNING id",
                           (RUN, key_of(n_points))).fetchone()[0])
    tasks = [(seed, n_points, c, min(c + TASK_CHUNKS, total)) for c in range(0, total, TASK_CHUNKS)]
    done = 0
    ctx = multiprocessing.get_context("fork")

    def results() -> Iterator[list[tuple[object, ...]]]:
        if workers <= 1:
            yield from map(_encode_task, tasks)
            return
        with ctx.Pool(workers) as pool:
            yield from pool.imap(_encode_task, tasks, chunksize=1)

    for rows in results():
        full = [(sid, *r) for r in rows if r[2] == C]
        part = [(sid, *r) for r in rows if r[2] != C]
        insert_full(conn, full)
        if part:
            conn.executemany(_INSERT_OPEN, part)
        done += len(rows)
        if done % TX_CHUNKS == 0 or done == total:
            group_rows.extend(conn, sid)
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            el = time.perf_counter() - t0
            print(f"\rread.py: {n_points:,} points: {done:,}/{total:,} chunks, {el:.0f} s, "
                  f"{done * C / el / 1e6:.2f}M points/s", end="", file=sys.stderr, flush=True)
    last = chunk_points(seed, total - 1, n_points)
    conn.execute("UPDATE series SET last_step = ?, last_time = ?, last_value = ? WHERE id = ?",
                 (int(last.steps[-1]), float(last.times[-1]), last.values[-1:].tobytes(), sid))
    group_rows.extend(conn, sid)
    conn.execute("COMMIT")
    conn.close()
    rate = n_points / (time.perf_counter() - t0)
    print(file=sys.stderr)
    _finish(tmp, path)
    return rate


def key_of(n_points: int) -> str:
    return f"loss_{n_points}"


def cached(path: Path, n_points: int) -> bool:
    if not path.exists():
        return False
    try:
        with SQLiteStore(path) as store:
            have = {s.key: s.count for s in store.metric_keys(RUN)}
    except Exception:
        return False
    return have == {key_of(n_points): n_points}


def ensure(n_points: int, how: str, rebuild: bool, workers: int) -> tuple[Path, float | None]:
    path = store_path(n_points, how)
    if not rebuild and cached(path, n_points):
        return path, None
    _drop_stale(path, n_points, how)
    print(f"read.py: building {path.name} ({how})", file=sys.stderr, flush=True)
    rate = (build_written(path, n_points) if how == "written"
            else build_synth(path, n_points, workers))
    return path, rate


def windows_for(n_points: int, k: int) -> dict[str, list[dict[str, Any]]]:
    width = n_points // 100
    starts = np.linspace(0, n_points - width, k).astype(np.int64)
    step_w = [{"step_min": int(s), "step_max": int(s + width - 1)} for s in starts]
    # Time windows cover the same 1% of points (times grow with the step).
    time_w = [{"time_min": time_at(n_points, n_points, int(s)),
               "time_max": time_at(n_points, n_points, int(s + width - 1))} for s in starts]
    return {"step": step_w, "time": time_w}


def timed(store: SQLiteStore, key: str, windows: list[dict[str, Any]], reads: int
          ) -> dict[str, Any]:
    for w in windows:  # warm: the pages are in the OS cache, the connection is open
        store.read_buckets(RUN, key, n=N_BUCKETS, **w)
    ms: list[float] = []
    count = 0
    for i in range(reads):
        w = windows[i % len(windows)]
        t0 = time.perf_counter()
        b = store.read_buckets(RUN, key, n=N_BUCKETS, **w)
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


def _category(func: tuple[str, int, str]) -> str:
    """Where a profiled function's own time goes."""
    file, _, name = func
    if "sqlite3" in name or "Connection" in name or "Cursor" in name or "fetch" in name:
        return "sql"
    if "pcodec" in file or "decompress" in name:
        return "pcodec"
    if file == "~" or "numpy" in file:
        return "numpy"
    return "python"


def profile(store: SQLiteStore, key: str, windows: list[dict[str, Any]], reads: int
            ) -> dict[str, Any]:
    """cProfile of ``reads`` reads: the top functions by own time and the time by kind."""
    prof = cProfile.Profile()
    prof.enable()
    for i in range(reads):
        store.read_buckets(RUN, key, n=N_BUCKETS, **windows[i % len(windows)])
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    kinds: dict[str, float] = {}
    for func, (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        kind = _category(func)
        kinds[kind] = kinds.get(kind, 0.0) + tottime
        rows.append((tottime, cumtime, ncalls, func, kind))
    rows.sort(key=lambda r: -r[0])
    per = 1e3 / reads
    return {
        "ms_per_read_by_kind": {k: round(v * per, 3) for k, v in sorted(kinds.items())},
        "top_own_time": [{
            "function": f"{Path(f[0]).name}:{f[1]}({f[2]})", "kind": kind,
            "own_ms": round(tt * per, 3), "cum_ms": round(ct * per, 3), "calls": nc // reads,
        } for tt, ct, nc, f, kind in rows[:12]],
        "note": "profiled times are inflated by cProfile's per-call overhead",
    }


def verify(rebuild: bool, workers: int, n_points: int = 10_000_000) -> dict[str, Any]:
    """A synthesized store against one written through ``write_metrics``: the same rows
    (chunks, open chunks, groups, the series' last point) and the same buckets."""
    written, _ = ensure(n_points, "written", rebuild, workers)
    synth, _ = ensure(n_points, "synth", rebuild, workers)
    same_rows: dict[str, Any] = {}
    a, b = sqlite3.connect(written), sqlite3.connect(synth)
    have = {r[0] for r in a.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {name: f"SELECT * FROM {name} ORDER BY series_id, step_lo" for name in
              ("chunks", "open_chunks", "chunk_rollups", "chunk_groups") if name in have}
    tables["series"] = "SELECT key, last_step, last_time, last_value FROM series"
    for name, sql in tables.items():
        ra, rb = a.execute(sql).fetchall(), b.execute(sql).fetchall()
        same_rows[name] = {"rows": len(ra), "same": ra == rb}
    a.close()
    b.close()
    rng = np.random.default_rng(0)
    cases: list[dict[str, Any]] = [{}, {"x": "time"}]
    for frac in (0.0005, 0.005, 0.01, 0.1, 0.5, 0.97):
        width = max(1, int(n_points * frac))
        for s in rng.integers(0, n_points - width, 4).tolist():
            cases.append({"step_min": s, "step_max": s + width - 1})
            cases.append({"time_min": time_at(n_points, n_points, s),
                          "time_max": time_at(n_points, n_points, s + width - 1), "x": "time"})
    cases += [{"step_min": -5, "step_max": 123_456}, {"step_min": n_points - 5000}]
    differ = []
    levels: dict[str, int] = {}
    key = key_of(n_points)
    with SQLiteStore(written) as sa, SQLiteStore(synth) as sb:
        for case in cases:
            for n in (1000, 77, 20):
                ba = sa.read_buckets(RUN, key, n=n, **case)
                bb = sb.read_buckets(RUN, key, n=n, **case)
                lvl = chunks.bucket_level(ba.count, n)
                levels[lvl] = levels.get(lvl, 0) + 1
                if ba.units.tobytes() != bb.units.tobytes() or len(ba) == 0:
                    differ.append({**case, "n": n})
    return {
        "points": n_points,
        "rows": same_rows,
        "bucket_reads_compared": sum(levels.values()),
        "levels": levels,
        "bucket_reads_differing": differ,
        "ok": not differ and all(v["same"] for v in same_rows.values()),
    }


def store_tree() -> dict[str, Any]:
    """Which store code was measured: the commit, and the uncommitted change to the store."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout
        except OSError:
            return ""
    diff = git("diff", "HEAD", "--", "src/traindeck/store")
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "store_uncommitted_diff_sha": hashlib.sha256(diff.encode()).hexdigest()[:12]
            if diff else None, "layout": layout()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000,100000000,1000000000")
    ap.add_argument("--written", type=int, default=10_000_000,
                    help="sizes up to this are written through write_metrics, bigger synthesized")
    ap.add_argument("--reads", type=int, default=30)
    ap.add_argument("--profile-reads", type=int, default=10)
    ap.add_argument("--profile-ms", type=float, default=BAR_MS,
                    help="profile the cases whose median is over this")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--verify", action="store_true",
                    help="only check a synthesized 10M store against a written one")
    args = ap.parse_args()
    tree = store_tree()  # the code this process imported (the store may change meanwhile)
    if args.verify:
        out = verify(args.rebuild, args.workers)
        print(json.dumps({"benchmark": "read", "store": tree, "verify": out}, indent=2))
        sys.exit(0 if out["ok"] else 1)
    sizes = [int(s) for s in args.sizes.split(",")]
    files: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for n_points in sizes:
        how = "written" if n_points <= args.written else "synth"
        path, rate = ensure(n_points, how, args.rebuild, args.workers)
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        files[str(n_points)] = {
            "file": str(path.relative_to(ROOT)), "built": how, "bytes": size,
            "bytes_per_point": round(size / n_points, 2),
            "build_points_per_s": None if rate is None else round(rate),
        }
        key = key_of(n_points)
        w = windows_for(n_points, k=10)
        cases: dict[str, list[dict[str, Any]]] = {
            "full_range": [{}], "window_1pct_steps": w["step"], "window_1pct_time": w["time"]}
        res: dict[str, Any] = {}
        with SQLiteStore(path) as store:
            for name, windows in cases.items():
                r = timed(store, key, windows, args.reads)
                r["level"] = chunks.bucket_level(n_points if name == "full_range"
                                                 else n_points // 100, N_BUCKETS)
                if r["median_ms"] > args.profile_ms:
                    r["profile"] = profile(store, key, windows, args.profile_reads)
                res[name] = r
        results[str(n_points)] = res
    worst = max(r["median_ms"] for res in results.values() for r in res.values())
    total_bytes = sum(f["bytes"] for f in files.values())
    print(json.dumps({
        "benchmark": "read",
        "what": f"ms per read_buckets(n={N_BUCKETS}), warm, median/p95 of {args.reads} reads",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "store": tree,
        "points": max(sizes),
        "results": results,
        "files": files,
        "bytes_per_point": round(total_bytes / sum(sizes), 2),
        "file_bytes": total_bytes,
        "build_points_per_s": {k: f["build_points_per_s"] for k, f in files.items()},
        "bar_ms": BAR_MS,
        "worst_median_ms": worst,
        "bar_met": bool(worst <= BAR_MS),
    }, indent=2))


if __name__ == "__main__":
    main()
