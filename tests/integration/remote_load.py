"""What the chaos and network-cut tests share: a remote training script that logs 200,004
points over 3 runs and then waits to be released, and the check that every one of those
points is in the server's store exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from support import open_dir_store, series_checksum, wait_for

RUNS = 3
KEYS = ("loss", "acc")
STEPS = 33_334  # 3 runs x 2 keys x 33,334 steps = 200,004 points

_CHILD = r'''
import math, os, sys, time
import traindeck as td

steps, release, project, pause = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
runs = [td.init(project=project, name=f"{project}-{i}", heartbeat_interval=0.5,
                heartbeat_timeout=120.0, system_interval=None) for i in range(3)]
print("READY", " ".join(r.id for r in runs), flush=True)
for step in range(steps):
    for i, run in enumerate(runs):
        run.log({"loss": math.sin(step * 0.001 + i) if step % 997 else math.nan,
                 "acc": (step * 7 + i) / 3.0}, step=step)
    if step % 100 == 99:
        time.sleep(pause)  # "training"
deadline = time.monotonic() + 300
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)  # the test is still breaking things
for run in runs:
    run.finish()
print("DONE", flush=True)
'''


def start_trainer(tmp_path: Path, url: str, project: str,
                  pause: float) -> tuple[subprocess.Popen[str], list[str], Path, Path]:
    """The script, logging to ``url`` (pausing ``pause`` s every 100 steps): returns the
    process, its 3 run ids, its stderr file and the file that releases it to finish."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    err_path = tmp_path / "child.err"
    release = tmp_path / "release"
    with err_path.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, str(script), str(STEPS), str(release), project, str(pause)],
            stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "TRAINDECK_URL": url, "TRAINDECK_DIR": str(tmp_path / "client")})
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("READY"), f"{line!r}: {err_path.read_text()}"
    return child, line.split()[1:], err_path, release


def expected(i: int) -> dict[str, np.ndarray[Any, Any]]:
    steps = np.arange(STEPS)
    loss = np.sin(steps * 0.001 + i)
    loss[steps % 997 == 0] = np.nan
    return {"loss": loss, "acc": (steps * 7 + i) / 3.0}


def finish_and_check(tmp_path: Path, child: subprocess.Popen[str], err_path: Path,
                     release: Path, srv_dir: Path, run_ids: list[str]) -> None:
    """Release the script, then: every point exactly once (count and checksum per series),
    every run completed, nothing left in the spool."""
    release.touch()
    out, _ = child.communicate(timeout=180)
    assert child.returncode == 0, err_path.read_text()
    assert "DONE" in out
    with open_dir_store(srv_dir) as store:
        for i, run_id in enumerate(run_ids):
            wait_for(lambda run_id=run_id: store.get_run(run_id).status == "completed",
                     30, f"run {run_id} completed")
            want = expected(i)
            counts = {s.key: s.count for s in store.metric_keys(run_id)}
            assert counts == {k: STEPS for k in KEYS}, (run_id, counts)
            for key in KEYS:
                pts = store.read_points(run_id, key)
                assert np.array_equal(pts.steps, np.arange(STEPS)), (run_id, key)
                assert series_checksum(pts.values) == series_checksum(want[key]), (run_id, key)
    for run_id in run_ids:
        spool = tmp_path / "client" / "runs" / run_id / "spool"
        assert not list(spool.glob("*.seg")), f"{run_id}: batches left in the spool"
