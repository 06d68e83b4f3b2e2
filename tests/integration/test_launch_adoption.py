"""Launched processes outlive their server (issue 10 §2): a new server adopts them, keeps
storing their output, and reports their exit, also one that happened while no server ran;
a server that died between starting a process and recording it finds that process again."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import bound_socket, served
from support import server_settings, wait_for

from traindeck.launch.local import LocalExecutor
from traindeck.launch.prepare import process_spec
from traindeck.runfiles import RunFiles
from traindeck.server.app import create_app
from traindeck.store import Store


def template(root: Path, name: str, script: str, config: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    (folder / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, train.py]\nconfig:\n" + textwrap.indent(config, "  "))


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    # Prints `ticks` numbered lines, one each `every` seconds, then exits with `code`;
    # waits for the file `gate` (when given) before its last line.
    template(root, "ticker", """
        import json, os, sys, time
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        for i in range(cfg["ticks"]):
            print(f"tick {i}", flush=True)
            time.sleep(cfg["every"])
        while cfg["gate"] and not os.path.exists(cfg["gate"]):
            time.sleep(0.02)
        print("bye", flush=True)
        sys.exit(cfg["code"])
        """, "ticks: 3\nevery: 0.05\ncode: 0\ngate: ''\n")
    return root


@contextmanager
def server(store: Store, templates: Path, tmp_path: Path) -> Iterator[str]:
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], templates_dir=templates,
                        launch_interval=0.05, web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        yield url


def launch(url: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", json={"template": "ticker", **body}, timeout=30)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def texts(store: Store, run_id: str) -> list[str]:
    return [x.text for x in store.read_log_lines(run_id, limit=10_000)]


def launch_ended(url: str, launch_id: str) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        out: dict[str, Any] = httpx.get(f"{url}/api/launches/{launch_id}").json()
        return out
    wait_for(lambda: get()["status"] in ("completed", "failed", "cancelled"), 60,
             "the launch to end")
    return get()


def test_output_printed_while_no_server_ran_and_after_is_stored_once(
        store: Store, templates: Path, tmp_path: Path) -> None:
    with server(store, templates, tmp_path) as url:
        first = launch(url, overrides=["ticks=40", "every=0.05"])
        run_id = first["run_id"]
        wait_for(lambda: "tick 0" in texts(store, run_id), 30, "the first line")
    # no server: the script keeps printing, into its console file only
    raw = Path(store.get_launch(first["id"]).state["stdout"])
    wait_for(lambda: "tick 10" in raw.read_text(), 30, "more lines printed meanwhile")
    assert "tick 10" not in texts(store, run_id)
    with server(store, templates, tmp_path) as url:
        done = launch_ended(url, first["id"])
        assert (done["status"], done["exit_code"]) == ("completed", 0)
        assert store.get_run(run_id).status == "completed"
    assert texts(store, run_id) == [f"tick {i}" for i in range(40)] + ["bye"]


def test_an_exit_while_no_server_ran_is_reported_with_its_code(
        store: Store, templates: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with server(store, templates, tmp_path) as url:
        first = launch(url, overrides=["code=3", f"gate={gate}"])
        run_id = first["run_id"]
        wait_for(lambda: "tick 2" in texts(store, run_id), 30, "the ticks")
    gate.touch()  # the script ends now, with no server to see it
    exit_file = Path(store.get_launch(first["id"]).state["exit_file"])
    wait_for(exit_file.exists, 30, "the process to end")
    with server(store, templates, tmp_path) as url:
        done = launch_ended(url, first["id"])
        assert (done["status"], done["exit_code"]) == ("failed", 3)
        run = httpx.get(f"{url}/api/runs/{run_id}").json()
        assert (run["status"], run["exit_code"]) == ("failed", 3)
    assert texts(store, run_id)[-1] == "bye"


def test_a_process_started_just_before_the_server_died_is_found_again(
        store: Store, templates: Path, tmp_path: Path) -> None:
    """The launcher marks a launch ``starting`` (with where its files go) before it asks the
    executor to start it; a server that dies right after the start, before recording the
    process, leaves that row. Built here with the real executor: the next server finds
    the process by its launch's exit file and follows it to its end."""
    files = RunFiles(tmp_path / "files")
    run = store.create_run(project="ticker", status="queued")
    spec = {"command": [sys.executable, str(templates / "ticker" / "train.py")],
            "cwd": str(templates / "ticker"), "executor": "local"}
    launch_row = store.create_launch(run_id=run.id, spec=spec)
    config = {"ticks": 5, "every": 0.05, "code": 0, "gate": str(tmp_path / "gate")}
    pspec = process_spec(files, run.id, spec, config, url="http://127.0.0.1:9", token=None)
    store.update_launch(launch_row.id, status="starting", state={
        "stdout": str(pspec.stdout), "stderr": str(pspec.stderr),
        "exit_file": str(pspec.exit_file)})
    executor = LocalExecutor()
    handle = executor.start(pspec)  # ... and the server is gone before it records this
    executor.close()
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], templates_dir=templates,
                        files_root=files.root, launch_interval=0.05,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        found = httpx.get(f"{url}/api/launches/{launch_row.id}").json()
        assert (found["status"], found["pid"]) == ("running", handle.pid)
        wait_for(lambda: "tick 4" in texts(store, run.id), 30, "its console")
        (tmp_path / "gate").touch()
        done = launch_ended(url, launch_row.id)
        assert (done["status"], done["exit_code"]) == ("completed", 0)
    assert texts(store, run.id) == [f"tick {i}" for i in range(5)] + ["bye"]


def test_a_starting_launch_whose_process_never_started_fails_with_the_reason(
        store: Store, templates: Path, tmp_path: Path) -> None:
    run = store.create_run(project="ticker", status="queued")
    row = store.create_launch(run_id=run.id, spec={"command": ["true"], "cwd": "/"})
    store.update_launch(row.id, status="starting", state={
        "stdout": str(tmp_path / "o"), "stderr": str(tmp_path / "e"),
        "exit_file": str(tmp_path / "never")})
    with server(store, templates, tmp_path) as url:
        done = launch_ended(url, row.id)
        assert done["status"] == "failed" and "while starting" in done["error"]
        assert httpx.get(f"{url}/api/runs/{run.id}").json()["status"] == "failed"
