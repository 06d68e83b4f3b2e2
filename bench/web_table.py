"""The run table with 10,000 runs x 30 columns: sorting by a metric column, and scrolling.

Fills a fresh store with ``--runs`` runs (written through ``SQLiteStore``), each with a
nested config of 11 keys and 8 metrics of ``--points`` points, serves it, and opens the
dashboard in headless Chromium with the table widened to the window and 30 columns
chosen (7 run columns, 12 metric columns (last, and min/max of some), 11 config keys).
Measured over ``--loads`` page loads (fresh contexts):

- ``sort_ms``: from the click on a metric column's header to the first frame drawn after
  the rows in the new order are in the page (the server's sorted page read included),
  alternating ascending and descending, ``--sorts`` clicks per load;
- ``scroll_fps``: scrolling the table down 200 px per frame for 4 s (pages of rows read
  from the server as they come into view): frames per second (requestAnimationFrame),
  the longest frame, and how many rows were still being read when drawn.

Prints one JSON object.

    .venv/bin/python bench/web_table.py [--runs 10000] [--points 20] [--loads 3] [--sorts 10]
        [--store DIR]   # keep the filled store there, and reuse it
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

METRICS = ["train/loss", "val/loss", "val/acc", "train/acc", "lr", "grad_norm", "throughput",
           "val/f1"]
SORT_COL = "metric:val/acc:last"
COLUMNS = (
    ["status", "name", "tags", "duration", "step", "progress", "eta_s"]
    + [f"metric:{k}:last" for k in METRICS]
    + ["metric:train/loss:min", "metric:val/loss:min", "metric:val/acc:max",
       "metric:grad_norm:max"]
    + ["config:lr", "config:batch_size", "config:seed", "config:optim.name",
       "config:optim.beta1", "config:optim.wd", "config:model.layers", "config:model.width",
       "config:model.dropout", "config:data.aug", "config:epochs"]
)

SORT = """async ([want, col]) => {
  const body = document.querySelector('[data-testid="table-wide"] [data-testid="table-body"]');
  const head = body.querySelector(`.rt-head [data-col="${col}"]`);
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    const check = () => {
      if (body.dataset.sortShown !== want) return false;
      const row = body.querySelector('.rt-row[data-run-id]');
      if (!row) return false;
      requestAnimationFrame(() => resolve(performance.now() - t0));
      return true;
    };
    const mo = new MutationObserver(() => { if (check()) mo.disconnect(); });
    mo.observe(body, {attributes: true, childList: true, subtree: true});
  });
  head.click();
  return await done;
}"""

SCROLL = """async () => {
  const body = document.querySelector('[data-testid="table-wide"] [data-testid="table-body"]');
  body.scrollTop = 0;
  await new Promise(r => setTimeout(r, 300));
  const frames = [];
  let pending = 0, drawn = 0;
  const t0 = performance.now();
  await new Promise(done => {
    const tick = (t) => {
      frames.push(t);
      pending += body.querySelectorAll('.rt-pending').length;
      drawn += body.querySelectorAll('.rt-row').length;
      if (t - t0 > 4000) { done(); return; }
      body.scrollTop += 200;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const gaps = frames.slice(1).map((t, i) => t - frames[i]);
  return {frames: frames.length, seconds: (frames[frames.length-1] - frames[0]) / 1000,
          longest_ms: Math.max(...gaps), pending_share: pending / Math.max(1, drawn),
          rows_scrolled: Math.round(body.scrollTop / 18)};
}"""

READY = """([n, cols]) => {
  const b = document.querySelector('[data-testid="table-wide"] [data-testid="table-body"]');
  return b && Number(b.dataset.count) === n && b.querySelector('.rt-row[data-run-id]') !== null
    && b.querySelectorAll('.rt-head [data-col]').length === cols;
}"""


def fill(folder: Path, runs: int, points: int) -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(points, dtype=np.int64)
    times = 1.7e9 + steps * 1.0
    with open_store(folder) as store:
        for r in range(runs):
            config = {
                "lr": float(10 ** rng.uniform(-5, -1)), "batch_size": int(2 ** rng.integers(4, 10)),
                "seed": r, "epochs": int(rng.integers(1, 100)),
                "optim": {"name": ["adam", "sgd", "adamw"][r % 3], "beta1": 0.9,
                          "wd": float(rng.uniform(0, 0.1))},
                "model": {"layers": int(rng.integers(2, 48)), "width": int(rng.integers(64, 4096)),
                          "dropout": float(rng.uniform(0, 0.5))},
                "data": {"aug": bool(r % 2)},
            }
            run = store.create_run(project=f"p{r % 5}", name=f"run-{r:05d}",
                                   status="completed" if r % 7 else "failed", config=config,
                                   tags=["sweep", f"g{r % 10}"])
            series = {k: (steps, times, rng.random(points)) for k in METRICS}
            store.write_metrics(run.id, series)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--sorts", type=int, default=10)
    ap.add_argument("--store", type=Path, default=None,
                    help="keep the filled store in this folder (filled only when absent)")
    args = ap.parse_args()
    require_browser()
    sorts: list[float] = []
    scrolls: list[dict[str, float]] = []
    stored = json.dumps({"columns": COLUMNS, "sort": [{"col": "created_at", "desc": True}],
                         "groupBy": None, "pcMetric": None})
    with tempfile.TemporaryDirectory() as d:
        folder = args.store or Path(d) / "td"
        t0 = time.perf_counter()
        if not (args.store and folder.exists()):
            fill(folder, args.runs, args.points)
        fill_s = time.perf_counter() - t0
        with server(folder) as url, browser() as b:
            for _ in range(args.loads):
                ctx = b.new_context(viewport={"width": 1280, "height": 720})
                ctx.add_init_script(
                    f"localStorage.setItem('traindeck.table.v1', {json.dumps(stored)})")
                page = ctx.new_page()
                page.goto(f"{url}/")
                page.get_by_test_id("runs-widen").click()
                page.wait_for_function(READY, arg=[args.runs, len(COLUMNS)], timeout=120_000)
                for i in range(args.sorts):
                    want = SORT_COL if i % 2 == 0 else f"-{SORT_COL}"
                    sorts.append(page.evaluate(SORT, [want, SORT_COL]))
                    page.wait_for_timeout(200)
                scrolls.append(page.evaluate(SCROLL))
                ctx.close()
    fps = [s["frames"] / s["seconds"] for s in scrolls]
    print(json.dumps({
        "benchmark": "web_table",
        "runs": args.runs,
        "columns": len(COLUMNS),
        "points_per_metric": args.points,
        "fill_s": round(fill_s, 1),
        "loads": args.loads,
        "sort_ms_median": round(statistics.median(sorts), 1),
        "sort_ms_p95": round(percentile(sorts, 95), 1),
        "sort_ms_max": round(max(sorts), 1),
        "scroll_fps_median": round(statistics.median(fps), 1),
        "scroll_fps_min": round(min(fps), 1),
        "scroll_longest_frame_ms": round(max(s["longest_ms"] for s in scrolls), 1),
        "scroll_rows": int(statistics.median(s["rows_scrolled"] for s in scrolls)),
        "scroll_pending_share": round(max(s["pending_share"] for s in scrolls), 3),
        "bars": {"sort_ms": 300, "scroll_fps": 50},
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
