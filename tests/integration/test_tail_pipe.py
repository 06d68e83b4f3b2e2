"""``traindeck tail RUN`` into a pipe (defect 12): a real child process whose stdout is a
pipe prints the run as plain lines and keeps following it until it ends."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

import support
from support import clean_env

from traindeck.store import Store


def read_lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_tail_into_a_pipe_prints_plain_lines_and_follows_the_run(
        store_dir: Path, store: Store) -> None:
    run = store.create_run(project="p", name="piped", config={})
    store.set_status(run.id, "running")
    store.heartbeat(run.id)
    store.write_metrics(run.id, {"loss": ([0, 1, 2], [1.0, 2.0, 3.0], [0.9, 0.8, 0.7])})
    env = clean_env()
    tail = subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "tail", run.id, "-d", str(store_dir),
         "--interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(tail.stdout, lines), daemon=True).start()
    seen: list[str] = []

    def saw(text: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(text in line for line in seen)

    try:
        # The first frame, as --once prints it, while the run is still running.
        support.wait_for(lambda: saw("step 2"), 60.0, "the first frame in the pipe")
        assert any("loss" in line and "0.7" in line for line in seen), seen
        assert tail.poll() is None  # following, not done
        # New steps and events are printed as they come.
        store.heartbeat(run.id)
        store.write_metrics(run.id, {"loss": ([3, 4], [4.0, 5.0], [0.6, 0.5])})
        support.wait_for(lambda: saw("step 4  loss 0.5"), 60.0, "a line for the new step")
        store.set_status(run.id, "completed")
        support.wait_for(lambda: saw(f"run {run.id} ended: completed"), 60.0, "the end")
        assert tail.wait(timeout=60) == 0
        assert any("running → completed" in line for line in seen), seen
        assert not any("\x1b[" in line for line in seen)  # plain: no terminal control codes
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
        if tail.stdout:
            tail.stdout.close()
