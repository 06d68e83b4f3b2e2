"""A ``traindeck serve`` process for benchmarks that talk to a server over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx


def start_server(folder: Path, port: int, timeout: float = 60) -> subprocess.Popen[bytes]:
    """``serve(Settings(dir=folder, port=port))`` in a child process, once it answers."""
    code = ("import sys; from traindeck.server import Settings, serve; "
            "serve(Settings(dir=sys.argv[1], port=int(sys.argv[2])))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")
