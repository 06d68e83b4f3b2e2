"""SSH ready: the host's port opens → the launch's SSH link is connected (issue 11 §5).

The executor's own way in (``traindeck.remote.links.LinkPool.acquire``: a TCP probe every
``--interval`` seconds, the server's default 3 s, then the connection with retries) waits for
the tests' loopback sshd (tests/sshd_service.py), which is started late: ``--delays`` seconds
after the probing began, one trial each (different phases against the probe's period). A
separate poller (a TCP connect every 2 ms) notes when the port first accepts; the figure is
from then to ``acquire`` returning a connected link. Bar: at most one probe interval + 1 s.

    .venv/bin/python bench/ssh_ready.py [--interval 3] [--delays 2.2,3.3,4.6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import threading
import time
from pathlib import Path

from _remote import sshd, target
from sshd_service import SSHD

from traindeck.remote.links import LinkPool
from traindeck.remote.ssh import SSHLink


def first_accept(host: str, port: int, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                out.append(time.perf_counter())
                return
        except OSError:
            time.sleep(0.002)


def trial(server: SSHD, folder: Path, interval: float, delay: float) -> dict[str, float]:
    pool = LinkPool(probe_interval=interval, wait_s=120)
    got: list[SSHLink] = []
    connected: list[float] = []

    def acquire() -> None:
        got.append(pool.acquire(target(server, folder)))
        connected.append(time.perf_counter())

    began = time.perf_counter()
    waiter = threading.Thread(target=acquire, daemon=True)
    waiter.start()
    time.sleep(delay)
    accepted: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=first_accept, args=(server.host, server.port, stop,
                                                         accepted), daemon=True)
    poller.start()
    server.start()
    waiter.join(120)
    stop.set()
    poller.join(5)
    if not connected or not accepted:
        raise SystemExit("the link did not connect")
    assert got[0].connected
    pool.close()
    server.stop()
    return {"sshd_started_after_s": round(accepted[0] - began, 2),
            "accept_to_connected_s": round(connected[0] - accepted[0], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=float, default=3.0)
    ap.add_argument("--delays", default="2.2,3.3,4.6")
    args = ap.parse_args()
    delays = [float(x) for x in args.delays.split(",")]
    with tempfile.TemporaryDirectory() as d, sshd(start=False) as server:
        trials = [trial(server, Path(d), args.interval, delay) for delay in delays]
    worst = max(t["accept_to_connected_s"] for t in trials)
    print(json.dumps({
        "benchmark": "ssh_ready",
        "probe_interval_s": args.interval,
        "trials": trials,
        "accept_to_connected_s_max": worst,
        "bar_s": args.interval + 1.0,
        "met": worst <= args.interval + 1.0,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min": round(os.getloadavg()[0], 2)},
    }))


if __name__ == "__main__":
    main()
