"""A line printed by a launched process → a WebSocket client; and 100k lines/s, none lost.

Latency: the launched script (no SDK at all: plain ``print``) prints ``--lines`` lines, one
every 10 ms, each holding its wall time; this process, subscribed to the run over ``/ws``,
takes ``receive time - printed time`` per line (p50/p95; bar p95 ≤ 250 ms). Throughput: a
second script prints ``--burst`` lines as fast as it can (its own rate is reported); the
benchmark waits until the run's stored console holds every line and checks none is lost
or out of order. Prints one JSON object.

    .venv/bin/python bench/console_latency.py [--lines 300] [--burst 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from _launching import launch, percentile, run_status, server, wait, write_template

TICKER = """
import sys, time
sys.stdin.close()
time.sleep(1.0)  # the client subscribes meanwhile
for i in range({n}):
    print(f"tick {{i}} {{time.time()!r}}", flush=True)
    time.sleep(0.01)
"""

BURST = """
import sys, time
t0 = time.perf_counter()
out = sys.stdout
for i in range({n}):
    out.write(f"line {{i}}\\n")
out.flush()
print(f"printed {n} lines in {{time.perf_counter() - t0:.4f}} s", flush=True)
"""


async def collect(ws_url: str, run_id: str, n: int) -> list[float]:
    lat: list[float] = []
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "run_id": run_id}))
        deadline = time.monotonic() + 120
        while len(lat) < n and time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
            now = time.time()
            if msg.get("type") == "log":
                for line in msg["lines"]:
                    parts = line["text"].split()
                    if len(parts) == 3 and parts[0] == "tick":
                        lat.append((now - float(parts[2])) * 1000)
    return lat


def stored_lines(client: httpx.Client, run_id: str) -> list[str]:
    texts: list[str] = []
    after = 0
    while True:
        page = client.get(f"/api/runs/{run_id}/logs",
                          params={"after_seq": after, "limit": 10000}).json()
        texts += [line["text"] for line in page["lines"]]
        if not page["lines"]:
            return texts
        after = page["next_seq"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--burst", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        write_template(tmp / "templates", "ticker", TICKER.format(n=args.lines))
        write_template(tmp / "templates", "burst", BURST.format(n=args.burst))
        with server(tmp, tmp / "templates") as client:
            ws_url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/ws"
            run_id = launch(client, "ticker")["run_id"]
            lat = asyncio.run(collect(ws_url, run_id, args.lines))
            wait(lambda: run_status(client, run_id) in ("completed", "failed"), 60, "the end")

            t0 = time.perf_counter()
            burst_id = launch(client, "burst")["run_id"]
            wait(lambda: run_status(client, burst_id) in ("completed", "failed"), 300,
                 "the burst's end")
            want = [f"line {i}" for i in range(args.burst)]
            got: list[str] = []

            def all_stored() -> bool:
                nonlocal got
                got = [t for t in stored_lines(client, burst_id) if t.startswith("line ")]
                return len(got) >= args.burst

            wait(all_stored, 300, "every line stored", interval=0.2)
            stored_s = time.perf_counter() - t0
            printed = [t for t in stored_lines(client, burst_id) if t.startswith("printed ")]
    rate = None
    if printed:
        rate = round(args.burst / float(printed[0].split()[-2]))
    print(json.dumps({
        "benchmark": "console_latency",
        "lines": len(lat),
        "latency_ms_p50": percentile(lat, 50),
        "latency_ms_p95": percentile(lat, 95),
        "bar_p95_ms": 250,
        "burst_lines": args.burst,
        "burst_printed_lines_per_s": rate,
        "burst_launch_to_all_stored_s": round(stored_s, 2),
        "burst_lost": args.burst - len(got),
        "burst_in_order": got == want,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }))


if __name__ == "__main__":
    main()
