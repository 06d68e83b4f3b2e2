"""A chart of 10 runs x 1M points: time to draw, and frames per second while panning.

Fills a fresh store with ``--runs`` runs of ``--points`` points of ``loss`` each (written
through ``SQLiteStore.write_metrics`` while the run is running, which then completes; a
few NaN and ±Inf values included), serves it, and
opens the dashboard in headless Chromium comparing all of them (``/?compare=<ids>``):
chart A reads ~1,000 exact buckets per run from the server and draws them with uPlot.
Measured with the Performance API, over ``--loads`` page loads (fresh contexts):

- ``draw_ms``: the chart's own figure (``data-draw-ms``): building the uPlot data from the
  buckets and drawing it, after the data arrived;
- ``fetch_and_draw_ms``: from the first bucket request leaving the page to the chart's
  ``td:chart-drawn:chartA`` mark (server reads of every run, transfer, parse, draw);
- ``pan_fps``: zoomed to 10% of the range, shift-drag panning for 3 s, one mouse move per
  frame: frames rendered per second (requestAnimationFrame), and the longest frame.

Prints one JSON object.

    .venv/bin/python bench/web_chart.py [--runs 10] [--points 1000000] [--loads 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _browser import browser, machine, percentile, require_browser, server

from traindeck.store import open_store

BATCH = 65_536

PAN = """async () => {
  const root = document.querySelector('[data-panel="chartA"] [data-testid="chart"]');
  const plot = root.querySelector('.u-over') || root.querySelector('canvas');
  const box = plot.getBoundingClientRect();
  const y = box.top + box.height / 2;
  let x = box.left + box.width * 0.8;
  plot.dispatchEvent(new MouseEvent('mousedown', {bubbles: true, cancelable: true,
    clientX: x, clientY: y, button: 0, shiftKey: true}));
  const frames = [];
  const t0 = performance.now();
  await new Promise(done => {
    const tick = (t) => {
      frames.push(t);
      if (t - t0 > 3000) { done(); return; }
      x -= 2;
      window.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: x,
        clientY: y, button: 0, shiftKey: true}));
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  window.dispatchEvent(new MouseEvent('mouseup', {bubbles: true, clientX: x, clientY: y}));
  const gaps = frames.slice(1).map((t, i) => t - frames[i]);
  return {frames: frames.length, seconds: (frames[frames.length-1] - frames[0]) / 1000,
          longest_ms: Math.max(...gaps)};
}"""

ZOOM = """() => {
  const root = document.querySelector('[data-panel="chartA"] [data-testid="chart"]');
  const over = root.querySelector('.u-over');
  const box = over.getBoundingClientRect();
  const y = box.top + box.height / 2;
  const opts = (x) => ({bubbles: true, cancelable: true, clientX: x, clientY: y, button: 0});
  over.dispatchEvent(new MouseEvent('mousedown', opts(box.left + box.width * 0.45)));
  document.dispatchEvent(new MouseEvent('mousemove', opts(box.left + box.width * 0.55)));
  document.dispatchEvent(new MouseEvent('mouseup', opts(box.left + box.width * 0.55)));
}"""

DRAWN = """n => {
  const el = document.querySelector('[data-panel="chartA"] [data-testid="chart"]');
  return el && el.dataset.runs && el.dataset.runs.split(',').length === n
    && Number(el.dataset.points) > 0 && el.dataset.drawMs !== undefined && el.dataset.drawMs !== ''
    && performance.getEntriesByName('td:chart-drawn:chartA').length > 0;
}"""

FETCH_AND_DRAW = """() => {
  const reqs = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/metrics/buckets') || e.name.includes('/metrics/compare'));
  const marks = performance.getEntriesByName('td:chart-drawn:chartA');
  if (!reqs.length || !marks.length) return null;
  const start = Math.min(...reqs.map(e => e.startTime));
  return marks[marks.length - 1].startTime - start;
}"""


def fill(folder: Path, runs: int, points: int) -> list[str]:
    ids = []
    with open_store(folder) as store:
        for r in range(runs):
            run = store.create_run(project="bench", name=f"big-{r}",
                                   config={"lr": 10 ** -(1 + r % 4), "seed": r})
            ids.append(run.id)
            rng = np.random.default_rng(r)
            steps = np.arange(points, dtype=np.int64)
            times = 1.7e9 + steps * 0.01
            values = (2.0 + r * 0.1) / np.sqrt(1.0 + steps / 1e4) + rng.normal(0, 0.05, points)
            values[rng.choice(points, 3, replace=False)] = [np.nan, np.inf, -np.inf]
            for lo in range(0, points, BATCH):
                sl = slice(lo, lo + BATCH)
                store.write_metrics(run.id, {"loss": (steps[sl], times[sl], values[sl])})
            store.set_status(run.id, "completed")  # logged while running, then ended
    return ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    require_browser()
    draw: list[float] = []
    fetch_draw: list[float] = []
    pans: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "td"
        t0 = time.perf_counter()
        ids = fill(folder, args.runs, args.points)
        fill_s = time.perf_counter() - t0
        with server(folder) as url, browser() as b:
            for _ in range(args.loads):
                ctx = b.new_context(viewport={"width": 1280, "height": 720})
                page = ctx.new_page()
                page.goto(f"{url}/?run={ids[0]}&compare={','.join(ids)}")
                page.wait_for_function(DRAWN, arg=args.runs, timeout=120_000)
                draw.append(float(page.locator(
                    '[data-panel="chartA"] [data-testid="chart"]').get_attribute("data-draw-ms")
                    or "nan"))
                fetch_draw.append(page.evaluate(FETCH_AND_DRAW))
                page.evaluate(ZOOM)
                page.wait_for_timeout(500)
                pans.append(page.evaluate(PAN))
                ctx.close()
    fps = [p["frames"] / p["seconds"] for p in pans]
    print(json.dumps({
        "benchmark": "web_chart",
        "runs": args.runs,
        "points_per_run": args.points,
        "fill_s": round(fill_s, 1),
        "loads": args.loads,
        "draw_ms_median": round(statistics.median(draw), 1),
        "draw_ms_max": round(max(draw), 1),
        "fetch_and_draw_ms_median": round(statistics.median(fetch_draw), 1),
        "fetch_and_draw_ms_p95": round(percentile(fetch_draw, 95), 1),
        "pan_fps_median": round(statistics.median(fps), 1),
        "pan_fps_min": round(min(fps), 1),
        "pan_longest_frame_ms": round(max(p["longest_ms"] for p in pans), 1),
        "bars": {"draw_ms": 150, "pan_fps": 50},
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
