"""The local executor's view of a process it did not start itself (one a server earlier in
this process started, then adopted by a new executor): ended means reaped, so that no
zombie keeps the launch's process group alive after it is reported over."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
from support import group_gone, wait_for

from traindeck.launch.executor import ProcessSpec
from traindeck.launch.local import LocalExecutor


def spec(tmp_path: Path, code: str) -> ProcessSpec:
    return ProcessSpec(argv=[sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ),
                       stdout=tmp_path / "out", stderr=tmp_path / "err",
                       exit_file=tmp_path / "exit")


def test_an_adopted_child_seen_ended_is_reaped_and_its_group_is_gone(tmp_path: Path) -> None:
    first = LocalExecutor()
    handle = first.start(spec(tmp_path, "raise SystemExit(3)"))
    first.close()  # the server that started it stops; the process is still our child
    # Let it end and stay unreaped: the state in which a poll used to call it over and
    # leave the zombie behind.
    wait_for(lambda: psutil.Process(handle.pid).status() == psutil.STATUS_ZOMBIE, 30,
             "the wrapper to end")
    assert not group_gone(handle.pid)  # a zombie still holds its group
    second = LocalExecutor()
    adopted = second.adopt(handle.to_state())
    assert adopted is not None
    assert second.poll(adopted) == (True, 3)
    assert group_gone(handle.pid)
    assert not second.group_alive(adopted)


def test_a_running_adopted_child_is_not_over(tmp_path: Path) -> None:
    first = LocalExecutor()
    handle = first.start(spec(tmp_path, "import time; time.sleep(60)"))
    first.close()
    second = LocalExecutor()
    adopted = second.adopt(handle.to_state())
    assert adopted is not None
    try:
        assert second.poll(adopted) == (False, None)
        assert second.group_alive(adopted)
    finally:
        second.kill(adopted)
    wait_for(lambda: second.poll(adopted)[0], 30, "the killed process to be over")
    assert group_gone(handle.pid)
