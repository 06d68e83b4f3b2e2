"""Launches through a real server with real child processes (issue 10 §2): console and exit
code of a script that knows nothing of traindeck, an SDK script attaching to its prepared
run, cancel (cooperative, and one that ignores SIGTERM), lots of output, invalid overrides,
the concurrency queue."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import bound_socket, served
from support import group_gone, server_settings, wait_for

from traindeck.server.app import create_app
from traindeck.store import Store

TERMINAL = ("completed", "failed", "cancelled", "interrupted")
#: What the "loud" template prints (MiB, in lines of 1 KiB).
LOUD_MIB = 100


def template(root: Path, name: str, script: str, config: str = "steps: 3\n",
             extra: str = "") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    (folder / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, train.py]\nconfig:\n"
        + textwrap.indent(config, "  ") + extra)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    template(root, "plain", """
        import json, os, sys
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        for i in range(cfg["steps"]):
            print(f"line {i}", flush=True)
        os.write(2, b"to stderr at the fd level\\n")
        sys.exit(cfg.get("code", 0))
        """, "steps: 3\ncode: 0\n")
    template(root, "sdk", """
        import traindeck as td
        run = td.init()
        for step in range(run.config["steps"]):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        print("sdk done", flush=True)
        run.finish()
        """)
    template(root, "sleeper", """
        import time
        print("ready", flush=True)
        time.sleep(120)
        """)
    template(root, "stubborn", """
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, lambda *a: os.write(1, b"term ignored\\n"))
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
        print("ready", flush=True)
        time.sleep(120)
        """)
    template(root, "loud", """
        import json, os
        # `mib` MiB in numbered lines of 1 KiB, written in big blocks at the fd level.
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        for block in range(cfg["mib"]):
            first = block * 1024
            os.write(1, "".join(f"{first + i:09d} " + "x" * 1013 + "\\n"
                                for i in range(1024)).encode())
        """, f"mib: {LOUD_MIB}\n")
    template(root, "hydra_echo", """
        import sys
        print("args", *sys.argv[1:], flush=True)
        """, "tag: a\n", extra="hydra: true\n")
    return root


@pytest.fixture
def server(store: Store, templates: Path, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], templates_dir=templates,
                        max_concurrent_launches=1, launch_interval=0.05,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        yield url, store


def launch(url: str, template: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", json={"template": template, **body}, timeout=30)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def run_of(url: str, run_id: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{url}/api/runs/{run_id}", timeout=30).json()
    return out


def ended(url: str, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """The run once its process has ended (the SDK may end the run a moment before)."""
    def done() -> bool:
        launches = httpx.get(f"{url}/api/launches", params={"run_id": run_id}).json()
        return bool(launches["launches"]) and launches["launches"][-1]["status"] in (
            "completed", "failed", "cancelled")
    wait_for(done, timeout, "the launch to end")
    wait_for(lambda: run_of(url, run_id)["status"] in TERMINAL, timeout, "the run to end")
    return run_of(url, run_id)


def console(store: Store, run_id: str) -> list[tuple[str, str]]:
    return [(x.stream, x.text) for x in store.read_log_lines(run_id, limit=10_000)]



def test_a_script_without_traindeck_gets_console_status_and_exit_code(
        server: tuple[str, Store]) -> None:
    url, store = server
    first = launch(url, "plain", overrides=["steps=2"])
    assert first["status"] == "queued" and first["run_id"]
    run = ended(url, first["run_id"])
    assert (run["status"], run["exit_code"]) == ("completed", 0)
    wait_for(lambda: len(console(store, run["id"])) == 3, 10, "the console")
    lines = console(store, run["id"])
    assert ("stdout", "line 1") in lines and ("stderr", "to stderr at the fd level") in lines
    assert run["config"] == {"steps": 2, "code": 0}

    failing = launch(url, "plain", overrides=["code=3"])
    run = ended(url, failing["run_id"])
    assert (run["status"], run["exit_code"]) == ("failed", 3)
    got = httpx.get(f"{url}/api/launches/{failing['id']}").json()
    assert (got["status"], got["exit_code"], got["overrides"]) == ("failed", 3, ["code=3"])
    listed = httpx.get(f"{url}/api/launches", params={"run_id": failing["run_id"]}).json()
    assert [x["id"] for x in listed["launches"]] == [failing["id"]]


def test_an_sdk_script_attaches_to_its_prepared_run(server: tuple[str, Store]) -> None:
    url, store = server
    first = launch(url, "sdk", overrides=["steps=5"])
    run = ended(url, first["run_id"])
    assert run["status"] == "completed" and run["exit_code"] == 0
    assert store.list_runs()[1] == 1  # the same run, no second one
    assert store.latest(run["id"])["loss"][0] == 4
    wait_for(lambda: ("stdout", "sdk done") in console(store, run["id"]), 10, "the console")
    assert console(store, run["id"]).count(("stdout", "sdk done")) == 1  # captured once


def test_cancel_of_a_cooperative_script(server: tuple[str, Store]) -> None:
    url, store = server
    first = launch(url, "sleeper")
    wait_for(lambda: ("stdout", "ready") in console(store, first["run_id"]), 30, "ready")
    pgid = httpx.get(f"{url}/api/launches/{first['id']}").json()["pid"]
    r = httpx.post(f"{url}/api/runs/{first['run_id']}/cancel")
    assert r.status_code == 202
    run = ended(url, first["run_id"], 10)
    assert run["status"] == "cancelled"
    wait_for(lambda: group_gone(pgid), 10, "the process group to go")


def test_cancel_kills_a_script_that_ignores_sigterm_after_the_grace_period(
        server: tuple[str, Store]) -> None:
    url, store = server
    first = launch(url, "stubborn", grace_s=3)
    wait_for(lambda: ("stdout", "ready") in console(store, first["run_id"]), 30, "ready")
    pgid = httpx.get(f"{url}/api/launches/{first['id']}").json()["pid"]
    assert httpx.post(f"{url}/api/runs/{first['run_id']}/cancel").status_code == 202
    # SIGTERM came first, and the script outlived it: the launch waits out its grace
    wait_for(lambda: ("stdout", "term ignored") in console(store, first["run_id"]), 10,
             "the script to get SIGTERM")
    assert httpx.get(f"{url}/api/launches/{first['id']}").json()["status"] == "cancelling"
    assert not group_gone(pgid)
    run = ended(url, first["run_id"], 20)
    assert run["status"] == "cancelled"
    # Cancelled means gone: no process of the group is left, not even a zombie (the
    # wrapper reaps the script and its child before it ends).
    assert group_gone(pgid)
    assert httpx.get(f"{url}/api/launches/{first['id']}").json()["status"] == "cancelled"


def test_lots_of_output_is_all_stored_and_the_server_answers(
        server: tuple[str, Store]) -> None:
    url, store = server
    other = store.create_run(project="other", name="quiet")
    first = launch(url, "loud")  # 100 MiB, as fast as the script can write it
    run_id, total = first["run_id"], LOUD_MIB * 1024
    queued: list[dict[str, Any]] = []
    rounds = 0
    with httpx.Client(base_url=url, timeout=5) as client:
        # While the output is stored, the server answers: health, another run, its
        # console so far, and a new launch (queued behind this one).
        while store.last_log_seq(run_id) < total:
            rounds += 1
            assert client.get("/health").status_code == 200
            assert client.get(f"/api/runs/{other.id}").json()["name"] == "quiet"
            assert client.get(f"/api/runs/{run_id}/logs", params={"limit": 10}
                              ).status_code == 200
            if not queued:
                r = client.post("/api/launches", json={"template": "plain"})
                assert r.status_code == 201, r.text
                queued.append(r.json())
    assert rounds >= 1
    run = ended(url, run_id, 120)
    assert run["exit_code"] == 0
    # Every line, once, in order, whole.
    seen, after = 0, 0
    while page := store.read_log_lines(run_id, after_seq=after, limit=10_000):
        for line in page:
            assert line.text == f"{seen:09d} " + "x" * 1013, line.text[:40]
            assert line.stream == "stdout"
            seen += 1
        after = page[-1].seq
    assert seen == total
    ended(url, queued[0]["run_id"], 60)


def test_invalid_overrides_are_refused_and_nothing_is_created(
        server: tuple[str, Store]) -> None:
    url, store = server
    r = httpx.post(f"{url}/api/launches", json={"template": "plain",
                                                "overrides": ["steps=many"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] and r.json()["errors"][0]["path"].startswith("$")
    r = httpx.post(f"{url}/api/launches", json={"template": "nope"})
    assert r.status_code == 404
    assert store.list_runs()[1] == 0 and store.list_launches() == []


def test_a_second_launch_waits_for_a_free_slot(server: tuple[str, Store]) -> None:
    url, store = server
    first = launch(url, "sleeper")
    second = launch(url, "plain")
    wait_for(lambda: ("stdout", "ready") in console(store, first["run_id"]), 30, "ready")
    assert run_of(url, second["run_id"])["status"] == "queued"
    httpx.post(f"{url}/api/runs/{first['run_id']}/cancel")
    assert ended(url, second["run_id"])["status"] == "completed"


def test_cancel_of_a_run_that_was_not_launched_is_a_conflict(
        server: tuple[str, Store]) -> None:
    url, store = server
    store.create_run(project="p", id="hand")
    assert httpx.post(f"{url}/api/runs/hand/cancel").status_code == 409
    assert httpx.post(f"{url}/api/runs/nope/cancel").status_code == 404


def test_a_new_server_adopts_a_running_launch(store: Store, templates: Path,
                                               tmp_path: Path) -> None:
    def app_and_sock() -> tuple[Any, Any]:
        sock = bound_socket()
        settings = server_settings(tmp_path, port=sock.getsockname()[1], templates_dir=templates,
                            launch_interval=0.05, web_dir=tmp_path / "no-web")
        return create_app(settings, store=store), sock

    app, sock = app_and_sock()
    with served(app, sock) as url:
        first = launch(url, "sleeper")
        wait_for(lambda: ("stdout", "ready") in console(store, first["run_id"]), 30, "ready")
        pgid = httpx.get(f"{url}/api/launches/{first['id']}").json()["pid"]
    assert not group_gone(pgid)  # the process outlived its server
    app, sock = app_and_sock()
    with served(app, sock) as url:
        assert httpx.post(f"{url}/api/runs/{first['run_id']}/cancel").status_code == 202
        assert ended(url, first["run_id"], 20)["status"] == "cancelled"
        wait_for(lambda: group_gone(pgid), 10, "the process group to go")
    assert console(store, first["run_id"]).count(("stdout", "ready")) == 1


def test_a_launch_that_cannot_start_fails_alone_and_the_queue_goes_on(
        server: tuple[str, Store]) -> None:
    """A NUL byte cannot be in a command line: that launch fails with the reason, and the
    launches after it still start (one bad launch never stops the launcher)."""
    url, store = server
    bad = launch(url, "hydra_echo", overrides=["tag=x\u0000y"])
    good = launch(url, "hydra_echo", overrides=["tag=fine"])
    assert ended(url, bad["run_id"])["status"] == "failed"
    failed = httpx.get(f"{url}/api/launches/{bad['id']}").json()
    assert failed["status"] == "failed" and "null" in (failed["error"] or "")
    assert ended(url, good["run_id"])["status"] == "completed"
    wait_for(lambda: ("stdout", "args tag=fine") in console(store, good["run_id"]), 10,
             "the good launch's console")
