"""Defect 9 end to end: a real training script prints secrets; the store keeps none.

The child prints a private key one line at a time (as ``print`` of a key file does) and
secrets of several shapes, on both streams; its console lines are read back from the store.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from traindeck.store import open_store

SCRIPT = r'''
import sys, traindeck
run = traindeck.init(project="p", dir=sys.argv[1], system_interval=None)
print("step 1 loss=0.5")
for line in open(sys.argv[2]).read().splitlines():
    print(line)
print("sshpass -p hunter2 ssh node", file=sys.stderr)
print("connecting to postgres://trainer:pa55w0rd@db/runs")
print("HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUv --password=sw0rdfish")
print("step 2 loss=0.25")
run.finish()
print(run.id)
'''

KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDvO4S2mJ6c3bKz1qXhP5m4y7Yp0t1aKf8Hn3oWm8cF0wAAAJgbVb7rG1W+
-----END OPENSSH PRIVATE KEY-----
"""


def test_console_lines_keep_no_secret(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text(KEY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "td"), str(key)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" in done.stdout  # the terminal: as is
    run_id = done.stdout.strip().splitlines()[-1]
    with open_store(tmp_path / "td") as store:
        texts = [line.text for line in store.read_log_lines(run_id, limit=100)]
    stored = "\n".join(texts)
    for secret in ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "QyNTUxOQAAACDvO4S2mJ6c3",
                   "+G1W+", "hunter2", "pa55w0rd", "AbCdEfGhIjKlMnOpQrStUv", "sw0rdfish"):
        assert secret not in stored, stored
    assert "step 1 loss=0.5" in texts and "step 2 loss=0.25" in texts
    assert "-----BEGIN OPENSSH PRIVATE KEY-----[redacted]" in texts
