"""Slurm launches through a login node (issue 11 §3: "submitted with sbatch … over SSH to a
login node"): the sshd fixture's unprivileged user (``tdssh``) is the login node's user and
submits to the one-node Slurm fixture, whose jobs run as that user. Driven through the Slurm
executor as the launcher drives it, and once through the server's API.

What a user notices: the launch waits for SSH, uploads, shows Slurm's pending reason, runs
as the login user, its console lines arrive in the run's local console files, its metrics
come home through the forward on the login node, its exit code is the job's, cancel ends
the job (queued or running), a new server's executor follows it again, and the launch's
token is never in the batch script, on a command line or in Slurm's view of the job.

Nothing is mocked: server, store, sshd, slurmctld, slurmd and the jobs are real.
"""

from __future__ import annotations

import dataclasses
import signal
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from serving import bound_socket, served
from slurm_service import SlurmService
from sshd_service import SSHD, running_sshd
from support import server_settings, wait_for

from traindeck.launch.executor import Handle, ProcessSpec, error_of, started_of
from traindeck.launch.prepare import process_spec
from traindeck.launch.slurm import SlurmExecutor
from traindeck.remote.slurm_login import SlurmLogins
from traindeck.remote.ssh_state import SSHState
from traindeck.runfiles import RunFiles
from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import NotFound, Store

pytestmark = pytest.mark.slow
HOST = "login1"
TERMINAL = ("completed", "failed", "cancelled")

#: Says who runs it and where, logs `steps` metric points, waits for `gate` (a file) when
#: given, logs `more` points, exits with `code`.
SCRIPT = """
    import getpass, hashlib, os, sys, time
    import traindeck as td
    run = td.init()
    cfg = run.config
    print(f"user {getpass.getuser()} job {os.environ.get('SLURM_JOB_ID')}", flush=True)
    token = os.environ.get("TRAINDECK_TOKEN", "")
    print("token-sha", hashlib.sha256(token.encode()).hexdigest()[:16], flush=True)
    for step in range(cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        print(f"step {step}", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    while cfg["gate"] and not os.path.exists(cfg["gate"]):
        time.sleep(0.05)
    print("after the gate", flush=True)
    for step in range(cfg["steps"], cfg["steps"] + cfg.get("more", 0)):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        print(f"step {step}", flush=True)
    run.finish()
    sys.exit(cfg["code"])
    """


@pytest.fixture(scope="module")
def sshd(slurm: SlurmService) -> Iterator[SSHD]:
    """The login node: its sessions reach the Slurm fixture (SLURM_CONF, readable by all)."""
    with running_sshd(env={"SLURM_CONF": str(slurm.conf)}) as server:
        yield server


@dataclass
class Env:
    """A server (tokens required), its store and files, the login node's host record."""

    store: Store
    url: str
    port: int
    files: RunFiles
    tmp: Path
    known_hosts: Path
    slurm: SlurmService
    sshd: SSHD
    executors: list[SlurmExecutor]
    #: Each executor's login-node part, by the executor's id (for its state files).
    logins: dict[int, SlurmLogins] = dataclasses.field(default_factory=dict)

    def executor(self) -> SlurmExecutor:
        login = SlurmLogins(hosts=self.store.get_host, known_hosts=self.known_hosts,
                            server=("127.0.0.1", self.port), files=self.files,
                            probe_interval=0.2, ssh_wait_s=60, mirror_interval=0.1,
                            refresh_s=0.3, link_options={"backoff_cap": 1.0})
        ex = SlurmExecutor(self.slurm.runner(), refresh_s=0.3, login=login)
        self.executors.append(ex)
        self.logins[id(ex)] = login
        return ex

    def state(self, ex: SlurmExecutor, handle: Handle) -> SSHState | None:
        """The launch's state file (its folder on the login node, its job id)."""
        return self.logins[id(ex)].state(handle)

    def template(self, script: str = SCRIPT) -> Path:
        folder = self.tmp / f"tpl-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        (folder / "train.py").write_text(textwrap.dedent(script))
        return folder

    def spec(self, folder: Path, config: dict[str, Any], **resources: Any) -> ProcessSpec:
        """A launch's process as the launcher makes it (a token for its run), through the
        login node, with the fixture's python (a venv that imports traindeck)."""
        launch = {"command": ["python", "train.py"], "cwd": str(folder)}
        run = self.store.create_run(project="login", status="queued", config=config,
                                    launch_spec=launch)
        _, token = self.store.create_token("launch", "write", run_id=run.id)
        spec = process_spec(self.files, run.id, launch, config, url=self.url, token=token)
        venv = str(Path(self.sshd.python).parent.parent)
        return dataclasses.replace(spec, host=HOST, remote={"venv": venv},
                                   resources=resources)


@pytest.fixture
def env(store: Store, tmp_path: Path, slurm: SlurmService, sshd: SSHD) -> Iterator[Env]:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")
    store.add_host(HOST, user=sshd.user, address=sshd.host, port=sshd.port,
                   key_path=str(sshd.client_key),
                   workdir=f"{sshd.workdir}/{uuid.uuid4().hex[:8]}")
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], auth=True,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        e = Env(store, url, sock.getsockname()[1], RunFiles(tmp_path / "files"), tmp_path,
                known_hosts, slurm, sshd, [])
        try:
            yield e
        finally:
            for ex in e.executors:
                ex.close()
            if not sshd.running:
                sshd.start()
            slurm.cancel_all()


def run_id_of(spec: ProcessSpec) -> str:
    return spec.env["TRAINDECK_RUN_ID"]


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def ended(ex: SlurmExecutor, handle: Handle, timeout: float = 120) -> int | None:
    wait_for(lambda: ex.poll(handle)[0], timeout, "the launch to end", 0.05)
    return ex.poll(handle)[1]


def detail_is(ex: SlurmExecutor, handle: Handle, prefix: str, timeout: float = 90) -> str:
    line: str = wait_for(lambda: (ex.detail(handle) or "").startswith(prefix) and
                         ex.detail(handle), timeout, f"the detail {prefix!r}", 0.02)
    return line


def steps_of(store: Store, run_id: str) -> list[int]:
    try:
        return [int(s) for s in store.read_points(run_id, "loss").steps]
    except NotFound:
        return []


def job_id(env: Env, ex: SlurmExecutor, handle: Handle) -> int:
    state = wait_for(lambda: (st := env.state(ex, handle)) is not None and st.pid and st, 90,
                     "the job id")
    return int(state.pid)


def fill_the_node(slurm: SlurmService) -> str:
    """A job of root's that takes every CPU of the node (a busy cluster)."""
    done = slurm.command("sbatch", "--parsable", f"--cpus-per-task={slurm.cpus}",
                         "--output=/dev/null", "--wrap", "sleep 600")
    assert done.returncode == 0, done.stderr
    filler = done.stdout.strip().split(";")[0]
    wait_for(lambda: slurm.command("squeue", "-h", "-j", filler, "-o", "%T").stdout.strip()
             == "RUNNING", 60, "the filler to run")
    return filler


def job_processes(env: Env, ex: SlurmExecutor, handle: Handle) -> list[psutil.Process]:
    """The login user's processes that run in the launch's folder (other tests' processes
    of the same user, in other folders, are not counted)."""
    state = env.state(ex, handle)
    assert state is not None and state.folder is not None
    found = []
    for proc in psutil.process_iter(["username", "cwd"]):
        cwd = str(proc.info["cwd"] or "")
        if proc.info["username"] == env.sshd.user and cwd.startswith(state.folder):
            found.append(proc)
    return found


def test_a_job_waits_in_the_queue_then_runs_as_the_login_user_and_everything_comes_home(
        env: Env, slurm: SlurmService, sshd: SSHD) -> None:
    ex = env.executor()
    filler = fill_the_node(slurm)
    folder = env.template()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    spec = env.spec(folder, {"steps": 5, "code": 3, "gate": gate}, time="10")
    seen: list[str] = []

    def saw(prefix: str) -> bool:
        line = ex.detail(handle) or ""
        if not seen or seen[-1] != line:
            seen.append(line)
        return line.startswith(prefix)

    handle = ex.start(spec)  # at once: the rest happens on the launch's thread
    assert handle.extra["login"] and handle.extra["host"] == HOST
    assert ex.poll(handle) == (False, None) and not started_of(ex, handle)
    wait_for(lambda: saw("pending: Resources"), 120, "Slurm's reason", 0.01)
    assert any(s.startswith(("checking code and data", "packing", "uploading"))
               for s in seen), seen
    assert any(s.startswith("preparing") for s in seen), seen
    assert not started_of(ex, handle) and ex.poll(handle) == (False, None)
    job = job_id(env, ex, handle)
    shown = slurm.command("scontrol", "show", "job", str(job)).stdout
    assert f"UserId={sshd.user}(" in shown and "JobState=PENDING" in shown
    assert "TimeLimit=00:10:00" in shown and f"JobName=td-{run_id_of(spec)}" in shown

    slurm.command("scancel", filler)
    detail_is(ex, handle, "running on localhost")
    wait_for(lambda: started_of(ex, handle), 30, "started")
    wait_for(lambda: "step 4" in text(spec.stdout), 60, "the console lines at home")
    out = text(spec.stdout)
    assert f"user {sshd.user} job {job}" in out  # Slurm runs it as the login user
    wait_for(lambda: steps_of(env.store, run_id_of(spec)) == [0, 1, 2, 3, 4], 60,
             "the metrics, through the forward on the login node")
    # the token: in the job's environment, never in its script, Slurm's view or a file left
    token = spec.env["TRAINDECK_TOKEN"]
    state = env.state(ex, handle)
    assert state is not None and state.folder is not None
    td = Path(state.folder) / ".td"
    assert token not in (td / "slurm.sh").read_text()
    assert token not in slurm.command("scontrol", "show", "job", "-d", str(job)).stdout
    assert not (td / "slurm.env").exists()
    assert (td / "slurm.sh").stat().st_mode & 0o077 == 0

    Path(gate).touch()
    assert ended(ex, handle) == 3
    assert spec.exit_file.read_text() == "3"
    out = text(spec.stdout)
    assert out.count("step 0\n") == 1 and out.endswith("after the gate\n")
    assert text(spec.stderr).startswith("to stderr\n")  # then srun says the exit code
    assert error_of(ex, handle) is None
    ex.release(handle)


def test_cancel_ends_a_queued_job_and_a_running_one(env: Env, slurm: SlurmService,
                                                    sshd: SSHD) -> None:
    ex = env.executor()
    folder = env.template()
    filler = fill_the_node(slurm)
    queued_spec = env.spec(folder, {"steps": 1, "code": 0, "gate": "/nonexistent"})
    queued = ex.start(queued_spec)
    detail_is(ex, queued, "pending:")
    ex.signal(queued, signal.SIGTERM)
    assert ended(ex, queued) is None  # cancelled in the queue: it never ran
    assert "user " not in text(queued_spec.stdout)
    ex.release(queued)
    slurm.command("scancel", filler)

    marker = f"gate-{uuid.uuid4().hex[:8]}"
    spec = env.spec(folder, {"steps": 2, "code": 0, "gate": f"/nonexistent/{marker}"})
    handle = ex.start(spec)
    wait_for(lambda: "step 1" in text(spec.stdout), 120, "the job to run")
    assert job_processes(env, ex, handle)
    ex.signal(handle, signal.SIGCONT)  # what the launcher's cancel sends first
    ex.signal(handle, signal.SIGTERM)
    code = ended(ex, handle)
    assert code == -signal.SIGTERM, (code, text(spec.stderr))
    wait_for(lambda: not job_processes(env, ex, handle), 30, "the job's processes gone")
    job = job_id(env, ex, handle)
    assert slurm.command("squeue", "-h", "-j", str(job), "-o", "%T").stdout.strip() in (
        "", "COMPLETED", "FAILED", "CANCELLED")
    ex.release(handle)


def test_a_new_executor_follows_a_running_job_again(env: Env, sshd: SSHD) -> None:
    ex = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    spec = env.spec(env.template(), {"steps": 3, "code": 0, "gate": gate})
    handle = ex.start(spec)
    wait_for(lambda: "step 2" in text(spec.stdout), 120, "the job to run")
    state = handle.to_state()
    ex.close()  # the server stops: the job runs on

    again = env.executor()
    adopted = again.adopt(state)
    assert adopted is not None and adopted.extra["login"]
    detail_is(again, adopted, "running on localhost")
    Path(gate).touch()
    assert ended(again, adopted) == 0
    out = text(spec.stdout)
    assert out.count("step 2\n") == 1 and out.endswith("after the gate\n")
    assert spec.exit_file.read_text() == "0"
    assert steps_of(env.store, run_id_of(spec)) == [0, 1, 2]


def test_a_dropped_connection_ends_nothing_and_pause_holds_the_job(
        env: Env, sshd: SSHD) -> None:
    ex = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    spec = env.spec(env.template(), {"steps": 3, "code": 0, "gate": gate, "more": 3})
    handle = ex.start(spec)
    wait_for(lambda: "step 2" in text(spec.stdout), 120, "the job to run")
    ex.signal(handle, signal.SIGSTOP)  # pause: Slurm stops the job's steps
    detail_is(ex, handle, "paused")
    ex.signal(handle, signal.SIGCONT)
    detail_is(ex, handle, "running on localhost")

    assert sshd.drop_connections() > 0  # a network cut: the job runs on
    Path(gate).touch()
    assert ended(ex, handle) == 0
    out = text(spec.stdout)
    assert [line for line in out.splitlines() if line.startswith("step")] == [
        f"step {i}" for i in range(6)]  # every line once
    wait_for(lambda: steps_of(env.store, run_id_of(spec)) == list(range(6)), 60,
             "every metric, once, after the reconnect")


def test_the_launch_waits_for_ssh_and_a_failed_start_says_why(env: Env, sshd: SSHD) -> None:
    ex = env.executor()
    sshd.stop()
    spec = env.spec(env.template(), {"steps": 1, "code": 0, "gate": ""})
    handle = ex.start(spec)
    detail_is(ex, handle, f"waiting for SSH on {sshd.host}:{sshd.port}")
    assert not started_of(ex, handle)
    sshd.start()
    assert ended(ex, handle) == 0
    assert "step 0" in text(spec.stdout)

    # resources Slurm refuses: the start fails, with sbatch's reason
    bad = env.spec(env.template(), {"steps": 1, "code": 0, "gate": ""}, partition="nopart")
    handle = ex.start(bad)
    assert ended(ex, handle) is None
    why = error_of(ex, handle) or ""
    assert "sbatch refused the job" in why and "partition" in why.lower(), why
    assert "traindeck: sbatch refused the job" in text(bad.stderr)


# -- through the server's API ---------------------------------------------------------------


def test_a_slurm_launch_through_a_login_node_from_the_api(
        store: Store, tmp_path: Path, slurm: SlurmService, sshd: SSHD) -> None:
    folder = tmp_path / "templates" / "login_loop"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    venv = Path(sshd.python).parent.parent
    (folder / "traindeck.yaml").write_text(textwrap.dedent(f"""
        command: python train.py
        config: {{steps: 4, code: 0, gate: ''}}
        remote: {{venv: {str(venv)!r}}}
        """))
    _, secret = store.create_token("admin", "admin")
    headers = {"authorization": f"Bearer {secret}"}
    store.add_host(HOST, user=sshd.user, address=sshd.host, port=sshd.port,
                   key_path=str(sshd.client_key), workdir=f"{sshd.workdir}/{tmp_path.name}")
    (Path(store.files_root) / "known_hosts").write_text(sshd.known_hosts_line + "\n")
    sock = bound_socket()
    settings = Settings(dir=store.files_root, port=sock.getsockname()[1],
                        templates_dir=folder.parent, launch_interval=0.05,
                        web_dir=tmp_path / "no-web", slurm_env=tuple(slurm.env.items()))
    with served(create_app(settings, store=store), sock) as url:
        r = httpx.post(f"{url}/api/launches", headers=headers, timeout=30, json={
            "template": "login_loop", "executor": "slurm", "host": HOST,
            "resources": {"cpus": 1, "time": "10"}})
        assert r.status_code == 201, (
            f"{r.text} (the server builds SlurmExecutor(..., login=SlurmLogins(...)) in "
            "server/executors.py)")
        first = r.json()

        def launch() -> dict[str, Any]:
            got: dict[str, Any] = httpx.get(f"{url}/api/launches/{first['id']}",
                                            headers=headers, timeout=30).json()
            return got

        wait_for(lambda: launch()["status"] in TERMINAL, 180, "the launch to end", 0.1)
        done = launch()
        assert (done["status"], done["exit_code"], done["host"]) == ("completed", 0, HOST), done
    run_id = first["run_id"]
    assert store.get_run(run_id).status == "completed"
    assert steps_of(store, run_id) == [0, 1, 2, 3]
    console = [x.text for x in store.read_log_lines(run_id, limit=1000)]
    assert any(line.startswith(f"user {sshd.user} job ") for line in console), console
    assert "step 3" in console and "after the gate" in console
    slurm.cancel_all()

