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
import time
from pathlib import Path

from remote_load import finish_and_check, start_trainer
from support import free_port, start_server

KILLS = 6
LONG_DOWN = 60.0  # seconds the server stays down once


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
    child, run_ids, err_path, release = start_trainer(tmp_path, url, "chaos", 0.2)
    try:
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
        finish_and_check(tmp_path, child, err_path, release, srv_dir, run_ids)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
        if server.poll() is None:
            server.terminate()
            server.wait(10)
