"""Resuming a run that traindeck did not launch (issue 10 §3): a script started by hand
records its command line and folder; ``POST /api/checkpoints/{id}/resume`` replays that
command in that folder as the same run, from the chosen checkpoint, with its console
captured. What cannot be replayed is refused with the reason (no command recorded, a
secret blanked out of it, the folder gone, the run still going)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import bound_socket, served
from support import clean_env, server_settings, wait_for

from traindeck.server.app import create_app
from traindeck.store import Store

# Steps from the command line; a checkpoint (its step, as bytes) every third step;
# continues after the checkpoint the SDK's last_checkpoint() names.
SCRIPT = """
    import sys, time
    import traindeck as td
    steps = int(sys.argv[sys.argv.index("--steps") + 1])
    run = td.init(project="by-hand")
    last = run.last_checkpoint()
    start = int(last.path.read_bytes()) + 1 if last is not None else 0
    print(f"start {start} last {None if last is None else last.step}", flush=True)
    for step in range(start, steps):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 3 == 2:
            run.save_checkpoint(str(step).encode(), step=step)
        time.sleep(float(sys.argv[sys.argv.index("--sleep") + 1]))
    run.finish()
    """


@pytest.fixture
def server(store: Store, tmp_path: Path) -> Iterator[str]:
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], launch_interval=0.05,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        yield url


def by_hand(store: Store, folder: Path, *args: str, wait: bool = True
            ) -> subprocess.Popen[bytes]:
    """``python train.py ARGS`` started in ``folder`` without any launcher, its SDK writing
    to the server's store."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    env = clean_env()
    env["TRAINDECK_DIR"] = str(store.files_root)
    proc = subprocess.Popen([sys.executable, "train.py", *args], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL)
    if wait:
        assert proc.wait(120) == 0
    return proc


def only_run(store: Store) -> str:
    runs, total = store.list_runs()
    assert total == 1
    return runs[0].id


def resume(url: str, ck_id: str) -> httpx.Response:
    return httpx.post(f"{url}/api/checkpoints/{ck_id}/resume", timeout=30)


def launch_ended(url: str, launch_id: str) -> dict[str, Any]:
    def done() -> bool:
        got = httpx.get(f"{url}/api/launches/{launch_id}", timeout=30).json()
        return got["status"] in ("completed", "failed", "cancelled")
    wait_for(done, 120, "the launch to end")
    out: dict[str, Any] = httpx.get(f"{url}/api/launches/{launch_id}", timeout=30).json()
    return out


def test_a_run_started_by_hand_resumes_from_a_chosen_checkpoint(
        server: str, store: Store, tmp_path: Path) -> None:
    by_hand(store, tmp_path / "work", "--steps", "10", "--sleep", "0")
    run_id = only_run(store)
    run = store.get_run(run_id)
    assert run.launch_spec is None and run.status == "completed"
    assert run.env["cwd"] == str(tmp_path / "work")
    cks = {c.step: c for c in store.list_checkpoints(run_id)}
    assert sorted(cks) == [2, 5, 8]

    r = resume(server, cks[5].id)
    assert r.status_code == 201, r.text
    again = r.json()
    assert again["run_id"] == run_id and again["executor"] == "local"
    done = launch_ended(server, again["id"])
    assert (done["status"], done["exit_code"]) == ("completed", 0), done
    assert only_run(store) == run_id  # the same run, no new one
    assert store.get_run(run_id).status == "completed"
    assert [float(s) for s in store.read_points(run_id, "loss").steps] == list(range(10))
    texts = [x.text for x in store.read_log_lines(run_id, limit=1000)]
    assert "start 6 last 5" in texts  # the console of the resumed process, captured


@pytest.mark.parametrize(("command", "env", "why"), [
    (None, {"cwd": "/"}, "was not recorded"),
    ("/usr/bin/python3 train.py --password [redacted]", {"cwd": "/"},
     "launch it from a template instead"),
    ("/usr/bin/python3 -c 'import x'", {"cwd": "/"}, "not a file"),
    ("/usr/bin/python3 train.py", {}, "folder it ran in was not recorded"),
    ("/usr/bin/python3 train.py", {"cwd": "/no/such/folder"}, "no longer exists"),
])
def test_what_cannot_be_replayed_is_refused_with_the_reason(
        server: str, store: Store, command: str | None, env: dict[str, Any],
        why: str) -> None:
    run = store.create_run(project="p", status="running")
    store.update_run(run.id, command=command, env=env)
    ck = store.add_checkpoint(run.id, path="ck.pt", step=1)
    store.set_status(run.id, "completed")
    r = resume(server, ck.id)
    assert r.status_code == 409, r.text
    assert why in r.json()["error"]["message"]
    assert not store.list_launches(run_id=run.id)
    assert store.get_run(run.id).status == "completed"


def test_a_run_still_going_or_whose_folder_is_gone_is_refused(
        server: str, store: Store, tmp_path: Path) -> None:
    proc = by_hand(store, tmp_path / "work", "--steps", "1000", "--sleep", "0.05",
                   wait=False)
    try:
        wait_for(lambda: store.list_runs()[1] == 1
                 and bool(store.list_checkpoints(only_run(store))), 60, "a checkpoint")
        run_id = only_run(store)
        r = resume(server, store.list_checkpoints(run_id)[0].id)
        assert r.status_code == 409 and "still running" in r.text, r.text
    finally:
        proc.terminate()
        proc.wait(30)
    wait_for(lambda: store.get_run(run_id).status != "running", 30, "the run to end")
    shutil.rmtree(tmp_path / "work")
    r = resume(server, store.list_checkpoints(run_id)[0].id)
    assert r.status_code == 409 and "no longer exists" in r.text, r.text
    assert not store.list_launches(run_id=run_id)


def test_with_auth_replaying_a_recorded_command_needs_an_admin_token(
        store: Store, tmp_path: Path) -> None:
    """Whoever can write a run chooses the command line it records: replaying it is for
    admins. A write token is refused (403) and nothing is launched; an admin's resumes."""
    _, write = store.create_token("trainer", "write")
    _, admin = store.create_token("boss", "admin")
    by_hand(store, tmp_path / "work", "--steps", "4", "--sleep", "0")
    run_id = only_run(store)
    ck = next(c for c in store.list_checkpoints(run_id) if c.step == 2)
    sock = bound_socket()
    settings = server_settings(tmp_path, port=sock.getsockname()[1], launch_interval=0.05,
                        web_dir=tmp_path / "no-web", auth=True)
    with served(create_app(settings, store=store), sock) as url:
        refused = httpx.post(f"{url}/api/checkpoints/{ck.id}/resume", timeout=30,
                             headers={"Authorization": f"Bearer {write}"})
        assert refused.status_code == 403, refused.text
        assert "admin" in refused.json()["error"]["message"]
        assert store.list_launches(run_id=run_id) == []
        assert store.get_run(run_id).status == "completed"
        ok = httpx.post(f"{url}/api/checkpoints/{ck.id}/resume", timeout=30,
                        headers={"Authorization": f"Bearer {admin}"})
        assert ok.status_code == 201, ok.text
        done = launch_ended_with(url, ok.json()["id"], admin)
        assert done["status"] == "completed", done


def launch_ended_with(url: str, launch_id: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}

    def done() -> dict[str, Any] | None:
        got: dict[str, Any] = httpx.get(f"{url}/api/launches/{launch_id}", timeout=30,
                                        headers=headers).json()
        return got if got["status"] in ("completed", "failed", "cancelled") else None
    out: dict[str, Any] = wait_for(done, 120, "the launch to end")
    return out


def test_a_checkpoint_that_failed_verification_is_not_resumed_from(
        server: str, store: Store, tmp_path: Path) -> None:
    by_hand(store, tmp_path / "work", "--steps", "4", "--sleep", "0")
    run_id = only_run(store)
    ck = next(c for c in store.list_checkpoints(run_id) if c.step == 2)
    store.set_checkpoint_valid(ck.id, False, "sha256 mismatch")
    r = resume(server, ck.id)
    assert r.status_code == 409 and "verification" in r.json()["error"]["message"], r.text
    assert store.list_launches(run_id=run_id) == []
    assert store.get_run(run_id).status == "completed"
