"""A ``traindeck serve`` process for benchmarks that talk to a server over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx


def start_server(folder: Path, port: int, timeout: float = 60,
                 store: str | None = None) -> subprocess.Popen[bytes]:
    """``traindeck serve --dir folder --port port`` in a child process, once it answers;
    ``store``: a store URL (``--store``: PostgreSQL), ``folder`` then its run files."""
    argv = [sys.executable, "-m", "traindeck.cli", "serve", "--dir", str(folder),
            "--port", str(port)]
    if store:
        argv += ["--store", store]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")
