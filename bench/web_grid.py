"""The metrics grid: 5 runs x 200 keys x 100k points, in headless Chromium.

Fills a fresh store with ``--runs`` runs, each with ``--keys`` metric keys under six
prefixes (``train/``, ``val/``, ``eval/``, ``opt/``, ``sys/``, none) of ``--points`` points
(written through ``SQLiteStore.write_metrics``), serves it, and opens the dashboard
comparing every run with the METRICS panel shown large (a stored layout puts it in the
middle cell at 80% x 80% of a 1920x1080 window). Prints one JSON object:

- ``first_grid_paint_ms``: from navigation start until every chart on screen has drawn
  its buckets (``data-last-step`` set on each ``metric-cell`` inside the scrolled view, and
  no cell there still an empty box waiting to be built),
  over ``--loads`` fresh page loads; also from the first bucket request to that moment;
- ``scroll_fps``: the grid scrolled 30 px per frame for 4 s (charts are created and read
  as they come into view): frames per second (requestAnimationFrame) and the longest frame;
- ``live_p95_ms``: one real training process per run (the SDK in a child process, resuming
  the run) logs every key at ``--rate`` steps per second for ``--seconds``, into the store
  the server follows; in the page a MutationObserver notes ``Date.now()`` whenever a chart
  on screen changes its ``data-last-step`` (set after its pixels). Latency = that time
  minus the earliest wall time any run logged that step (a chart's last step is the
  newest of its runs'); every draw of every chart on screen is counted. Alongside, a
  WebSocket client in this process subscribes to the runs like the page does and notes
  when each step arrives (``push_p95_ms``): the server's share (training process → store
  → change feed → socket) of the point-to-pixel time, the rest is the browser's.
  ``--live-keys N`` logs only the first N keys in grid order (the charts on screen come
  first) instead of all of them.

    .venv/bin/python bench/web_grid.py [--runs 5] [--keys 200] [--points 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from _browser import browser, machine, percentile, require_browser, server
from _machine import reference_loop_s

from traindeck.store import open_store

BATCH = 50_000
PREFIXES = ["train", "val", "eval", "opt", "sys", ""]
GRID_BARS = {"first_grid_paint_ms": 1000, "scroll_fps": 50, "live_p95_ms": 250}

SHOWN = """() => {
  const sc = document.querySelector('[data-testid="metrics"] .td-metrics-scroll');
  if (!sc) return null;
  // no chart drawn yet: not painted, without laying out the page to tell (this runs at
  // every frame, and a layout forced at each would slow the page it measures)
  if (!sc.querySelector('[data-testid="metric-cell"][data-last-step]')) return null;
  const box = sc.getBoundingClientRect();
  const inView = c => {
    const r = c.getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom;
  };
  // a cell not built yet (an empty box of the first render) in view: not painted
  if ([...sc.querySelectorAll('.td-mcell[aria-hidden]')].some(inView)) return null;
  const cells = [...sc.querySelectorAll('[data-testid="metric-cell"]')].filter(inView);
  if (!cells.length || !cells.every(c => c.dataset.lastStep)) return null;
  return {t: performance.now(), charts: cells.length};
}"""

FIRST_REQUEST = """() => {
  const reqs = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/metrics/compare'));
  return reqs.length ? Math.min(...reqs.map(e => e.startTime)) : null;
}"""

SCROLL = """async () => {
  const sc = document.querySelector('[data-testid="metrics"] .td-metrics-scroll');
  sc.scrollTop = 0;
  const frames = [];
  const t0 = performance.now();
  await new Promise(done => {
    const tick = (t) => {
      frames.push(t);
      if (t - t0 > 4000) { done(); return; }
      sc.scrollTop += 30;
      if (sc.scrollTop + sc.clientHeight >= sc.scrollHeight - 1) sc.scrollTop = 0;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const gaps = frames.slice(1).map((t, i) => t - frames[i]);
  return {frames: frames.length, seconds: (frames[frames.length - 1] - frames[0]) / 1000,
          longest_ms: Math.max(...gaps), charts: document.querySelectorAll(
            '[data-testid="metric-cell"] canvas').length};
}"""

OBSERVE = """() => {
  window.__drawn = [];
  const sc = document.querySelector('[data-testid="metrics"] .td-metrics-scroll');
  sc.scrollTop = 0;
  const obs = new MutationObserver(list => {
    const now = Date.now();
    const box = sc.getBoundingClientRect();
    for (const m of list) {
      const el = m.target;
      const r = el.getBoundingClientRect();
      if (r.bottom <= box.top || r.top >= box.bottom) continue;
      window.__drawn.push([el.dataset.key, Number(el.dataset.lastStep), now]);
    }
  });
  for (const el of sc.querySelectorAll('[data-testid="metric-cell"]'))
    obs.observe(el, {attributes: true, attributeFilter: ['data-last-step']});
}"""


def key_names(n: int) -> list[str]:
    keys = []
    for i in range(n):
        p = PREFIXES[i % len(PREFIXES)]
        name = f"metric_{i:03d}"
        keys.append(f"{p}/{name}" if p else name)
    return keys


def fill(folder: Path, runs: int, keys: list[str], points: int) -> list[str]:
    ids = []
    steps = np.arange(points, dtype=np.int64)
    times = time.time() - points * 0.01 + steps * 0.01
    with open_store(folder) as store:
        for r in range(runs):
            run = store.create_run(project="bench", name=f"grid-{r}", status="running")
            ids.append(run.id)
            rng = np.random.default_rng(r)
            base = 1.0 / np.sqrt(1.0 + steps / 1e4)
            for lo in range(0, points, BATCH):
                sl = slice(lo, lo + BATCH)
                noise = rng.normal(0, 0.05, len(steps[sl]))
                store.write_metrics(run.id, {
                    k: (steps[sl], times[sl], base[sl] * (1 + 0.01 * i) + noise)
                    for i, k in enumerate(keys)})
    return ids


def layout() -> str:
    cells: list[dict[str, Any]] = [{"panels": [], "active": None} for _ in range(9)]
    cells[4] = {"panels": ["metrics"], "active": "metrics"}
    return json.dumps({"cells": cells, "cols": [0.1, 0.8, 0.1], "rows": [0.1, 0.8, 0.1]})


CHILD = """
import json, sys, time
import traindeck
folder, run_id, keys = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
start, rate, seconds = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
run = traindeck.init(project="bench", dir=folder, id=run_id, resume="must",
                     system_interval=None, capture_console=False)
go = float(sys.stdin.readline())  # every child starts its clock at the same moment
time.sleep(max(0.0, go - time.time()))
logged = {}
for i in range(int(seconds * rate)):
    step = start + i
    logged[step] = time.time()
    run.log({k: 0.2 + 0.001 * j for j, k in enumerate(keys)}, step=step)
    time.sleep(max(0.0, go + (i + 1) / rate - time.time()))
run.finish()
print(json.dumps(logged), flush=True)
"""


def live(folder: Path, ids: list[str], keys: list[str], start: int, rate: float,
         seconds: float) -> dict[int, float]:
    """One real training process per run (the SDK, resuming it) logging every key at
    ``rate`` steps per second; returns per step the earliest wall time it was logged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    procs = [subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), rid, ",".join(keys), str(start), str(rate),
         str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        for rid in ids]
    time.sleep(3.0)  # imports and init
    go = time.time() + 1.0
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{go}\n")
        p.stdin.close()
    logged: dict[int, float] = {}
    for p in procs:
        assert p.stdout is not None
        out = p.stdout.read()
        p.stdout.close()
        p.wait(120)
        for step, t in json.loads(out.strip().splitlines()[-1]).items():
            logged[int(step)] = min(t, logged.get(int(step), t))
    return logged


def grid_order(keys: list[str]) -> list[str]:
    """The keys as the grid lists them: no prefix first, then by prefix, sys last."""
    rank = {"": 0, "sys": 2}
    return sorted(keys, key=lambda k: (rank.get(k.split("/")[0] if "/" in k else "", 1),
                                       k.split("/")[0] if "/" in k else "", k))


class PushWatch:
    """A WebSocket client subscribed to the runs: when each step of ``key`` arrived."""

    def __init__(self, url: str, ids: list[str], key: str) -> None:
        self.arrivals: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(url, ids, key)))
        self._thread.start()

    async def _run(self, url: str, ids: list[str], key: str) -> None:
        async with websockets.connect(url.replace("http", "ws", 1) + "/ws", max_size=None) as ws:
            for rid in ids:
                await ws.send(json.dumps({"type": "subscribe", "run_id": rid}))
            while not self._stop.is_set():
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                pts = m.get("points", {}).get(key) if m.get("type") == "metric_update" else None
                if pts:
                    self.arrivals.append((max(p[0] for p in pts), time.time()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--rate", type=float, default=10.0, help="live steps per second")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--live-keys", type=int, default=0,
                    help="log only the first N keys in grid order live (0: all)")
    args = ap.parse_args()
    speed_at_start = reference_loop_s()
    require_browser()
    keys = key_names(args.keys)
    paints: list[float] = []
    from_request: list[float] = []
    charts_shown = 0
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "td"
        t0 = time.perf_counter()
        ids = fill(folder, args.runs, keys, args.points)
        fill_s = time.perf_counter() - t0
        with server(folder) as url, browser() as b:
            page_url = f"{url}/?run={ids[0]}&compare={','.join(ids)}"
            init = f"localStorage.setItem('traindeck.layout.v1', {json.dumps(layout())});"
            scroll: dict[str, float] = {}
            for i in range(args.loads):
                ctx = b.new_context(viewport={"width": 1920, "height": 1080})
                ctx.add_init_script(init)
                page = ctx.new_page()
                page.goto(page_url)
                shown = page.wait_for_function(SHOWN, timeout=120_000).json_value()
                paints.append(shown["t"])
                charts_shown = shown["charts"]
                first = page.evaluate(FIRST_REQUEST)
                if first is not None:
                    from_request.append(shown["t"] - first)
                if i < args.loads - 1:
                    ctx.close()
            # the last page stays: scroll it, then watch live points arrive
            page.wait_for_timeout(500)
            scroll = page.evaluate(SCROLL)
            page.evaluate(OBSERVE)
            page.wait_for_timeout(1000)
            live_keys = grid_order(keys)[:args.live_keys] if args.live_keys else keys
            watch = PushWatch(url, ids, live_keys[0])
            logged = live(folder, ids, live_keys, args.points, args.rate, args.seconds)
            watch.stop()
            page.wait_for_timeout(1500)
            drawn = page.evaluate("() => window.__drawn")
            ctx.close()
    lat = [now / 1000 - logged[step] for _, step, now in drawn if step in logged]
    lat_ms = [x * 1000 for x in lat]
    push_ms = [(t - logged[s]) * 1000 for s, t in watch.arrivals if s in logged]
    fps = scroll["frames"] / scroll["seconds"]
    print(json.dumps({
        "benchmark": "web_grid",
        "runs": args.runs,
        "keys": args.keys,
        "points_per_series": args.points,
        "fill_s": round(fill_s, 1),
        "loads": args.loads,
        "charts_on_screen": charts_shown,
        "first_grid_paint_ms_median": round(statistics.median(paints), 1),
        "first_grid_paint_ms_max": round(max(paints), 1),
        "request_to_grid_painted_ms_median": round(statistics.median(from_request), 1)
        if from_request else None,
        "scroll_fps": round(fps, 1),
        "scroll_longest_frame_ms": round(scroll["longest_ms"], 1),
        "charts_created_while_scrolling": scroll["charts"],
        "live_rate_steps_per_s": args.rate,
        "live_keys": len(live_keys),
        "live_steps": len(logged),
        "live_draws": len(lat_ms),
        "live_p50_ms": round(statistics.median(lat_ms), 1) if lat_ms else None,
        "live_p95_ms": round(percentile(lat_ms, 95), 1) if lat_ms else None,
        "live_max_ms": round(max(lat_ms), 1) if lat_ms else None,
        "push_p50_ms": round(statistics.median(push_ms), 1) if push_ms else None,
        "push_p95_ms": round(percentile(push_ms, 95), 1) if push_ms else None,
        "bars": GRID_BARS,
        "machine": machine(),
        "reference_loop_s": [speed_at_start, reference_loop_s()],
    }))


if __name__ == "__main__":
    main()
