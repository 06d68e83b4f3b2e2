"""What the dashboard benchmarks share: a store to fill, a server in a child process and
a headless Debian Chromium driven by Playwright (never ``playwright install``).

Not a benchmark itself (no JSON); ``web_*.py`` import it.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("TRAINDECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "chromium": CHROMIUM}


def require_browser() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        sys.exit("needs playwright (pip install -e '.[dev]')")
    if not shutil.which(CHROMIUM):
        sys.exit(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        sys.exit("needs the built dashboard: cd web && npm ci && npm run build")


@contextmanager
def server(folder: Path) -> Iterator[str]:
    """``traindeck serve`` on ``folder``, on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "serve", "--dir", str(folder), "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]
