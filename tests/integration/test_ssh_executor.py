"""The SSH executor (traindeck.remote.ssh_executor) against a real sshd on 127.0.0.1
(tests/sshd_service.py) and a real traindeck server for the metrics that come home through
the reverse port forward. The executor is driven directly, as the launcher drives it; the
"host" is this machine seen through sshd as an unprivileged user, so the tests can also
look at its processes and files the way a user on the host would.

Nothing is mocked: the server, the host's user, keys, tmux, connections and processes are
real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from serving import bound_socket, served
from sshd_service import SSHD, running_sshd
from support import server_settings, wait_for

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec
from traindeck.launch.prepare import process_spec
from traindeck.remote.ssh_executor import SSHExecutor
from traindeck.runfiles import RunFiles
from traindeck.server.app import create_app
from traindeck.store import NotFound, Store

HOST = "gpubox"


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


@dataclass
class Env:
    """A server, its store and files, the host record and a place for templates."""

    store: Store
    url: str
    port: int
    files: RunFiles
    tmp: Path
    known_hosts: Path
    executors: list[SSHExecutor]

    def executor(self, **options: Any) -> SSHExecutor:
        ex = SSHExecutor(hosts=self.store.get_host, known_hosts=self.known_hosts,
                         server=("127.0.0.1", self.port), files=self.files,
                         probe_interval=0.2, ssh_wait_s=60, mirror_interval=0.1,
                         status_interval=1.0, link_options={"backoff_cap": 1.0}, **options)
        self.executors.append(ex)
        return ex


@pytest.fixture
def env(store: Store, tmp_path: Path) -> Iterator[Env]:
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], auth=True,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        e = Env(store, url, sock.getsockname()[1], RunFiles(tmp_path / "files"), tmp_path,
                tmp_path / "known_hosts", [])
        yield e
        for ex in e.executors:
            ex.close()


def add_host(env: Env, server: SSHD, *, name: str = HOST, trusted: bool = True,
             key: Path | None = None) -> str:
    """A host record for ``server`` (its own workdir, so tests share no upload), its key
    trusted in the known_hosts file unless ``trusted`` is false."""
    if trusted and server.known_hosts_line not in (env.known_hosts.read_text()
                                                   if env.known_hosts.exists() else ""):
        with env.known_hosts.open("a") as f:
            f.write(server.known_hosts_line + "\n")
    env.store.add_host(name, user=server.user, address=server.host, port=server.port,
                       key_path=str(key or server.client_key),
                       workdir=f"{server.workdir}/{uuid.uuid4().hex[:8]}")
    return name


def template(env: Env, script: str, files: dict[str, bytes] | None = None) -> Path:
    folder = env.tmp / f"tpl-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent(script))
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


def spec_for(env: Env, server: SSHD, folder: Path, config: dict[str, Any], *,
             host: str = HOST, remote: dict[str, Any] | None = None,
             resume: str | None = None) -> ProcessSpec:
    """A launch's process, as the launcher makes it (with a token for its run: the server
    requires one), for ``host``; the host's python is the fixture's (a venv that imports
    traindeck)."""
    launch = {"command": ["python", "train.py"], "cwd": str(folder)}
    run = env.store.create_run(project="ssh", status="queued", config=config,
                               launch_spec=launch)
    _, token = env.store.create_token("launch", "write", run_id=run.id)
    spec = process_spec(env.files, run.id, launch, config, url=env.url, token=token,
                        resume_checkpoint=resume)
    venv = str(Path(server.python).parent.parent)
    return dataclasses.replace(spec, host=host, remote={"venv": venv, **(remote or {})})


def ended(ex: SSHExecutor, handle: Handle, timeout: float = 90) -> int | None:
    wait_for(lambda: ex.poll(handle)[0], timeout, "the launch to end", 0.05)
    return ex.poll(handle)[1]


def running(ex: SSHExecutor, handle: Handle) -> str:
    line: str = wait_for(lambda: (ex.detail(handle) or "").startswith("running") and
                         ex.detail(handle), 90, "the launch to run", 0.05)
    return line


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def steps_of(store: Store, run_id: str, key: str) -> list[int]:
    """The steps of a run's metric stored so far (none yet: empty)."""
    try:
        return list(store.read_points(run_id, key).steps)
    except NotFound:
        return []


def group_left(pgid: int) -> list[str]:
    """The processes of group ``pgid`` still running on the "host" (pid, parent, state,
    command line). A zombie is not counted: it has ended, and reaping it is the host's
    business (its tmux server or init), not the executor's."""
    left = []
    for proc in psutil.process_iter(["pid", "ppid", "status", "cmdline"]):
        try:
            if os.getpgid(proc.pid) != pgid or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except (ProcessLookupError, psutil.Error):
            continue
        left.append(f"{proc.pid} (parent {proc.info['ppid']}, {proc.info['status']}): "
                    f"{' '.join(proc.info['cmdline'] or [])}")
    return left


def group_gone(pgid: int) -> bool:
    return not group_left(pgid)


def wait_group_gone(pgid: int | None) -> None:
    assert pgid
    try:
        wait_for(lambda: group_gone(pgid), 30, "the group to go")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still running: {group_left(pgid)}") from None


def script_process(run_id: str, folder: Path) -> psutil.Process:
    """The launched script on the "host": the process whose environment names its run.
    Fails with what the launch's wrapper recorded when there is none."""
    for proc in psutil.process_iter(["status"]):
        try:
            if (proc.info["status"] != psutil.STATUS_ZOMBIE
                    and proc.environ().get("TRAINDECK_RUN_ID") == run_id):
                return proc
        except psutil.Error:
            continue
    td = folder / ".td"
    recorded = {name: text(td / name)[-2000:] for name in ("pid", "exit", "stderr.log")}
    raise AssertionError(f"no process of run {run_id} is running; the wrapper recorded "
                         f"{recorded}")


TICKER = """
    import json, os, sys, time
    cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
    for i in range(cfg["lines"]):
        print(f"line {i}", flush=True)
    while cfg.get("gate") and not os.path.exists(cfg["gate"]):
        time.sleep(0.02)
    print("to stderr", file=sys.stderr, flush=True)
    if os.environ.get("TRAINDECK_RESUME_CHECKPOINT"):
        print("resumed from", open(os.environ["TRAINDECK_RESUME_CHECKPOINT"]).read())
    sys.exit(cfg["code"])
    """


def test_a_launch_runs_in_tmux_with_its_console_and_exit_code(env: Env, sshd: SSHD) -> None:
    add_host(env, sshd)
    folder = template(env, TICKER)
    ex = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    spec = spec_for(env, sshd, folder, {"lines": 3, "code": 0, "gate": gate})
    handle = ex.start(spec)
    assert handle.pid == 0 and ex.poll(handle) == (False, None)
    line = running(ex, handle)
    state = ex.state(handle)
    assert state is not None and state.runner == "tmux" and state.pid
    assert line == f"running (tmux {state.session})"
    # the session is there on the host, as its user sees it
    has = subprocess.run(["runuser", "-u", sshd.user, "--", "env",
                          f"TMUX_TMPDIR={sshd.tmux_dir}", "tmux", "has-session", "-t",
                          str(state.session)], capture_output=True)
    assert has.returncode == 0
    wait_for(lambda: "line 2" in text(spec.stdout), 30, "the console")
    assert ex.poll(handle) == (False, None)
    Path(gate).touch()
    assert ended(ex, handle) == 0
    assert text(spec.stdout) == "line 0\nline 1\nline 2\n"
    assert text(spec.stderr) == "to stderr\n"
    assert spec.exit_file.read_text() == "0"

    # exit code 3, and a resume checkpoint uploaded with the launch
    checkpoint = env.tmp / "ckpt.bin"
    checkpoint.write_text("weights v1")
    spec = spec_for(env, sshd, folder, {"lines": 1, "code": 3}, resume=str(checkpoint))
    handle = ex.start(spec)
    assert ended(ex, handle) == 3
    assert text(spec.stdout) == "line 0\nresumed from weights v1\n"
    ex.release(handle)


def test_metrics_come_home_through_the_tunnel_and_the_token_stays_secret(
        env: Env, sshd: SSHD, caplog: pytest.LogCaptureFixture) -> None:
    add_host(env, sshd)
    folder = template(env, """
        import os, time
        import traindeck as td
        run = td.init()
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        print("url", os.environ["TRAINDECK_URL"], os.environ["TRAINDECK_DIR"])
        print("path is the host's", "/root" not in os.environ.get("PATH", ""))
        while not os.path.exists(run.config["gate"]):
            time.sleep(0.02)
        run.finish()
        """)
    ex = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    spec0 = spec_for(env, sshd, folder, {"gate": gate})
    run_id, secret = spec0.env["TRAINDECK_RUN_ID"], spec0.env["TRAINDECK_TOKEN"]
    spec = dataclasses.replace(spec0, env={**spec0.env, "SERVER_ONLY_VARIABLE": "leak"})
    handle = ex.start(spec)
    running(ex, handle)
    state = ex.state(handle)
    assert state is not None and state.folder and state.remote_port
    wait_for(lambda: len(steps_of(env.store, run_id, "loss")) == 5, 60,
             "the metrics through the reverse forward")
    wait_for(lambda: "path is the host's" in text(spec.stdout), 30, "the prints")
    out = text(spec.stdout)
    # the SDK's folder is the host's (under its workdir), not the server's
    assert f"url http://127.0.0.1:{state.remote_port} {state.workdir}/td" in out
    assert "path is the host's True" in out
    # while it runs: no command line on the host holds the token, no file either
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert secret not in ps
    workdir = Path(state.folder).parent.parent
    holding = [p for p in workdir.rglob("*") if p.is_file() and secret.encode() in
               p.read_bytes()]
    assert holding == []  # the env file is deleted once the wrapper has read it
    script = script_process(run_id, Path(state.folder)).environ()
    assert "SERVER_ONLY_VARIABLE" not in script and script["TRAINDECK_TOKEN"] == secret
    Path(gate).touch()
    assert ended(ex, handle) == 0
    assert steps_of(env.store, run_id, "loss") == [0, 1, 2, 3, 4]
    local = [p for p in env.files.run_dir(run_id).rglob("*") if p.is_file()]
    assert local and not [p for p in local if secret.encode() in p.read_bytes()]
    assert secret not in caplog.text


def test_cancel_reaches_the_script_and_kill_ends_a_stubborn_group(env: Env,
                                                                  sshd: SSHD) -> None:
    add_host(env, sshd)
    polite = template(env, """
        import signal, sys, time
        def bye(*a):
            print("got SIGTERM", flush=True)
            sys.exit(5)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(120)
        """)
    ex = env.executor()
    spec = spec_for(env, sshd, polite, {})
    handle = ex.start(spec)
    running(ex, handle)
    wait_for(lambda: "ready" in text(spec.stdout), 30, "the script")
    ex.signal(handle, signal.SIGCONT)
    ex.signal(handle, signal.SIGTERM)
    assert ended(ex, handle) == 5
    assert "got SIGTERM" in text(spec.stdout)
    state = ex.state(handle)
    assert state is not None and state.pgid
    wait_group_gone(state.pgid)

    stubborn = template(env, """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, lambda *a: print("term ignored", flush=True))
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
        print("ready", flush=True)
        time.sleep(120)
        """)
    spec = spec_for(env, sshd, stubborn, {})
    handle = ex.start(spec)
    running(ex, handle)
    wait_for(lambda: "ready" in text(spec.stdout), 30, "the script")
    ex.signal(handle, signal.SIGTERM)
    wait_for(lambda: "term ignored" in text(spec.stdout), 30, "SIGTERM to arrive")
    assert ex.poll(handle) == (False, None) and ex.group_alive(handle)
    ex.kill(handle)
    assert ended(ex, handle) == 128 + signal.SIGKILL
    ex.signal(handle, signal.SIGKILL)  # what the launcher sends after a cancel's end
    state = ex.state(handle)
    assert state is not None and state.pgid
    wait_group_gone(state.pgid)
    assert not ex.group_alive(handle)


STEPPER = """
    import os, time
    import traindeck as td
    run = td.init()
    for step in range(run.config["steps"]):
        run.log({"x": float(step)}, step=step)
        print(f"step {step}", flush=True)
        time.sleep(run.config["every"])
        while step == run.config["hold_at"] and not os.path.exists(run.config["gate"]):
            time.sleep(0.02)
    run.finish()
    """


def test_a_dropped_connection_loses_nothing_and_repeats_nothing(env: Env,
                                                                sshd: SSHD) -> None:
    add_host(env, sshd)
    folder = template(env, STEPPER)
    ex = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    steps = 60
    spec = spec_for(env, sshd, folder, {"steps": steps, "every": 0.02, "hold_at": 20,
                                        "gate": gate})
    run_id = spec.env["TRAINDECK_RUN_ID"]
    handle = ex.start(spec)
    running(ex, handle)
    wait_for(lambda: "step 20" in text(spec.stdout), 60, "the first steps")
    assert sshd.drop_connections() > 0
    Path(gate).touch()  # it goes on while the connection is down
    assert ex.poll(handle)[0] is False
    assert ended(ex, handle) == 0
    lines = text(spec.stdout).splitlines()
    assert lines == [f"step {i}" for i in range(steps)]
    wait_for(lambda: len(steps_of(env.store, run_id, "x")) == steps, 60,
             "every metric after the reconnect")
    assert steps_of(env.store, run_id, "x") == list(range(steps))


def test_a_new_executor_adopts_a_running_launch(env: Env, sshd: SSHD) -> None:
    add_host(env, sshd)
    folder = template(env, STEPPER)
    first = env.executor()
    gate = f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}"
    steps = 40
    spec = spec_for(env, sshd, folder, {"steps": steps, "every": 0.02, "hold_at": 10,
                                        "gate": gate})
    run_id = spec.env["TRAINDECK_RUN_ID"]
    handle = first.start(spec)
    saved = handle.to_state()  # what the launcher keeps (pid 0: not known yet then)
    running(first, handle)
    wait_for(lambda: "step 10" in text(spec.stdout), 60, "the first steps")
    port = first.state(handle).remote_port  # type: ignore[union-attr]
    first.close()  # the server stops; the process runs on
    Path(gate).touch()

    second = env.executor()
    adopted = second.adopt(saved)
    assert adopted is not None and adopted.pid == first.state(handle).pid  # type: ignore[union-attr]
    assert ended(second, adopted) == 0
    assert text(spec.stdout).splitlines() == [f"step {i}" for i in range(steps)]
    assert second.state(adopted).remote_port == port  # type: ignore[union-attr]
    wait_for(lambda: len(steps_of(env.store, run_id, "x")) == steps, 60,
             "the metrics sent after the reattach")
    assert steps_of(env.store, run_id, "x") == list(range(steps))


def test_without_tmux_it_runs_under_nohup(env: Env, tmp_path: Path) -> None:
    with running_sshd(tmux=False) as bare:
        add_host(env, bare)
        folder = template(env, """
            import time
            print("ready", flush=True)
            time.sleep(120)
            """)
        ex = env.executor()
        spec = spec_for(env, bare, folder, {})
        handle = ex.start(spec)
        assert running(ex, handle) == "running (nohup)"
        wait_for(lambda: "ready" in text(spec.stdout), 30, "the script")
        bare.drop_connections()
        state = ex.state(handle)
        assert state is not None and state.pgid and not group_gone(state.pgid)
        ex.signal(handle, signal.SIGTERM)
        assert ended(ex, handle) == 128 + signal.SIGTERM
        wait_group_gone(state.pgid)


def test_it_waits_for_an_sshd_that_starts_late(env: Env) -> None:
    with running_sshd(start=False) as late:
        add_host(env, late)
        folder = template(env, TICKER)
        ex = env.executor()
        spec = spec_for(env, late, folder, {"lines": 1, "code": 0})
        handle = ex.start(spec)
        wait_for(lambda: (ex.detail(handle) or "").startswith(
            f"waiting for SSH on {late.host}:{late.port} ("), 60, "the wait to show")
        assert ex.poll(handle) == (False, None)
        # a launch cancelled while it waits stops there: nothing runs later
        cancelled = spec_for(env, late, folder, {"lines": 1, "code": 0})
        stopped = ex.start(cancelled)
        ex.signal(stopped, signal.SIGTERM)
        assert ended(ex, stopped) == -signal.SIGTERM
        assert "cancelled before it started" in (ex.error(stopped) or "")
        late.start()
        assert ended(ex, handle) == 0, ex.error(handle)
        assert text(spec.stdout) == "line 0\n"
        assert text(cancelled.stdout) == ""


def test_an_unknown_host_key_and_a_wrong_key_fail_with_clear_errors(
        env: Env, sshd: SSHD, tmp_path: Path) -> None:
    add_host(env, sshd, trusted=False)
    folder = template(env, TICKER)
    ex = env.executor()
    spec = spec_for(env, sshd, folder, {"lines": 1, "code": 0})
    handle = ex.start(spec)
    assert ended(ex, handle) is None
    error = ex.error(handle) or ""
    assert sshd.host_fingerprint in error and f"traindeck hosts trust {HOST}" in error
    assert f"traindeck: {error}" in text(spec.stderr)
    assert (ex.detail(handle) or "").startswith("failed: ")

    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True)
    add_host(env, sshd, name="wrongkey", key=wrong)
    spec = spec_for(env, sshd, folder, {"lines": 1, "code": 0}, host="wrongkey")
    handle = ex.start(spec)
    assert ended(ex, handle) is None
    assert "authentication failed" in (ex.error(handle) or "")
    assert f"(key {wrong})" in (ex.error(handle) or "")

    with pytest.raises(ExecutorError, match="no host 'nowhere'"):
        ex.start(dataclasses.replace(spec, host="nowhere"))


def test_the_same_code_and_data_upload_once_and_results_come_home(env: Env,
                                                                  sshd: SSHD) -> None:
    add_host(env, sshd)
    data = env.tmp / "mnist"
    data.mkdir()
    (data / "labels.txt").write_text("3 1 4 1 5\n")
    pretrained = os.urandom(1000)
    folder = template(env, """
        import os
        print(open("../data/mnist/labels.txt").read().strip(), flush=True)
        os.makedirs("out", exist_ok=True)
        with open("model.pt", "wb") as f:
            f.write(bytes(range(256)) * 4000)
        with open("out/extra.bin", "wb") as f:
            f.write(b"extra")
        with open("out/ignored.txt", "w") as f:
            f.write("not a result")
        """, files={"pretrained.pt": pretrained})
    remote = {"datasets": {"mnist": str(data)}, "results": ["out/*.bin"]}
    ex = env.executor()
    spec = spec_for(env, sshd, folder, {}, remote=remote)
    handle = ex.start(spec)
    assert ended(ex, handle) == 0
    assert text(spec.stdout) == "3 1 4 1 5\n"
    first = ex.state(handle)
    assert first is not None and first.reused_archive is False
    artifacts = env.files.artifacts(spec.env["TRAINDECK_RUN_ID"])
    assert (artifacts / "code" / "model.pt").read_bytes() == bytes(range(256)) * 4000
    assert (artifacts / "code" / "out" / "extra.bin").read_bytes() == b"extra"
    assert not (artifacts / "code" / "pretrained.pt").exists()  # the upload's own, untouched
    assert not (artifacts / "code" / "out" / "ignored.txt").exists()
    assert sorted(r["path"] for r in first.results) == ["code/model.pt", "code/out/extra.bin"]
    digest = hashlib.sha256(bytes(range(256)) * 4000).hexdigest()
    assert {r["path"]: r["sha256"] for r in first.results}["code/model.pt"] == digest
    # asked again: the same files are there already, nothing is downloaded
    again = ex.fetch_results(handle)
    assert [r.downloaded for r in again] == [False, False]

    spec2 = spec_for(env, sshd, folder, {}, remote=remote)
    handle2 = ex.start(spec2)
    saw: list[str] = []

    def done() -> bool:
        saw.append(ex.detail(handle2) or "")
        return ex.poll(handle2)[0]

    wait_for(done, 90, "the second launch", 0.01)
    assert ex.poll(handle2) == (True, 0)
    second = ex.state(handle2)
    assert second is not None and second.reused_archive is True
    assert second.fingerprint == first.fingerprint
    assert any("already on the host" in s for s in saw)
    assert not any(s.startswith("uploading ") for s in saw)
