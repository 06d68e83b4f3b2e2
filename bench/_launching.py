"""What the launch benchmarks share: a real ``traindeck serve`` process over a temporary store
with a templates folder, one template per script, and small REST helpers.

Each benchmark starts its own server (``python -m traindeck.cli serve --templates DIR``) on
a free port and launches real processes through ``POST /api/launches``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_template(root: Path, name: str, script: str) -> None:
    """A template ``name`` whose command runs ``script`` (Python source) with no config."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "script.py").write_text(script)
    (folder / "traindeck.yaml").write_text(json.dumps({
        "command": [sys.executable, "script.py"], "config": {},
    }))


@contextmanager
def server(tmp: Path, templates: Path) -> Iterator[httpx.Client]:
    """A real server over ``tmp/td`` launching from ``templates``; an HTTP client to it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "serve", "--dir", str(tmp / "td"),
         "--port", str(port), "--templates", str(templates)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait(lambda: _healthy(client), 60, "the server")
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


def wait(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def launch(client: httpx.Client, template: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/launches", json={"template": template, **body})
    if response.status_code != 201:
        raise SystemExit(f"launch refused: {response.status_code} {response.text}")
    out: dict[str, Any] = response.json()
    return out


def run_status(client: httpx.Client, run_id: str) -> str:
    return str(client.get(f"/api/runs/{run_id}").json()["status"])


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[k], 1)
