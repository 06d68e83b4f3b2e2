"""The SSH executor (traindeck.remote.ssh_executor) when its server goes away before the
process runs, and when the host loses the process: against a real sshd on 127.0.0.1
(tests/sshd_service.py), the executor driven directly as the launcher drives it, a second
executor standing for the restarted server (``adopt`` from the launch's state file).

- The server stops while a launch is uploading, or preparing: the next server fails it with
  a message that says so and what to do (launch it again), never as a cancel; the launch
  again uploads what did not arrive, and reuses an upload that finished.
- The host "reboots" (its sshd stops, the launch's processes are SIGKILLed, so no exit file
  is written, sshd starts again): the launch ends failed with a message saying the process is
  gone, instead of waiting forever; the same when it happens while no server runs.

Nothing is mocked: the store, sshd, the host's user, tmux and the processes are real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import textwrap
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sshd_service import SSHD, running_sshd
from support import free_port, wait_for

from traindeck.launch.executor import Handle, ProcessSpec
from traindeck.launch.prepare import process_spec
from traindeck.remote.ssh_executor import SSHExecutor
from traindeck.runfiles import RunFiles
from traindeck.store import Store

HOST = "gpubox"


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


@dataclass
class Env:
    store: Store
    files: RunFiles
    tmp: Path
    known_hosts: Path
    executors: list[SSHExecutor]

    def executor(self) -> SSHExecutor:
        # No server behind the metrics tunnel: these scripts only print.
        ex = SSHExecutor(hosts=self.store.get_host, known_hosts=self.known_hosts,
                         server=("127.0.0.1", free_port()), files=self.files,
                         probe_interval=0.2, ssh_wait_s=60, mirror_interval=0.1,
                         status_interval=1.0, link_options={"backoff_cap": 1.0})
        self.executors.append(ex)
        return ex


@pytest.fixture
def env(store: Store, tmp_path: Path, sshd: SSHD) -> Iterator[Env]:
    e = Env(store, RunFiles(tmp_path / "files"), tmp_path, tmp_path / "known_hosts", [])
    e.known_hosts.write_text(sshd.known_hosts_line + "\n")
    store.add_host(HOST, user=sshd.user, address=sshd.host, port=sshd.port,
                   key_path=str(sshd.client_key),
                   workdir=f"{sshd.workdir}/{uuid.uuid4().hex[:8]}")
    yield e
    for ex in e.executors:
        ex.close()


def template(env: Env, script: str) -> Path:
    folder = env.tmp / f"tpl-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent(script))
    return folder


def spec_for(env: Env, sshd: SSHD, folder: Path, remote: dict[str, Any]) -> ProcessSpec:
    launch = {"command": ["python", "train.py"], "cwd": str(folder)}
    run = env.store.create_run(project="ssh", status="queued", config={}, launch_spec=launch)
    spec = process_spec(env.files, run.id, launch, {}, url="http://127.0.0.1:9", token=None)
    venv = str(Path(sshd.python).parent.parent)
    return dataclasses.replace(spec, host=HOST, remote={"venv": venv, **remote})


def ended(ex: SSHExecutor, handle: Handle, timeout: float = 120) -> int | None:
    wait_for(lambda: ex.poll(handle)[0], timeout, "the launch to end", 0.05)
    return ex.poll(handle)[1]


def detail(ex: SSHExecutor, handle: Handle) -> str:
    return ex.detail(handle) or ""


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def closed(ex: SSHExecutor, handle: Handle) -> None:
    """Close ``ex`` (the server stops) and wait for the launch's own thread to be done with
    it (in a real restart that thread dies with its process)."""
    ex.close()
    name = f"ssh-launch-{handle.extra['key']}"
    for thread in [t for t in threading.enumerate() if t.name == name]:
        thread.join(60)
        assert not thread.is_alive()


def adopted_failure(env: Env, handle: Handle, stage: str) -> str:
    """A new executor adopts the launch left at ``stage``: it is failed (no exit code),
    with a message saying the server stopped; returns that message."""
    state = dataclasses.replace(handle).to_state()
    second = env.executor()
    adopted = second.adopt(state)
    assert adopted is not None
    assert ended(second, adopted) is None
    error = second.error(adopted) or ""
    assert f"the server stopped while this launch was {stage}" in error, error
    assert "launch it again" in error
    assert detail(second, adopted) == f"failed: {error}"
    return error


READER = """
    import hashlib, pathlib
    digest = hashlib.sha256()
    for path in sorted(pathlib.Path("../data/big").iterdir()):
        digest.update(path.read_bytes())
    print("data", digest.hexdigest(), flush=True)
    """


def test_a_launch_adopted_mid_upload_fails_clearly_and_launches_again(
        env: Env, sshd: SSHD) -> None:
    data = env.tmp / "big"
    data.mkdir()
    digest = hashlib.sha256()
    for i in range(6):  # 120 MB that does not compress: the upload takes a while
        chunk = os.urandom(20 << 20)
        (data / f"part{i}.bin").write_bytes(chunk)
        digest.update(chunk)
    folder = template(env, READER)
    remote = {"datasets": {"big": str(data)}}
    first = env.executor()
    spec = spec_for(env, sshd, folder, remote)
    handle = first.start(spec)
    wait_for(lambda: detail(first, handle).startswith("uploading "), 120, "the upload", 0.005)
    closed(first, handle)  # the server stops mid-upload
    state = first.state(handle)
    assert state is not None and state.stage == "uploading", state
    error = adopted_failure(env, handle, "uploading")
    assert f"traindeck: {error}" in text(spec.stderr)
    assert "cancelled" not in text(spec.stderr)  # a server that stops cancels nothing
    assert text(spec.stdout) == ""

    again = env.executor()
    spec2 = spec_for(env, sshd, folder, remote)
    handle2 = again.start(spec2)
    assert ended(again, handle2) == 0, again.error(handle2)
    assert text(spec2.stdout) == f"data {digest.hexdigest()}\n"
    second = again.state(handle2)
    assert second is not None and second.reused_archive is False  # it never arrived


GATED_SETUP = "echo started > {started}; n=0; while [ ! -e {gate} ] && [ $n -lt 600 ]; " \
              "do sleep 0.1; n=$((n+1)); done; echo set up"


def test_a_launch_adopted_while_preparing_fails_clearly_and_reuses_the_upload(
        env: Env, sshd: SSHD) -> None:
    folder = template(env, 'print("trained", flush=True)\n')
    started = Path(f"{sshd.workdir}/started-{uuid.uuid4().hex[:6]}")
    gate = Path(f"{sshd.workdir}/gate-{uuid.uuid4().hex[:6]}")
    remote = {"setup": GATED_SETUP.format(started=started, gate=gate)}
    first = env.executor()
    spec = spec_for(env, sshd, folder, remote)
    handle = first.start(spec)
    wait_for(started.exists, 120, "the setup command to start")
    assert detail(first, handle).startswith("preparing")
    closed(first, handle)  # the server stops while the host runs the setup command
    state = first.state(handle)
    assert state is not None and state.stage == "preparing", state
    assert state.reused_archive is False
    adopted_failure(env, handle, "preparing")
    assert "cancelled" not in text(spec.stderr)

    gate.touch()
    again = env.executor()
    spec2 = spec_for(env, sshd, folder, remote)
    handle2 = again.start(spec2)
    assert ended(again, handle2) == 0, again.error(handle2)
    second = again.state(handle2)
    assert second is not None and second.reused_archive is True  # the upload had finished
    assert second.fingerprint == state.fingerprint
    assert text(spec2.stdout).splitlines()[-2:] == ["set up", "trained"]


TICKER = """
    import itertools, time
    for i in itertools.count():
        print(f"tick {i}", flush=True)
        time.sleep(0.05)
    """


def reboot(sshd: SSHD, pgid: int) -> None:
    """What a host reboot does to a launch: SSH goes away, its processes die at once (no
    exit file: the wrapper gets no chance), SSH comes back."""
    sshd.stop()
    os.killpg(pgid, signal.SIGKILL)
    wait_for(lambda: not group_alive(pgid), 30, "the processes to die")
    sshd.start()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_processes_killed_on_the_host_end_the_launch_failed(env: Env, sshd: SSHD) -> None:
    folder = template(env, TICKER)
    ex = env.executor()
    spec = spec_for(env, sshd, folder, {})
    handle = ex.start(spec)
    wait_for(lambda: "tick 5" in text(spec.stdout), 120, "the script to run")
    state = ex.state(handle)
    assert state is not None and state.pgid and state.runner == "tmux"
    reboot(sshd, state.pgid)
    assert ended(ex, handle) is None
    error = ex.error(handle) or ""
    assert f"the process on {HOST} is gone and left no exit status" in error, error
    assert f"traindeck: {error}" in text(spec.stderr)
    assert text(spec.stdout).startswith("tick 0\ntick 1\n")
    assert not (Path(state.folder or "") / ".td" / "exit").exists()

    # the same while no server runs: the next one finds the process gone
    spec2 = spec_for(env, sshd, folder, {})
    handle2 = ex.start(spec2)
    saved = handle2.to_state()
    wait_for(lambda: "tick 5" in text(spec2.stdout), 120, "the script to run")
    state2 = ex.state(handle2)
    assert state2 is not None and state2.pgid
    ex.close()
    reboot(sshd, state2.pgid)
    second = env.executor()
    adopted = second.adopt(saved)
    assert adopted is not None
    assert ended(second, adopted) is None
    assert "is gone and left no exit status" in (second.error(adopted) or "")

