"""``traindeck serve`` as a user runs it: the installed entry point in a real process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support import free_port

from traindeck.store import open_store


def traindeck_command() -> list[str]:
    """The console script installed beside this Python, else ``python -m traindeck.cli``."""
    script = Path(sys.executable).parent / "traindeck"
    if script.exists():
        return [str(script)]
    found = shutil.which("traindeck")
    return [found] if found else [sys.executable, "-m", "traindeck.cli"]


def test_serve_reads_traindeck_dir_serves_the_store_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    with open_store(tdir) as store:
        run = store.create_run(project="p", name="before-the-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    env["TRAINDECK_DIR"] = str(tdir)  # no --dir: the environment says where the store is
    with subprocess.Popen([*traindeck_command(), "serve", "--port", str(port)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 60
            listing = None
            while listing is None:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "server did not come up"
                try:
                    listing = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=2).json()
                except httpx.TransportError:
                    time.sleep(0.1)
            assert [r["id"] for r in listing["runs"]] == [run.id]
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err
