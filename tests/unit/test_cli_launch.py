"""``traindeck launch | cancel | resume`` through typer's CliRunner against a real server on a
free port, with a real templates folder and real launched processes."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import bound_socket, served
from support import free_port, wait_for
from typer.testing import CliRunner, Result

from traindeck.cli import app
from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import Store

CLEAN_ENV: dict[str, str | None] = {
    "TRAINDECK_DIR": None, "TRAINDECK_URL": None, "TRAINDECK_TOKEN": None,
    "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None, "TERM": "dumb",
}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**CLEAN_ENV, **(env or {})})


def template(root: Path, name: str, script: str, config: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    (folder / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, train.py]\nconfig:\n" + textwrap.indent(config, "  ")
        + "presets:\n  long: [steps=4]\n")


@pytest.fixture
def server(store: Store, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "templates"
    template(root, "plain", """
        import json, os, sys
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        for i in range(cfg["steps"]):
            print(f"line {i}", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        sys.exit(cfg["code"])
        """, "steps: 2\ncode: 0\n")
    template(root, "ckpt", """
        import os, time
        import traindeck as td
        run = td.init()
        start = 0
        if os.environ.get("TRAINDECK_RESUME_CHECKPOINT"):
            start = int(open(os.environ["TRAINDECK_RESUME_CHECKPOINT"], "rb").read()) + 1
        print("resumed from", start, flush=True)
        for step in range(start, run.config["steps"]):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
            if step == 2:
                run.save_checkpoint(str(step).encode(), step=step)
        run.finish()
        """, "steps: 5\ncode: 0\n")
    template(root, "sleeper", """
        import time
        print("ready", flush=True)
        time.sleep(120)
        """, "steps: 1\ncode: 0\n")
    sock = bound_socket()
    settings = Settings(dir=tmp_path, port=sock.getsockname()[1], templates_dir=root,
                        launch_interval=0.05, web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        yield url


def run_status(url: str, run_id: str) -> str:
    return str(httpx.get(f"{url}/api/runs/{run_id}").json()["status"])


def ids(result: Result) -> tuple[str, str]:
    words = result.stdout.split()
    assert words[0] == "run" and words[2] == "launch", result.stdout
    return words[1], words[3]


def test_launch_prints_the_run_and_launch_ids(server: str, store: Store) -> None:
    result = invoke("launch", "plain", "steps=3", "--name", "cli run", "--url", server)
    assert result.exit_code == 0, result.output
    run_id, launch_id = ids(result)
    launch = httpx.get(f"{server}/api/launches/{launch_id}").json()
    assert launch["run_id"] == run_id and launch["overrides"] == ["steps=3"]
    wait_for(lambda: run_status(server, run_id) == "completed", 30, "the run to complete")
    assert store.get_run(run_id).name == "cli run"


def test_launch_follow_prints_the_console_until_the_run_ends(server: str) -> None:
    result = invoke("launch", "plain", "--preset", "long", "--follow",
                    env={"TRAINDECK_URL": server})
    assert result.exit_code == 0, result.output
    for i in range(4):
        assert f"line {i}\n" in result.stdout
    assert "to stderr" in result.stderr
    assert "ended: completed (exit code 0)" in result.stdout

    failed = invoke("launch", "plain", "code=3", "-f", "--url", server)
    assert failed.exit_code == 1
    assert "ended: failed (exit code 3)" in failed.stdout


def test_an_invalid_config_prints_each_error_path_and_exits_1(server: str,
                                                                store: Store) -> None:
    result = invoke("launch", "plain", "steps=many", "nope=1", "--url", server)
    assert result.exit_code == 1
    assert "$.steps:" in result.stderr and "$.nope:" in result.stderr
    assert store.list_runs()[1] == 0
    missing = invoke("launch", "absent", "--url", server)
    assert missing.exit_code == 1 and "absent" in missing.stderr


def test_no_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["launch", "plain"], ["cancel", "r1"], ["resume", "c1"]):
        result = invoke(*args, "--url", url)
        assert result.exit_code == 1
        assert f"no traindeck server at {url}" in result.stderr
        assert "traindeck serve --templates DIR" in result.stderr


def test_cancel_a_launched_run(server: str, store: Store) -> None:
    run_id, _ = ids(invoke("launch", "sleeper", "--grace", "1", "--url", server))
    wait_for(lambda: any(x.text == "ready" for x in store.read_log_lines(run_id)), 30,
             "ready")
    result = invoke("cancel", run_id, "--url", server)
    assert result.exit_code == 0, result.output
    assert run_id in result.stdout
    wait_for(lambda: run_status(server, run_id) == "cancelled", 20, "the run to be cancelled")
    again = invoke("cancel", run_id, "--url", server)
    assert again.exit_code == 1 and "HTTP 409" in again.stderr
    unknown = invoke("cancel", "nope", "--url", server)
    assert unknown.exit_code == 1 and "HTTP 404" in unknown.stderr


def test_resume_continues_the_same_run_from_the_checkpoint(server: str,
                                                            store: Store) -> None:
    run_id, launch_id = ids(invoke("launch", "ckpt", "--url", server))
    wait_for(lambda: httpx.get(f"{server}/api/launches/{launch_id}").json()["status"]
             == "completed", 30, "the first launch")
    wait_for(lambda: bool(store.list_checkpoints(run_id)), 10, "the checkpoint")
    ck = store.list_checkpoints(run_id)[0]
    result = invoke("resume", ck.id, "--url", server)
    assert result.exit_code == 0, result.output
    assert ids(result)[0] == run_id
    wait_for(lambda: len(httpx.get(f"{server}/api/launches",
                                   params={"run_id": run_id}).json()["launches"]) == 2
             and run_status(server, run_id) == "completed"
             and any(x.text == "resumed from 3" for x in store.read_log_lines(run_id)),
             30, "the resumed run")
    points = store.read_points(run_id, "loss")
    assert list(points.steps) == [0, 1, 2, 3, 4]


def test_a_launchs_detail_is_printed_once_each_and_an_upload_is_a_bar_on_a_terminal() -> None:
    import io

    from traindeck.cli.launch import DetailLine

    plain = io.StringIO()
    line = DetailLine(plain)
    for detail in ("waiting for SSH on gpu:22 (3 s)", "waiting for SSH on gpu:22 (3 s)", None,
                   "uploading 10% (1/10 MB)", "uploading 90% (9/10 MB)", "running (tmux td-x)"):
        line.show(detail)
    line.close()
    assert plain.getvalue().splitlines() == [
        "traindeck: waiting for SSH on gpu:22 (3 s)", "traindeck: uploading 10% (1/10 MB)",
        "traindeck: uploading 90% (9/10 MB)", "traindeck: running (tmux td-x)"]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    line = DetailLine(tty)
    for detail in ("uploading 10% (1/10 MB)", "uploading 90% (9/10 MB)", "preparing"):
        line.show(detail)
    line.close()
    out = tty.getvalue()
    assert "traindeck: uploading" in out and "9/10 MB" in out  # drawn as a bar
    assert "traindeck: uploading 10%" not in out  # not as lines
    assert out.rstrip().endswith("traindeck: preparing")
