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

from support import open_dir_store

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
    with open_dir_store(tdir) as store:
        assert len(store.read_points(run_id, "x")) == 1000
        assert store.get_run(run_id).status == "completed"


ORDER_CHILD = """
import traindeck as td
run = td.init(project="p", name="order", system_interval=None)
for i in range(300_000):
    run.log({"loss": 1.0 / (1 + i), "acc": i / 300_000}, step=i)
run.finish()          # the status comes after every point logged before it
print(run.id, flush=True)
"""


def test_the_final_status_is_recorded_after_the_last_points(tmp_path: Path) -> None:
    # The writer drains the queue while the loop still logs: finish() must not overtake the
    # points still queued (a dashboard would show `completed` with the last points missing,
    # and the run's tail would be written after the store packed it).
    tdir = tmp_path / "td"
    env = {**os.environ, "TRAINDECK_DIR": str(tdir)}
    proc = subprocess.run([sys.executable, "-c", ORDER_CHILD], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    with open_dir_store(tdir) as store:
        # the store stamps each change with its commit's number: the run's (its status
        # change: no summary was logged) must come after every series' last write
        run = store.get_run(run_id)
        assert run.status == "completed"
        assert run.seq > max(s.seq for s in store.metric_keys(run_id))
        assert all(len(store.read_points(run_id, k)) == 300_000 for k in ("loss", "acc"))
