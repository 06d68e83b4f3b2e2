"""Defect 9 end to end: a real training script prints secrets; the store keeps none.

The child prints a private key one line at a time (as ``print`` of a key file does) and
secrets of several shapes, on both streams; its console lines are read back from the store.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import clean_env, open_dir_store

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
    env = clean_env()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "td"), str(key)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" in done.stdout  # the terminal: as is
    run_id = done.stdout.strip().splitlines()[-1]
    with open_dir_store(tmp_path / "td") as store:
        texts = [line.text for line in store.read_log_lines(run_id, limit=100)]
    stored = "\n".join(texts)
    for secret in ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "QyNTUxOQAAACDvO4S2mJ6c3",
                   "+G1W+", "hunter2", "pa55w0rd", "AbCdEfGhIjKlMnOpQrStUv", "sw0rdfish"):
        assert secret not in stored, stored
    assert "step 1 loss=0.5" in texts and "step 2 loss=0.25" in texts
    assert "-----BEGIN OPENSSH PRIVATE KEY-----[redacted]" in texts


RUN_SCRIPT = r'''
import os, sys, time, traindeck
from traindeck.store import open_store
run = traindeck.init(project="p", dir=sys.argv[1], system_interval=None)

def opened():  # the store init() opened: TRAINDECK_STORE's (PostgreSQL) or the folder's
    url = os.environ.get("TRAINDECK_STORE")
    return open_store(url, files_root=sys.argv[1]) if url else open_store(sys.argv[1])

@run.command("leak")
def leak():
    return {"dsn": "postgres://trainer:r3sultpw@db/x", "notes": ["HF_TOKEN=hf_ResultResultResult1"],
            "token=ghp_KeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKey12": 1.5}

@run.command("boom")
def boom():
    raise RuntimeError("cannot log in with --password c0mmandpw")

with opened() as s:
    ids = [s.create_command(run.id, "leak").id, s.create_command(run.id, "boom").id]
deadline = time.time() + 60
with opened() as s:
    while time.time() < deadline:
        run.poll()
        if all(s.get_command(i).status in ("done", "failed") for i in ids):
            break
        time.sleep(0.05)
print(run.id, flush=True)
raise RuntimeError("db login failed: postgres://trainer:err0rpw@db/x --token=td_ErrorErrorError")
'''


def test_command_line_errors_and_command_results_keep_no_secret(tmp_path: Path) -> None:
    """The run's recorded command line (sys.argv), its ``error`` event, a command's error
    text and the strings inside a command's result are redacted like console lines."""
    env = clean_env()
    env["TRAINDECK_TOKEN"] = "exact-value-0f-the-token"
    argv = ["--db-password", "hunter2", "--url", "postgres://u:pa55@h/db",
            "--seed", "7", "exact-value-0f-the-token"]
    done = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(tmp_path / "td"), *argv],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "err0rpw" in done.stderr, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    with open_dir_store(tmp_path / "td") as store:
        run = store.get_run(run_id)
        events = store.list_events(run_id)
        commands = store.list_commands(run_id)
    assert run.status == "failed"
    assert run.command is not None and "--seed 7" in run.command and "--db-password" in run.command
    errors = [e.payload["error"] for e in events if e.kind == "error"]
    assert len(errors) == 1 and "db login failed" in errors[0]
    by_name = {c.name: c for c in commands}
    assert by_name["leak"].status == "done" and by_name["boom"].status == "failed"
    assert "cannot log in" in (by_name["boom"].error or "")
    result = by_name["leak"].result
    assert isinstance(result, dict) and 1.5 in result.values()
    stored = repr((run.command, run.env, errors, [(c.result, c.error) for c in commands]))
    for secret in ("hunter2", "pa55", "exact-value-0f-the-token", "r3sultpw",
                   "hf_ResultResultResult1", "ghp_KeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKey12",
                   "c0mmandpw", "err0rpw", "td_ErrorErrorError"):
        assert secret not in stored, (secret, stored)
