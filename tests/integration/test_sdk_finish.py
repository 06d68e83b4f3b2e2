"""finish() under pressure, in a real child process: a store locked by another process and
a Ctrl-C while the last points are written lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from traindeck.store import open_store

CHILD = """
import sys, traindeck as td
run = td.init(project="p", name="finish", system_interval=None)
for i in range(1000):
    run.log({"x": float(i)}, step=i)
print(run.id, flush=True)
sys.stdin.readline()          # the parent now holds the write lock
print("FINISHING", flush=True)
run.finish()
print("DONE", flush=True)
"""


def test_ctrl_c_during_finish_with_a_locked_store_loses_nothing(tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    env = {**os.environ, "TRAINDECK_DIR": str(tdir)}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    run_id = child.stdout.readline().strip()
    lock = sqlite3.connect(tdir / "traindeck.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN IMMEDIATE")  # every write of the child now waits
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "FINISHING"
    time.sleep(0.3)  # let finish() start waiting on the lock (not a timing assertion)
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    lock.execute("COMMIT")
    lock.close()
    out, err = child.communicate(timeout=60)
    assert "DONE" in out, err
    with open_store(tdir) as store:
        assert len(store.read_points(run_id, "x")) == 1000
        assert store.get_run(run_id).status == "completed"
