"""Launches on Slurm through the server's API (issue 11 §3, §4) against a real one-node
Slurm on 127.0.0.1 (``slurm`` fixture, tests/slurm_service.py): a two-task job whose ranks
log into one run, Slurm's pending reason on the launch, cancel, a failing job's exit code,
and resources Slurm cannot be asked for refused before anything is made.

Nothing is mocked: server, store, slurmctld, slurmd and the jobs are real.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redaction_corpus import PEM_BLOCK, SECRETS
from serving import bound_socket, served
from slurm_service import SlurmService
from support import wait_for

from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import NotFound, Store

TERMINAL = ("completed", "failed", "cancelled")

# Every rank: prints who it is; logs `steps` steps (rank 0's land), samples its system load
# quickly; waits for `gate` (a file) when given; exits with `code`.
SCRIPT = """
    import os, sys, time
    import traindeck as td
    run = td.init(system_interval=0.1)
    cfg = run.config
    print(f"rank {run.rank} of {run.world_size}", flush=True)
    for step in range(cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1), "rank": run.rank}, step=step)
        time.sleep(0.05)
    while cfg["gate"] and not os.path.exists(cfg["gate"]):
        time.sleep(0.05)
    run.finish()
    sys.exit(cfg["code"])
    """


@pytest.fixture
def url(store: Store, slurm: SlurmService, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "templates" / "ranks"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    (folder / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, train.py]\n"
        "config: {steps: 20, code: 0, gate: ''}\n")
    leaky = folder.parent / "leaky"
    leaky.mkdir()
    (leaky / "train.py").write_text(
        "import sys\n"
        f"for i, line in enumerate({[t for t, _ in SECRETS]!r}):\n"
        "    print(line, file=sys.stderr if i % 2 else sys.stdout, flush=True)\n"
        f"for line in {list(PEM_BLOCK)!r}:\n"
        "    print(line, file=sys.stderr, flush=True)\n"
        "print('done', flush=True)\n")
    (leaky / "traindeck.yaml").write_text(f"command: [{sys.executable!r}, train.py]\n")
    sock = bound_socket()
    settings = Settings(dir=store.files_root, port=sock.getsockname()[1],
                        templates_dir=folder.parent, launch_interval=0.05,
                        web_dir=tmp_path / "no-web", slurm_env=tuple(slurm.env.items()))
    with served(create_app(settings, store=store), sock) as served_url:
        yield served_url
    slurm.cancel_all()


def launch(url: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", timeout=30,
                   json={"template": "ranks", "executor": "slurm", **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def launch_of(url: str, launch_id: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{url}/api/launches/{launch_id}", timeout=30).json()
    return out


def ended(url: str, launch_id: str) -> dict[str, Any]:
    wait_for(lambda: launch_of(url, launch_id)["status"] in TERMINAL, 120, "the launch to end",
             0.1)
    return launch_of(url, launch_id)


def keys(store: Store, run_id: str) -> set[str]:
    return {s.key for s in store.metric_keys(run_id)}


def values(store: Store, run_id: str, key: str) -> list[float]:
    try:
        return [float(v) for v in store.read_points(run_id, key).values]
    except NotFound:
        return []


def test_a_two_task_job_logs_into_one_run(url: str, store: Store) -> None:
    first = launch(url, resources={"tasks": 2, "cpus": 1}, overrides=["steps=30"])
    done = ended(url, first["id"])
    assert (done["status"], done["exit_code"]) == ("completed", 0), done
    run_id = first["run_id"]
    assert store.list_runs()[1] == 1  # both ranks, one run
    assert store.get_run(run_id).status == "completed"
    console = [x.text for x in store.read_log_lines(run_id, limit=1000)]
    assert "rank 0 of 2" in console and "rank 1 of 2" in console, console
    assert set(values(store, run_id, "rank")) == {0.0}  # metrics from rank 0
    assert len(values(store, run_id, "loss")) == 30
    both = keys(store, run_id)
    assert any(k.startswith("sys/rank0/") for k in both), sorted(both)
    assert any(k.startswith("sys/rank1/") for k in both), sorted(both)


def test_a_queued_job_shows_slurms_reason_and_cancels(url: str, store: Store,
                                                      slurm: SlurmService,
                                                      tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    filler = launch(url, resources={"cpus": slurm.cpus}, overrides=[f"gate={gate}"])
    wait_for(lambda: launch_of(url, filler["id"])["status"] == "running", 60, "the filler")
    waiting = launch(url, resources={"cpus": 1})
    wait_for(lambda: (launch_of(url, waiting["id"])["detail"] or "").startswith(
        "pending: Resources"), 60, "Slurm's reason on the launch")
    # waiting in Slurm's queue: the launch is starting, its run queued (not running)
    assert launch_of(url, waiting["id"])["status"] == "starting"
    assert store.get_run(waiting["run_id"]).status == "queued"
    r = httpx.post(f"{url}/api/runs/{waiting['run_id']}/cancel", timeout=30)
    assert r.status_code == 202, r.text
    assert ended(url, waiting["id"])["status"] == "cancelled"
    assert store.get_run(waiting["run_id"]).status == "cancelled"
    # the running one: SIGTERM through scancel, the SDK ends the run
    r = httpx.post(f"{url}/api/runs/{filler['run_id']}/cancel", timeout=30)
    assert r.status_code == 202, r.text
    assert ended(url, filler["id"])["status"] == "cancelled"


def test_a_failing_job_reports_its_exit_code(url: str, store: Store) -> None:
    first = launch(url, overrides=["code=3", "steps=2"])
    done = ended(url, first["id"])
    assert (done["status"], done["exit_code"]) == ("failed", 3), done
    assert store.get_run(first["run_id"]).exit_code == 3


def test_every_console_line_of_a_job_is_redacted(url: str, store: Store) -> None:
    r = httpx.post(f"{url}/api/launches", timeout=30,
                   json={"template": "leaky", "executor": "slurm"})
    assert r.status_code == 201, r.text
    first = r.json()
    assert ended(url, first["id"])["status"] == "completed"
    stored = [x.text for x in store.read_log_lines(first["run_id"], limit=1000)]
    assert "done" in stored
    text = "\n".join(stored)
    leaked = [part for _, part in SECRETS if part in text]
    leaked += [p for p in ("MIIEpAIBAAKCAQEA7bq9", "Xk2mQ9vL4pR7", "AES-128-CBC") if p in text]
    assert not leaked, leaked
    state = store.get_launch(first["id"]).state  # printed for real: the raw files hold them
    raw = Path(state["stdout"]).read_text() + Path(state["stderr"]).read_text()
    assert all(part in raw for _, part in SECRETS[:3])


def test_resources_slurm_cannot_be_asked_for_are_refused(url: str, store: Store) -> None:
    for resources, needle in (({"gpus": "lots"}, "resources.gpus"),
                              ({"time": "forever"}, "resources.time"),
                              ({"tasks": 0}, "resources.tasks"),
                              ({"colour": "red"}, "colour")):
        r = httpx.post(f"{url}/api/launches", timeout=30, json={
            "template": "ranks", "executor": "slurm", "resources": resources})
        assert r.status_code == 422 and needle in r.text, (resources, r.text)
    assert store.list_runs()[1] == 0 and store.list_launches() == []
