"""Examples of the framework integrations (``examples/``) run unmodified in real child
processes, and a real server to send them dashboard commands through its API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from support import clean_env, free_port, start_server, wait_for

from traindeck.store import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_env(tdir: Path, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(TRAINDECK_DIR=str(tdir), TRAINDECK_STRICT="1", KERAS_BACKEND="torch", **extra)
    return env


def run_example(tdir: Path, script: str, *args: str,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args],
                          env=example_env(tdir), capture_output=True, text=True,
                          timeout=240, cwd=cwd)


def points(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    p = store.read_points(run_id, key)
    return list(zip(p.steps.tolist(), p.values.tolist(), strict=True))


@dataclass
class Live:
    """An example training in a child process, reporting to a folder a server serves."""

    url: str
    proc: subprocess.Popen[str]
    run_id: str

    def command(self, name: str, **args: Any) -> dict[str, Any]:
        """Post a command through the API; the command once done or failed."""
        r = httpx.post(f"{self.url}/api/runs/{self.run_id}/commands",
                       json={"name": name, "args": args})
        assert r.status_code == 201, r.text
        cmd_id = r.json()["id"]

        def finished() -> dict[str, Any] | None:
            if self.proc.poll() is not None and name != "stop":
                raise AssertionError(f"the script ended: {self.proc.communicate()}")
            c: dict[str, Any] = httpx.get(f"{self.url}/api/commands/{cmd_id}").json()
            return c if c["status"] in ("done", "failed") else None

        return wait_for(finished, 120, f"command {name}")  # type: ignore[no-any-return]


@contextmanager
def live_example(tmp: Path, script: str, *args: str) -> Iterator[Live]:
    """Start a server on ``tmp/td`` and ``script`` writing there; yields once the run
    offers ``validate`` (its callback is serving); both are stopped at the end."""
    tdir = tmp / "td"
    tdir.mkdir()
    port = free_port()
    server = start_server(tdir, port, tmp / "server.log")
    url = f"http://127.0.0.1:{port}"
    err = (tmp / "example.err").open("w")
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), *args],
                            env=example_env(tdir), stdout=subprocess.DEVNULL, stderr=err,
                            text=True, cwd=tmp)
    err.close()
    try:
        def offered() -> str | None:
            if proc.poll() is not None:
                raise AssertionError((tmp / "example.err").read_text())
            for run in httpx.get(f"{url}/api/runs").json()["runs"]:
                if "validate" in (run.get("commands_offered") or []):
                    return str(run["id"])
            return None

        yield Live(url, proc, wait_for(offered, 120, "the run offers validate"))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        server.terminate()
        server.wait(30)
