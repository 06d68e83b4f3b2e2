"""What the SSH executor puts on a host (traindeck.remote.job), run here with the real
/bin/sh: the environment passed (and what is not), the env file's quoting, the wrapper's
pid and exit files, and that every generated command is valid sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil
import pytest
from support import wait_for

from traindeck.remote import job


def test_only_traindeck_variables_go_and_paths_point_at_the_host() -> None:
    env = {"PATH": "/server/bin", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x",
           "TRAINDECK_RUN_ID": "r1", "TRAINDECK_TOKEN": "tdk_secret", "TRAINDECK_DIR": "/srv",
           "TRAINDECK_URL": "http://10.0.0.1:8000", "TRAINDECK_CONFIG": "/srv/config.json",
           "TRAINDECK_CONSOLE_CAPTURED": "1", "PYTHONUNBUFFERED": "1",
           "TRAINDECK_RESUME_CHECKPOINT": "/srv/ck.pt"}
    out = job.remote_env(env, url="http://127.0.0.1:4711", config="/h/.td/config.json",
                         checkpoint=None, extra={"OMP_NUM_THREADS": "4"})
    assert out == {"TRAINDECK_RUN_ID": "r1", "TRAINDECK_TOKEN": "tdk_secret",
                   "TRAINDECK_URL": "http://127.0.0.1:4711",
                   "TRAINDECK_CONFIG": "/h/.td/config.json",
                   "TRAINDECK_CONSOLE_CAPTURED": "1", "PYTHONUNBUFFERED": "1",
                   "OMP_NUM_THREADS": "4"}


def test_the_env_file_keeps_every_value_exactly(tmp_path: Path) -> None:
    values = {"A": "it's \"quoted\" $HOME `x` \\ end", "B": "two\nlines", "C": ""}
    path = tmp_path / "env"
    path.write_text(job.env_file(values))
    shown = subprocess.run(["sh", "-c", f'. {path}; printf "%s|%s|%s" "$A" "$B" "$C"'],
                           capture_output=True, text=True, check=True).stdout
    assert shown == "|".join(values.values())
    with pytest.raises(ValueError):
        job.env_file({"BAD-NAME": "x"})


def test_the_wrapper_records_pid_and_exit_and_reads_the_env_once(tmp_path: Path) -> None:
    d = job.LaunchDir(str(tmp_path), "run-1")
    Path(d.code).mkdir(parents=True)
    Path(d.td).mkdir()
    Path(d.file("env")).write_text(job.env_file({"GREETING": "hello there"}))
    Path(d.file("run.sh")).write_text(job.wrapper(d, [
        "sh", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3']))
    proc = subprocess.Popen(["/bin/sh", d.file("run.sh")], start_new_session=True)
    assert proc.wait(30) == 0
    pid, pgid = Path(d.file("pid")).read_text().split()
    assert int(pid) == int(pgid) == proc.pid  # it leads its own group
    assert Path(d.file("exit")).read_text() == "3\n"
    assert Path(d.file("stdout.log")).read_text() == f"hello there from {d.code}\n"
    assert Path(d.file("stderr.log")).read_text() == "oops\n"
    assert not os.path.exists(d.file("env"))


def test_generated_commands_are_valid_sh() -> None:
    d = job.LaunchDir("/home/u/traindeck", "r-abc")
    archive = job.Archive("/home/u/traindeck", "f" * 64)
    for command in (job.start_command(d, "/usr/bin/python3"), job.status_command(d, 42),
                    job.signal_command(42, "TERM"), job.kill_command(42, 42),
                    job.group_alive_command(42), job.prepare_folder(d, archive),
                    job.write_private(d.file("env"))):
        checked = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
        assert checked.returncode == 0, (command, checked.stderr)
    with pytest.raises(ValueError):
        job.signal_command(42, "TERM; rm -rf /")
    with pytest.raises(ValueError):
        job.LaunchDir("/w", "../x")


def test_a_python_command_runs_with_the_hosts_python() -> None:
    assert job.remote_argv(["/srv/venv/bin/python", "train.py"], "/h/venv/bin/python",
                           ["/srv/venv/bin/python"]) == ["/h/venv/bin/python", "train.py"]
    assert job.remote_argv(["python3", "-m", "x"], "/h/py", []) == ["/h/py", "-m", "x"]
    assert job.remote_argv(["bash", "run.sh"], "/h/py", []) == ["bash", "run.sh"]
    assert job.launch_key("01ABC_def", "a1b2c3") == "01abc-def-a1b2c3"


def test_a_group_of_only_zombies_is_not_alive() -> None:
    """A group whose processes have all ended but wait to be reaped (a host whose init is
    slow to reap, or a parent that never does) is over: nothing in it runs, and no signal
    reaches it. A group with a live process is alive; an unknown group is not."""
    def alive(pgid: int) -> str:
        return subprocess.run(["sh", "-c", job.group_alive_command(pgid)], capture_output=True,
                              text=True, check=True).stdout.strip()

    running = subprocess.Popen(["sleep", "60"], start_new_session=True)
    ended = subprocess.Popen(["true"], start_new_session=True)
    try:
        # ended, and not reaped: this process, its parent, has not waited for it yet
        wait_for(lambda: psutil.Process(ended.pid).status() == psutil.STATUS_ZOMBIE, 30,
                 "`true` to end")
        assert alive(running.pid) == "yes"
        assert alive(ended.pid) == "no"
        assert alive(2 ** 22 + 7) == "no"
    finally:
        running.kill()
        running.wait()
        ended.wait()
