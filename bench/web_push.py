"""Point logged → drawn: latency from ``run.log()`` in a training process to the chart
showing that step, in headless Chromium.

This process is the training script: it calls ``traindeck.init`` on a fresh store and
logs ``loss`` at ``--rate`` steps per second, noting the wall time of every ``log()``.
A server follows the store (as in production: the SDK writes SQLite, the server pushes
over /ws), and the dashboard, opened on the run (``/?run=<id>``), draws chart A. In the
page a MutationObserver notes ``Date.now()`` whenever the chart's ``data-last-step``
changes (it is set right after uPlot drew the new points). Latency of a draw = that time
minus the log time of the step it drew (the newest point of each draw; points drawn
together with a newer one are not counted, which only leaves out shorter latencies).
Browser and training process share one clock (one machine). Prints one JSON object.

    .venv/bin/python bench/web_push.py [--seconds 20] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _browser import browser, machine, percentile, require_browser, server

import traindeck

OBSERVE = """() => {
  window.__drawn = [];
  const el = document.querySelector('[data-panel="chartA"] [data-testid="chart"]');
  const note = () => window.__drawn.push([Number(el.dataset.lastStep), Date.now()]);
  new MutationObserver(note).observe(el, {attributes: true, attributeFilter: ['data-last-step']});
}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=50.0, help="steps logged per second")
    args = ap.parse_args()
    require_browser()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "td"
        run = traindeck.init(project="bench", name="push", dir=str(folder),
                             system_interval=None, capture_console=False)
        run.log({"loss": 1.0}, step=0)
        run.flush()
        logged: dict[int, float] = {}
        with server(folder) as url, browser() as b:
            page = b.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{url}/?run={run.id}")
            page.wait_for_function(
                "() => Number(document.querySelector("
                "'[data-panel=\"chartA\"] [data-testid=\"chart\"]')?.dataset.lastStep) >= 0",
                timeout=60_000)
            page.evaluate(OBSERVE)
            step = 1
            start = time.time()
            while time.time() - start < args.seconds:
                logged[step] = time.time()
                run.log({"loss": 1.0 / (step + 1)}, step=step)
                step += 1
                time.sleep(max(0.0, start + step / args.rate - time.time()))
            last = step - 1
            page.wait_for_function(
                "n => window.__drawn.length && window.__drawn[window.__drawn.length - 1][0] >= n",
                arg=last,
                timeout=30_000)
            drawn = page.evaluate("window.__drawn")
        run.finish()
    lat = [t / 1000 - logged[s] for s, t in drawn if s in logged]
    lat_ms = [x * 1000 for x in lat]
    print(json.dumps({
        "benchmark": "web_push",
        "steps_logged": len(logged),
        "draws_measured": len(lat_ms),
        "rate_steps_per_s": args.rate,
        "latency_ms_p50": round(statistics.median(lat_ms), 1),
        "latency_ms_p95": round(percentile(lat_ms, 95), 1),
        "latency_ms_max": round(max(lat_ms), 1),
        "bar_p95_ms": 300,
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
