"""Runs made by real SDK processes, read and deleted by the CLI and by a real server.

- defect 6: a SIGKILLed run, no server up: the next ``traindeck runs ls`` marks it
  ``interrupted`` (its heartbeat stopped) and ``runs rm`` deletes it without ``--force``;
- defect 10: ``DELETE /api/runs/{id}`` on a real server deletes the run's folder, and
  never a checkpoint file recorded outside it;
- defect 15: a run made with a relative ``TRAINDECK_DIR`` in another directory: ``ckpt
  verify`` and ``ckpt pick`` find its checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from support import clean_env, free_port, open_dir_store, start_server, wait_for
from typer.testing import CliRunner, Result

from traindeck.cli import app

CLEAN_ENV: dict[str, str | None] = {
    "TRAINDECK_DIR": None, "TRAINDECK_URL": None, "TRAINDECK_MODE": None,
    "FORCE_COLOR": None, "NO_COLOR": None, "TERM": "dumb",
}

#: A training script that starts a run with a short heartbeat timeout, says its id and
#: then hangs (until it is killed).
HANGING = """
import sys, time, traindeck
run = traindeck.init(project="p", name="killed", dir=sys.argv[1], heartbeat_interval=0.2,
                     heartbeat_timeout=1.0, system_interval=None, capture_console=False)
run.log({"loss": 1.0}, step=0)
run.flush()
print(run.id, flush=True)
time.sleep(600)
"""

#: A script that saves one checkpoint into the traindeck folder the environment names.
SAVES = """
import traindeck
run = traindeck.init(project="p", name="relative", system_interval=None,
                     capture_console=False)
run.save_checkpoint(b"weights", step=7)
run.finish()
print(run.id, flush=True)
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=CLEAN_ENV)


def child_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    return {**env, **extra}


def status_of(store_dir: Path, run_id: str) -> str:
    result = invoke("runs", "ls", "--json", "--dir", str(store_dir))
    assert result.exit_code == 0, result.output
    return {r["id"]: r["status"] for r in json.loads(result.stdout)["runs"]}[run_id]


def test_a_killed_run_is_reaped_by_the_cli_without_a_server(tmp_path: Path) -> None:
    store_dir = tmp_path / "td"
    with subprocess.Popen([sys.executable, "-c", HANGING, str(store_dir)],
                          stdout=subprocess.PIPE, env=child_env(), text=True) as proc:
        try:
            assert proc.stdout is not None
            run_id = proc.stdout.readline().strip()
            assert run_id, "the training script did not start"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # No server is up: only the CLI reads the store, and it notices the heartbeat stopped.
    wait_for(lambda: status_of(store_dir, run_id) == "interrupted", 30,
             "the killed run to show as interrupted")
    shown = invoke("runs", "show", run_id, "--json", "--dir", str(store_dir))
    assert json.loads(shown.stdout)["status"] == "interrupted"
    removed = invoke("runs", "rm", run_id, "--yes", "--dir", str(store_dir))
    assert removed.exit_code == 0, removed.output
    assert not (store_dir / "runs" / run_id).exists()


def test_deleting_a_run_on_the_server_deletes_its_folder(tmp_path: Path) -> None:
    store_dir = tmp_path / "td"
    outside = tmp_path / "frameworks-own-place" / "model.pt"
    outside.parent.mkdir()
    outside.write_bytes(b"kept")
    with open_dir_store(store_dir) as store:
        run = store.create_run(project="p", name="done")
        folder = store_dir / "runs" / run.id
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "checkpoints" / "a.bin").write_bytes(b"a")
        (folder / "media" / "img").mkdir(parents=True)
        (folder / "media" / "img" / "0_0.png").write_bytes(b"png")
        store.add_checkpoint(run.id, step=1, path="checkpoints/a.bin")
        store.add_checkpoint(run.id, step=2, path=str(outside))
        store.set_status(run.id, "completed")
        live = store.create_run(project="p", name="live")
        (store_dir / "runs" / live.id).mkdir(parents=True)
    port = free_port()
    server = start_server(store_dir, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            refused = http.delete(f"/api/runs/{live.id}")
            assert refused.status_code == 409
            assert (store_dir / "runs" / live.id).is_dir()
            assert http.delete(f"/api/runs/{run.id}").status_code == 204
            assert http.get(f"/api/runs/{run.id}").status_code == 404
            assert http.delete(f"/api/runs/{run.id}").status_code == 404
    finally:
        server.terminate()
        server.wait(30)
    assert not folder.exists()
    assert outside.read_bytes() == b"kept"


def test_a_run_made_with_a_relative_dir_elsewhere_is_verified(tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    done = subprocess.run([sys.executable, "-c", SAVES], cwd=workdir, capture_output=True,
                          text=True, env=child_env(TRAINDECK_DIR="d7"), timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    store_dir = workdir / "d7"
    assert os.getcwd() != str(workdir)
    verified = invoke("ckpt", "verify", run_id, "--dir", str(store_dir))
    assert verified.exit_code == 0, verified.output
    assert "1 checkpoint ok" in verified.stdout
    picked = CliRunner().invoke(app, ["ckpt", "pick", run_id, "--dir", str(store_dir)],
                                input="\n", env=CLEAN_ENV)
    assert picked.exit_code == 0, picked.output
    path = Path(picked.stdout.strip().splitlines()[-1])
    assert path.read_bytes() == b"weights"
    assert path.is_relative_to(store_dir / "runs" / run_id)
