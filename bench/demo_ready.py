"""Seconds from ``traindeck demo`` to live runs in the browser.

Starts ``traindeck demo`` (a fresh folder, a free port) and measures, from the moment the
command starts: when ``/health`` answers, when the API lists at least two ``running`` runs
with metric points, and — when Playwright and Chromium (``/usr/bin/chromium``) are here —
when a headless browser showing the dashboard page has both runs on screen. Prints one
JSON object.

    .venv/bin/python bench/demo_ready.py
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def live_runs(url: str) -> list[str]:
    runs = httpx.get(f"{url}/api/runs?status=running", timeout=2).json()["runs"]
    names = []
    for r in runs:
        keys = httpx.get(f"{url}/api/runs/{r['id']}/metrics", timeout=2).json()["metrics"]
        if any(k["count"] > 0 and not k["key"].startswith("sys/") for k in keys):
            names.append(r["name"])
    return names


def main() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out: dict[str, object] = {"benchmark": "demo_ready"}
    with tempfile.TemporaryDirectory() as d:
        exe = str(Path(sys.executable).parent / "traindeck")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [exe, "demo", "--port", str(port), "--dir", str(Path(d) / "demo"), "--steps", "5000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            deadline = t0 + 60
            health = api = None
            names: list[str] = []
            while time.perf_counter() < deadline and api is None:
                try:
                    if health is None and httpx.get(url + "/health", timeout=1).status_code == 200:
                        health = time.perf_counter() - t0
                    if health is not None:
                        names = live_runs(url)
                        if len(names) >= 2:
                            api = time.perf_counter() - t0
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            out["health_s"] = round(health, 2) if health else None
            out["api_two_live_runs_s"] = round(api, 2) if api else None
            out["browser_shows_runs_s"] = browser_time(url, names, t0)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    out["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    print(json.dumps(out))


def browser_time(url: str, names: list[str], t0: float) -> float | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not shutil.which(CHROMIUM) or len(names) < 2:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        for name in names[:2]:
            page.get_by_text(name).first.wait_for(timeout=30_000)
        shown = time.perf_counter() - t0
        browser.close()
    return round(shown, 2)


if __name__ == "__main__":
    main()
