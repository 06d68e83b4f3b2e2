"""The Slurm executor against a real one-node Slurm (slurmctld + slurmd on 127.0.0.1,
``slurm_service``), driven directly: jobs run and their output, status, pending reason,
cancel, pause, ranks and re-adoption are what a user would see; the launch's token never
reaches Slurm."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from slurm_service import SlurmService
from support import wait_for

from traindeck.launch.executor import ExecutorError, Handle, ProcessSpec, detail_of
from traindeck.launch.runner import LocalRunner
from traindeck.launch.slurm import SlurmExecutor
from traindeck.launch.slurm_script import ResourcesError

pytestmark = pytest.mark.slow

TOKEN = "td_w_0123456789abcdefSECRET"
TOKEN_SHA = hashlib.sha256(TOKEN.encode()).hexdigest()[:16]

#: The launched program: says who it is, then exits with a code or waits for a "go" file;
#: on SIGTERM it leaves a marker and dies of the signal.
JOB = r"""
import hashlib, os, signal, sys, time
folder, mode = sys.argv[1], sys.argv[2]
rank = os.environ.get("SLURM_PROCID", "?")

def on_term(signum, frame):
    open(os.path.join(folder, "term." + rank), "w").write("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)

signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else on_term)
token = os.environ.get("TRAINDECK_TOKEN", "")
print("rank %s of %s token-sha %s" % (rank, os.environ.get("SLURM_NTASKS", "1"),
      hashlib.sha256(token.encode()).hexdigest()[:16]), flush=True)
print("to stderr from rank " + rank, file=sys.stderr, flush=True)
if mode == "exit":
    sys.exit(int(sys.argv[3]))
open(os.path.join(folder, "started." + rank), "w").write(str(os.getpid()))
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.05)
print("rank %s done" % rank, flush=True)
"""


@pytest.fixture
def executor(slurm: SlurmService) -> Iterator[SlurmExecutor]:
    ex = SlurmExecutor(slurm.runner(), refresh_s=0.3)
    yield ex
    ex.close()
    slurm.cancel_all()  # nothing of this test left for the next


def make_spec(folder: Path, *args: str, resources: dict[str, Any] | None = None,
              run_id: str = "run1") -> ProcessSpec:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "job.py"
    program.write_text(JOB)
    env = {**os.environ, "TRAINDECK_RUN_ID": run_id, "TRAINDECK_TOKEN": TOKEN,
           "PYTHONUNBUFFERED": "1"}
    return ProcessSpec(argv=[sys.executable, str(program), str(folder), *args], cwd=folder,
                       env=env, stdout=folder / "console" / "stdout.log",
                       stderr=folder / "console" / "stderr.log",
                       exit_file=folder / "launch" / "exit_code", resources=resources or {})


def ended(ex: SlurmExecutor, handle: Handle) -> tuple[bool, int | None]:
    return wait_for(lambda: (ex.poll(handle)[0] and ex.poll(handle)) or None, 60,
                    f"job {handle.pid} to end")  # type: ignore[no-any-return]


def started_pid(folder: Path, rank: int = 0) -> int:
    marker = folder / f"started.{rank}"
    wait_for(lambda: marker.exists() and marker.read_text(), 60, f"rank {rank} to start")
    return int(marker.read_text())


def show_job(slurm: SlurmService, handle: Handle) -> str:
    return slurm.command("scontrol", "show", "job", str(handle.pid)).stdout


def test_a_job_runs_with_its_resources_and_its_output_and_status_come_home(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "wait", resources={"partition": slurm.partition, "time": "5",
                                                  "mem": "100M", "cpus": 1})
    handle = executor.start(spec)
    assert handle.extra["job_id"] == str(handle.pid)
    started_pid(tmp_path)
    wait_for(lambda: (executor.detail(handle) or "").startswith("running"), 30, "running")
    assert detail_of(executor, handle) == "running on localhost"
    assert executor.poll(handle) == (False, None) and executor.group_alive(handle)
    job = show_job(slurm, handle)
    for shown in ("JobName=td-run1", "TimeLimit=00:05:00", "MinMemoryNode=100M",
                  f"Partition={slurm.partition}", f"StdOut={spec.stdout}",
                  f"WorkDir={tmp_path}"):
        assert shown in job
    (tmp_path / "go").touch()
    assert ended(executor, handle) == (True, 0)
    assert not executor.group_alive(handle)
    out = spec.stdout.read_text()
    assert f"rank 0 of 1 token-sha {TOKEN_SHA}" in out and "rank 0 done" in out
    assert spec.stderr.read_text() == "to stderr from rank 0\n"
    assert spec.exit_file.read_text() == "0"
    assert stat.S_IMODE(spec.stdout.stat().st_mode) == 0o600


def test_a_failing_job_reports_its_exit_code(executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path, "exit", "3"))
    assert ended(executor, handle) == (True, 3)
    assert "rank 0 of 1" in (tmp_path / "console" / "stdout.log").read_text()


def test_cancel_reaches_the_script_with_sigterm_and_nothing_is_left(
        executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path, "wait"))
    pid = started_pid(tmp_path)
    executor.signal(handle, signal.SIGCONT)  # what the launcher's cancel sends first
    executor.signal(handle, signal.SIGTERM)
    assert ended(executor, handle) == (True, -signal.SIGTERM)
    assert (tmp_path / "term.0").read_text() == "SIGTERM"  # its handler ran
    assert not psutil.pid_exists(pid)
    assert not executor.group_alive(handle)
    executor.signal(handle, signal.SIGTERM)  # an ended job: a no-op, no error
    executor.release(handle)
    executor.signal(handle, signal.SIGKILL)  # what the launcher sends after a cancel's end
    executor.kill(handle)


def test_a_job_cancelled_as_soon_as_it_is_submitted_ends(
        executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path, "wait"))
    executor.signal(handle, signal.SIGTERM)  # queued, or running before its step exists
    assert ended(executor, handle)[0]
    marker = tmp_path / "started.0"
    if marker.exists():  # the command had started: it is gone too
        wait_for(lambda: not psutil.pid_exists(int(marker.read_text())), 30, "the rank gone")


def test_pause_stops_the_process_and_resume_continues_it(
        executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path, "wait"))
    proc = psutil.Process(started_pid(tmp_path))
    executor.signal(handle, signal.SIGSTOP)
    wait_for(lambda: proc.status() == psutil.STATUS_STOPPED, 30, "the process stopped")
    wait_for(lambda: executor.detail(handle) == "paused (stopped)", 30, "paused")
    executor.signal(handle, signal.SIGCONT)
    wait_for(lambda: proc.status() != psutil.STATUS_STOPPED, 30, "the process continued")
    wait_for(lambda: executor.detail(handle) == "running on localhost", 30, "running")
    (tmp_path / "go").touch()
    assert ended(executor, handle) == (True, 0)


def test_a_queued_job_shows_why_can_be_held_released_and_cancelled(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path) -> None:
    filler = executor.start(make_spec(tmp_path / "filler", "wait", run_id="filler",
                                      resources={"cpus": slurm.cpus}))
    filler_pid = started_pid(tmp_path / "filler")
    queued_spec = make_spec(tmp_path / "queued", "exit", "0", run_id="queued",
                            resources={"cpus": 1})
    queued = executor.start(queued_spec)
    wait_for(lambda: (executor.detail(queued) or "").startswith("pending: Resources"), 60,
             "the reason")
    assert executor.detail(queued) == "pending: Resources (waiting for free resources)"
    assert executor.poll(queued) == (False, None)
    executor.signal(queued, signal.SIGSTOP)  # a queued job is held...
    wait_for(lambda: executor.detail(queued) == "pending: JobHeldUser (held)", 30, "held")
    executor.signal(queued, signal.SIGCONT)  # ...and released
    wait_for(lambda: "JobHeldUser" not in (executor.detail(queued) or ""), 30, "released")
    assert (executor.detail(queued) or "").startswith("pending:")
    executor.signal(queued, signal.SIGTERM)  # cancelling a queued job takes it off the queue
    assert ended(executor, queued) == (True, None)  # it never ran: no status
    assert queued_spec.stdout.read_text() == ""
    assert "JobState=CANCELLED" in show_job(slurm, queued)
    executor.kill(filler)  # SIGKILL, now
    assert ended(executor, filler) == (True, -signal.SIGKILL)
    assert not psutil.pid_exists(filler_pid)


def test_two_tasks_run_two_ranks_each_with_the_environment(
        executor: SlurmExecutor, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "exit", "0", resources={"tasks": 2})
    handle = executor.start(spec)
    assert ended(executor, handle) == (True, 0)
    lines = spec.stdout.read_text().splitlines()
    assert sorted(lines) == [f"rank 0 of 2 token-sha {TOKEN_SHA}",
                             f"rank 1 of 2 token-sha {TOKEN_SHA}"]
    assert sorted(spec.stderr.read_text().splitlines()) == [
        "to stderr from rank 0", "to stderr from rank 1"]


def test_cancel_of_two_ranks_reaches_every_rank(executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path, "wait", resources={"tasks": 2}))
    pids = [started_pid(tmp_path, 0), started_pid(tmp_path, 1)]
    executor.signal(handle, signal.SIGTERM)
    done, code = ended(executor, handle)
    assert done and code is not None and code != 0
    assert (tmp_path / "term.0").exists() and (tmp_path / "term.1").exists()
    assert not any(psutil.pid_exists(p) for p in pids)


@pytest.mark.parametrize("tasks", [1, 2])
def test_kill_ends_a_job_that_ignores_sigterm_at_once(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path, tasks: int) -> None:
    handle = executor.start(make_spec(tmp_path, "stubborn", resources={"tasks": tasks}))
    pids = [started_pid(tmp_path, rank) for rank in range(tasks)]
    executor.signal(handle, signal.SIGTERM)
    assert all(psutil.pid_exists(p) for p in pids)  # ignored, as it asked
    executor.kill(handle)
    assert ended(executor, handle) == (True, -signal.SIGKILL)
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), 60, "the ranks gone")
    listed = slurm.command("scontrol", "listpids", str(handle.pid))
    assert not any(str(p) in listed.stdout for p in pids)


def test_another_executor_adopts_a_running_job(slurm: SlurmService, tmp_path: Path) -> None:
    first = SlurmExecutor(slurm.runner(), refresh_s=0.3)
    try:
        handle = first.start(make_spec(tmp_path, "wait"))
        started_pid(tmp_path)
    finally:
        first.close()  # the server stops; the job runs on
    state = handle.to_state()
    second = SlurmExecutor(slurm.runner(), refresh_s=0.3)
    try:
        adopted = second.adopt(state)
        assert adopted is not None and adopted.pid == handle.pid
        wait_for(lambda: second.detail(adopted) == "running on localhost", 30, "running")
        assert second.poll(adopted) == (False, None)
        # The same id now naming another job's output (Slurm restarted, ids reused): not ours.
        assert second.adopt({**state, "stdout": str(tmp_path / "other.log"),
                             "exit_file": str(tmp_path / "no-exit")}) is None
        (tmp_path / "go").touch()
        assert ended(second, adopted) == (True, 0)
    finally:
        second.close()
        slurm.cancel_all()


def test_when_slurm_does_not_answer_nothing_ends(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path) -> None:
    handle = executor.start(make_spec(tmp_path / "job", "wait"))
    started_pid(tmp_path / "job")
    # The same cluster seen through a config whose controller port answers nothing.
    dead = tmp_path / "dead.conf"
    dead.write_text("".join(
        "SlurmctldPort=9\n" if line.startswith("SlurmctldPort=") else line + "\n"
        for line in slurm.conf.read_text().splitlines()) + "MessageTimeout=1\n")
    away = SlurmExecutor(LocalRunner({**slurm.env, "SLURM_CONF": str(dead)}), refresh_s=0.3)
    try:
        adopted = away.adopt(handle.to_state())
        assert adopted is not None  # Slurm is away, not the job
        wait_for(lambda: (away.detail(adopted) or "").startswith("Slurm is not answering:"),
                 30, "the trouble shown")
        assert "Unable to contact slurm controller" in (away.detail(adopted) or "")
        assert away.poll(adopted) == (False, None)
        with pytest.raises(ExecutorError, match="Unable to contact slurm controller"):
            away.start(make_spec(tmp_path / "other", "exit", "0"))
    finally:
        away.close()
    (tmp_path / "job" / "go").touch()
    assert ended(executor, handle) == (True, 0)


def test_a_job_slurm_forgot_is_adopted_only_when_it_recorded_its_end(
        slurm: SlurmService, tmp_path: Path) -> None:
    ex = SlurmExecutor(slurm.runner(), refresh_s=0.3)
    try:
        gone = {"pid": 987654, "start_time": 0.0, "stdout": str(tmp_path / "o"),
                "stderr": str(tmp_path / "e"), "exit_file": str(tmp_path / "exit"),
                "extra": {"job_id": "987654"}}
        assert ex.adopt(gone) is None
        (tmp_path / "exit").write_text("5")
        handle = ex.adopt(gone)
        assert handle is not None and ex.poll(handle) == (True, 5)
        assert ex.adopt({"nonsense": 1}) is None
    finally:
        ex.close()


def test_the_token_reaches_the_job_but_not_slurm(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "exit", "0")
    handle = executor.start(spec)
    assert ended(executor, handle) == (True, 0)
    assert f"token-sha {TOKEN_SHA}" in spec.stdout.read_text()  # the job had it
    script = Path(str(handle.extra["script"]))
    assert TOKEN not in script.read_text()
    assert stat.S_IMODE(script.stat().st_mode) == 0o600
    assert not (spec.exit_file.parent / "slurm.env").exists()  # sourced, then deleted
    job_id = str(handle.pid)
    for argv in (["scontrol", "show", "job", job_id], ["scontrol", "-d", "show", "job", job_id],
                 ["scontrol", "write", "batch_script", job_id, "-"],
                 ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%all"]):
        shown = slurm.command(*argv)
        assert shown.returncode == 0, shown.stderr
        assert TOKEN not in shown.stdout + shown.stderr
        assert "TRAINDECK_TOKEN" not in shown.stdout
    assert "#SBATCH --export=NONE" in slurm.command(
        "scontrol", "write", "batch_script", job_id, "-").stdout  # Slurm kept our script


def test_bad_requests_are_refused_before_anything_is_submitted(
        slurm: SlurmService, executor: SlurmExecutor, tmp_path: Path) -> None:
    executor.check_request({"partition": slurm.partition, "tasks": 2, "time": "1:00:00"}, None)
    with pytest.raises(ResourcesError, match=r"resources\.tasks"):
        executor.check_request({"tasks": "two"}, None)
    with pytest.raises(ExecutorError, match="login node"):
        executor.check_request({}, "gpu-login")
    with pytest.raises(ResourcesError, match="'gpu'"):
        executor.start(make_spec(tmp_path, "exit", "0", resources={"gpu": 1}))
    with pytest.raises(ResourcesError, match=r"resources\.time"):
        executor.start(make_spec(tmp_path, "exit", "0", resources={"time": "1:61:00"}))
    spec = make_spec(tmp_path, "exit", "0")
    with pytest.raises(ExecutorError, match="does not exist"):
        executor.start(ProcessSpec(argv=spec.argv, cwd=tmp_path / "absent", env=spec.env,
                                   stdout=spec.stdout, stderr=spec.stderr,
                                   exit_file=spec.exit_file))
    with pytest.raises(ExecutorError, match=r"sbatch refused the job: .*partition"):
        executor.start(make_spec(tmp_path, "exit", "0", resources={"partition": "nosuch"}))
    assert slurm.command("squeue", "-h").stdout.strip() == ""
    assert not (spec.exit_file.parent / "slurm.env").exists()
