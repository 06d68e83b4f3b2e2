"""First paint of the dashboard with 1,000 runs in the store (headless Chromium).

Fills a fresh store with 1,000 runs (mixed statuses, configs and summaries, as a busy
project has), serves it, and loads the dashboard in a fresh browser context (no cache)
``--loads`` times. For each load it reads, with the Performance API, the browser's
first-contentful-paint and the dashboard's own mark ``td:runs-painted`` (set when the
run list first shows rows), both in ms since navigation start. Prints one JSON object.

    .venv/bin/python bench/web_first_paint.py [--runs 1000] [--loads 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _browser import browser, machine, percentile, require_browser, server

from traindeck.store import open_store

STATUSES = ("completed", "completed", "failed", "interrupted", "running", "paused")


def fill(folder: Path, n: int) -> None:
    with open_store(folder) as store:
        for i in range(n):
            run = store.create_run(
                project=f"proj{i % 7}", name=f"sweep-{i:04d}-lr{10 ** -(i % 4 + 1):g}",
                config={"lr": 10 ** -(i % 4 + 1), "width": 64 * (1 + i % 3), "seed": i,
                        "optimizer": {"name": "adam", "betas": [0.9, 0.999]}},
                tags=["sweep", f"group{i % 10}"],
            )
            status = STATUSES[i % len(STATUSES)]
            if status != "running":
                store.set_status(run.id, status)
            store.update_run(run.id, summary={"loss": 1.0 / (i + 1), "acc": i / n})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--loads", type=int, default=7)
    args = ap.parse_args()
    require_browser()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "td"
        fill(folder, args.runs)
        painted: list[float] = []
        fcp: list[float] = []
        with server(folder) as url, browser() as b:
            for _ in range(args.loads):
                ctx = b.new_context(viewport={"width": 1280, "height": 720})
                page = ctx.new_page()
                page.goto(url + "/")
                page.wait_for_function(
                    "() => performance.getEntriesByName('td:runs-painted').length > 0",
                    timeout=60_000)
                painted.append(page.evaluate(
                    "performance.getEntriesByName('td:runs-painted')[0].startTime"))
                fcp.append(page.evaluate(
                    "(performance.getEntriesByName('first-contentful-paint')[0] || "
                    "{startTime: NaN}).startTime"))
                ctx.close()
    print(json.dumps({
        "benchmark": "web_first_paint",
        "runs": args.runs,
        "loads": args.loads,
        "runs_painted_ms_median": round(statistics.median(painted), 1),
        "runs_painted_ms_max": round(max(painted), 1),
        "runs_painted_ms_p95": round(percentile(painted, 95), 1),
        "first_contentful_paint_ms_median": round(statistics.median(fcp), 1),
        "bar_ms": 1000,
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
