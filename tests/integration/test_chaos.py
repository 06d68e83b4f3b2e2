"""Chaos: a real training process logs 200k points across 3 remote runs while the real
server is SIGKILLed and restarted at random moments (6 times, once staying down for 60 s
while the script goes on logging into its spool). Afterwards every point is in the store
exactly once: per series the steps are exactly 0..N-1 (count) and the values match what
was logged, bit for bit (checksum).

The script logs for about 70 s, then waits (before ``finish``) until the test has done all
its kills, so that every kill falls inside the run whatever the machine's speed. Bounded:
about a minute and a half. The seed is printed so a failure can be replayed
(``TRAINDECK_CHAOS_SEED``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import free_port, series_checksum, start_server, wait_for

from traindeck.store import open_store

RUNS = 3
KEYS = ("loss", "acc")
STEPS = 33_334  # 3 runs x 2 keys x 33,334 steps = 200,004 points
KILLS = 6
LONG_DOWN = 60.0  # seconds the server stays down once
CHILD = r'''
import math, os, sys, time
import traindeck as td

steps, release = int(sys.argv[1]), sys.argv[2]
runs = [td.init(project="chaos", name=f"chaos-{i}", heartbeat_interval=0.5,
                heartbeat_timeout=120.0, system_interval=None) for i in range(3)]
print("READY", " ".join(r.id for r in runs), flush=True)
for step in range(steps):
    for i, run in enumerate(runs):
        run.log({"loss": math.sin(step * 0.001 + i) if step % 997 else math.nan,
                 "acc": (step * 7 + i) / 3.0}, step=step)
    if step % 100 == 99:
        time.sleep(0.2)  # about 70 s of "training"
deadline = time.monotonic() + 300
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)  # the test is still killing the server
for run in runs:
    run.finish()
print("DONE", flush=True)
'''


def expected(step_count: int, i: int) -> dict[str, np.ndarray[Any, Any]]:
    steps = np.arange(step_count)
    loss = np.sin(steps * 0.001 + i)
    loss[steps % 997 == 0] = np.nan
    return {"loss": loss, "acc": (steps * 7 + i) / 3.0}


checksum = series_checksum




def test_server_killed_at_random_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("TRAINDECK_CHAOS_SEED") or random.randrange(2**32))
    print(f"chaos seed {seed}")
    rng = random.Random(seed)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    srv_dir = tmp_path / "srv"
    log = tmp_path / "server.log"

    def start() -> subprocess.Popen[bytes]:
        return start_server(srv_dir, port, log)

    server = start()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    err_path = tmp_path / "child.err"
    release = tmp_path / "release"
    with err_path.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, str(script), str(STEPS), str(release)], stdout=subprocess.PIPE,
            stderr=err, text=True, env={**os.environ, "TRAINDECK_URL": url,
                                        "TRAINDECK_DIR": str(tmp_path / "client")})
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("READY"), line
        run_ids = line.split()[1:]
        kills = 0
        long_down = rng.randrange(2)  # early: the script logs on while the server is down
        for k in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.0))
            assert child.poll() is None, err_path.read_text()
            server.send_signal(signal.SIGKILL)
            server.wait()
            kills += 1
            time.sleep(LONG_DOWN if k == long_down else rng.uniform(0.0, 0.7))
            server = start()
        assert kills == KILLS
        release.touch()
        out, _ = child.communicate(timeout=180)
        assert child.returncode == 0, err_path.read_text()
        assert "DONE" in out
        with open_store(srv_dir) as store:
            for i, run_id in enumerate(run_ids):
                wait_for(lambda run_id=run_id: store.get_run(run_id).status == "completed",
                         30, f"run {run_id} completed")
                want = expected(STEPS, i)
                counts = {s.key: s.count for s in store.metric_keys(run_id)}
                assert counts == {k: STEPS for k in KEYS}, (run_id, counts)
                for key in KEYS:
                    pts = store.read_points(run_id, key)
                    assert np.array_equal(pts.steps, np.arange(STEPS)), (run_id, key)
                    assert checksum(pts.values) == checksum(want[key]), (run_id, key)
        for run_id in run_ids:
            spool = tmp_path / "client" / "runs" / run_id / "spool"
            assert not list(spool.glob("*.seg")), f"{run_id}: batches left in the spool"
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        if server.poll() is None:
            server.terminate()
            server.wait(10)
