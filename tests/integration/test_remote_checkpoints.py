"""Remote and offline runs register their checkpoints on the server, exactly once, and
``resume_or_create`` asks the server. A real server in a child process on a free port, the
real SDK in another child process (or in this one), real files; nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port, start_server, wait_for

import traindeck as td
from traindeck.checkpoints import sha256_file

CHILD = r'''
import os, sys
import traindeck as td

outside = sys.argv[1]
run = td.init(project="ck", name="remote-ck", best="min:loss", system_interval=None,
              heartbeat_interval=0.2, capture_console=False)
print("READY", run.id, flush=True)
with run:
    for step in range(30):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 10 == 9:
            run.save_checkpoint(b"weights at %d" % step, step, metrics={"loss": 1.0 / (step + 1)},
                                metadata={"epoch": step // 10})
    run.log_checkpoint(outside, step=29, kind="final")
print("DONE", flush=True)
'''


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_server(tmp_path / "srv", port, tmp_path / "server.log")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def run_child(tmp_path: Path, env: dict[str, str]) -> str:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"kept where the framework put it")
    done = subprocess.run(
        [sys.executable, str(script), str(outside)], capture_output=True, text=True,
        timeout=120, env={**os.environ, "TRAINDECK_DIR": str(tmp_path / "client"), **env})
    assert done.returncode == 0, done.stderr
    assert "DONE" in done.stdout, done.stderr
    return done.stdout.split("READY ")[1].split()[0]


def server_checkpoints(url: str, run_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/runs/{run_id}/checkpoints", params={"order": "asc"})
    assert r.status_code == 200, r.text
    cks: list[dict[str, Any]] = r.json()["checkpoints"]
    return cks


def check_registered(url: str, run_id: str, client: Path) -> None:
    cks = server_checkpoints(url, run_id)
    assert [(c["step"], c["kind"]) for c in cks] == [
        (9, "regular"), (19, "regular"), (29, "regular"), (29, "final")]
    run_dir = client / "runs" / run_id
    for c in cks[:3]:
        path = run_dir / c["path"]  # relative to the run's folder
        assert c["path"].startswith("checkpoints/")
        assert c["size"] == path.stat().st_size and c["sha256"] == sha256_file(path)
        assert c["metrics"] == {"loss": 1.0 / (c["step"] + 1)}
        assert c["metadata"] == {"epoch": c["step"] // 10}
    assert [c["step"] for c in cks if c["is_best"]] == [29]
    final = cks[3]
    assert final["path"] == str(client.parent / "outside.bin")  # outside: absolute


def test_a_remote_run_registers_its_checkpoints(server: str, tmp_path: Path) -> None:
    run_id = run_child(tmp_path, {"TRAINDECK_URL": server})
    wait_for(lambda: httpx.get(f"{server}/api/runs/{run_id}").json()["status"] == "completed",
             what="the run's end")
    check_registered(server, run_id, tmp_path / "client")


def test_an_offline_run_brings_its_checkpoints_with_sync_exactly_once(
        server: str, tmp_path: Path) -> None:
    run_id = run_child(tmp_path, {"TRAINDECK_MODE": "offline"})
    client = tmp_path / "client"
    spool = client / "runs" / run_id / "spool"
    segments = {p.name: p.read_bytes() for p in spool.glob("*.seg")}
    cmd = [sys.executable, "-m", "traindeck.cli", "sync", str(client), "--url", server]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "synced" in first.stdout, first.stderr
    check_registered(server, run_id, client)
    # A sync killed before its acknowledgements sends everything again: nothing doubles.
    for name, data in segments.items():
        (spool / name).write_bytes(data)
    (spool / "acked").unlink()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "synced" in again.stdout, again.stderr
    check_registered(server, run_id, client)


def test_a_checkpoint_record_is_one_row_whatever_batch_brings_it(server: str) -> None:
    url = f"{server}/api/runs/r1/batch"
    record = {"id": "ck-1", "step": 5, "path": "checkpoints/a.bin", "kind": "regular",
              "metrics": {"loss": 0.5}, "metadata": {}, "size": 3, "sha256": "ab" * 32,
              "host": "h", "is_best": True}
    first = {"batch_id": "x:1", "run": {"project": "p"}, "checkpoints": [record]}
    assert httpx.post(url, json=first).status_code == 200
    # The same record in another batch (a spool replayed under new ids): still one row.
    assert httpx.post(url, json={"batch_id": "x:2", "checkpoints": [record]}).status_code == 200
    (ck,) = server_checkpoints(server, "r1")
    assert (ck["id"], ck["step"], ck["is_best"], ck["size"]) == ("ck-1", 5, True, 3)
    bad = httpx.post(url, json={"batch_id": "x:3", "checkpoints": [{"id": "ck-2"}]})
    assert bad.status_code == 422 and "checkpoints" in bad.json()["error"]["message"]
    gone = {"batch_id": "x:4", "checkpoints_deleted": [{"id": "ck-1", "reason": "retention"}]}
    assert httpx.post(url, json=gone).status_code == 200
    assert server_checkpoints(server, "r1") == []
    # A backlog that records a checkpoint and deletes it (keep_last, offline): in one
    # request, one transaction, the deletion still finds the record it follows.
    record2 = {**record, "id": "ck-2", "step": 6}
    backlog = [{"batch_id": "x:5", "checkpoints": [record2]},
               {"batch_id": "x:6", "checkpoints_deleted": [{"id": "ck-2", "reason": "k"}]}]
    answer = httpx.post(url, json=backlog)
    assert answer.status_code == 200 and answer.json() == {"batches": 2, "applied": 2}
    assert server_checkpoints(server, "r1") == []


def test_resume_or_create_asks_the_server(server: str, tmp_path: Path) -> None:
    client = tmp_path / "client"
    kw: dict[str, Any] = {"dir": client, "url": server, "system_interval": None,
                          "strict": True, "capture_console": False}
    first = td.resume_or_create("long-job", project="p", best="max:acc", keep_last=2, **kw)
    assert not first.is_resumed
    with first:
        for step in range(20):
            first.log({"acc": step / 20}, step=step)
            if step % 5 == 4:
                first.save_checkpoint(b"state %d" % step, step, metrics={"acc": step / 20})
    # No local store is involved: the traindeck folder holds only run folders.
    assert not (client / "traindeck.db").exists()
    again = td.resume_or_create("long-job", project="p", **kw)
    with again:
        assert again.is_resumed and again.id == first.id and again.step == 20
        cks = again.list_checkpoints()
        assert [c.step for c in cks] == [19, 14]  # keep_last=2 deleted the others
        assert [c.step for c in cks if c.is_best] == [19]
        last = again.last_checkpoint()
        assert last is not None and last.step == 19
        assert last.path.read_bytes() == b"state 19"
        again.log({"acc": 1.0})
    steps = httpx.get(f"{server}/api/runs/{first.id}/metrics").json()["metrics"]
    assert [(m["key"], m["last_step"]) for m in steps] == [("acc", 20)]
    runs = httpx.get(f"{server}/api/runs", params={"project": "p"}).json()["runs"]
    assert [r["name"] for r in runs] == ["long-job"]
