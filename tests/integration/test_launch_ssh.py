"""Launches on an SSH host through the server's API (issue 11 §2, §4): the same launch, run,
console, cancel and resume from a checkpoint as on this machine, with ``"executor": "ssh",
"host": NAME``; a server restarted mid-run reattaches. The host is a real sshd on 127.0.0.1
(tests/sshd_service.py) whose unprivileged user runs the template under tmux; metrics come
home through the reverse port forward; the server requires tokens.

Nothing is mocked: server, store, sshd, tmux and processes are real.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redaction_corpus import PEM_BLOCK, SECRETS
from serving import bound_socket, served
from sshd_service import SSHD, running_sshd
from support import wait_for

from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import NotFound, Store

TERMINAL = ("completed", "failed", "cancelled")

# Logs `steps` steps (one each `sleep` s), a checkpoint every 4th; continues after the
# checkpoint the SDK names (a resume); prints where it started.
SCRIPT = """
    import time
    import traindeck as td
    run = td.init()
    cfg = run.config
    last = run.last_checkpoint()
    start = int(last.path.read_bytes()) + 1 if last is not None else 0
    print(f"start {start}", flush=True)
    for step in range(start, cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 4 == 3:
            run.save_checkpoint(str(step).encode(), step=step)
        print(f"step {step}", flush=True)
        time.sleep(cfg["sleep"])
    run.finish()
    """


# Prints every secret of the corpus, on stdout and stderr, the way scripts leak them.
LEAKY = """import json, sys
corpus = json.load(open("secrets.json"))
for i, line in enumerate(corpus["lines"]):
    print(line, file=sys.stderr if i % 2 else sys.stdout, flush=True)
for line in corpus["pem"]:
    print(line, file=sys.stderr, flush=True)
print("done", flush=True)
"""
#: What must not be left of the key block.
KEY_MATERIAL = ("MIIEpAIBAAKCAQEA7bq9", "Xk2mQ9vL4pR7", "AES-128-CBC")


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


@pytest.fixture
def templates(tmp_path: Path, sshd: SSHD) -> Path:
    folder = tmp_path / "templates" / "remote_loop"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    venv = Path(sshd.python).parent.parent
    (folder / "traindeck.yaml").write_text(textwrap.dedent(f"""
        command: python train.py
        config: {{steps: 12, sleep: 0.02}}
        remote: {{venv: {str(venv)!r}}}
        """))
    leaky = folder.parent / "leaky"
    leaky.mkdir()
    (leaky / "secrets.json").write_text(json.dumps({"lines": [t for t, _ in SECRETS],
                                                    "pem": list(PEM_BLOCK)}))
    (leaky / "train.py").write_text(LEAKY)
    (leaky / "traindeck.yaml").write_text(
        f"command: python train.py\nremote: {{venv: {str(venv)!r}}}\n")
    return folder.parent


@pytest.fixture
def admin(store: Store, sshd: SSHD, tmp_path: Path) -> dict[str, str]:
    """An admin token (auth is on), and the host ``gpu`` with its key trusted."""
    _, secret = store.create_token("admin", "admin")
    store.add_host("gpu", user=sshd.user, address=sshd.host, port=sshd.port,
                   key_path=str(sshd.client_key), workdir=f"{sshd.workdir}/{tmp_path.name}")
    (Path(store.files_root) / "known_hosts").write_text(sshd.known_hosts_line + "\n")
    return {"authorization": f"Bearer {secret}"}


@contextmanager
def server(store: Store, templates: Path, tmp_path: Path) -> Iterator[str]:
    sock = bound_socket()
    settings = Settings(dir=store.files_root, port=sock.getsockname()[1],
                        templates_dir=templates, launch_interval=0.05,
                        web_dir=tmp_path / "no-web")
    with served(create_app(settings, store=store), sock) as url:
        yield url


def launch(url: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", headers=headers, timeout=30,
                   json={"template": "remote_loop", "executor": "ssh", "host": "gpu", **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def get(url: str, path: str, headers: dict[str, str]) -> Any:
    r = httpx.get(url + path, headers=headers, timeout=30)
    r.raise_for_status()
    return r.json()


def launch_ended(url: str, headers: dict[str, str], launch_id: str,
                 timeout: float = 120) -> dict[str, Any]:
    wait_for(lambda: get(url, f"/api/launches/{launch_id}", headers)["status"] in TERMINAL,
             timeout, "the launch to end", 0.1)
    out: dict[str, Any] = get(url, f"/api/launches/{launch_id}", headers)
    return out


def steps(store: Store, run_id: str) -> list[int]:
    try:
        return [int(s) for s in store.read_points(run_id, "loss").steps]
    except NotFound:
        return []


def lines(store: Store, run_id: str) -> list[str]:
    return [x.text for x in store.read_log_lines(run_id, limit=10_000)]


def host_processes(sshd: SSHD, marker: str, workdir: str) -> list[psutil.Process]:
    """The host user's processes under ``workdir`` (this test's host folder) whose command
    line holds ``marker``."""
    found = []
    for proc in psutil.process_iter(["username", "cmdline"]):
        if proc.info["username"] != sshd.user or marker not in " ".join(
                proc.info["cmdline"] or []):
            continue
        try:
            if proc.cwd().startswith(workdir):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_a_launch_on_a_host_runs_logs_and_completes(
        store: Store, templates: Path, tmp_path: Path, admin: dict[str, str]) -> None:
    with server(store, templates, tmp_path) as url:
        executors = get(url, "/api/executors", admin)["executors"]
        assert {"name": "ssh", "needs_host": True, "hosts": ["gpu"], "resources": []} \
            in executors
        first = launch(url, admin)
        done = launch_ended(url, admin, first["id"])
        assert (done["status"], done["exit_code"], done["host"]) == ("completed", 0, "gpu")
        assert get(url, f"/api/runs/{first['run_id']}", admin)["status"] == "completed"
    assert steps(store, first["run_id"]) == list(range(12))  # through the reverse forward
    assert lines(store, first["run_id"])[:2] == ["start 0", "step 0"]
    assert "step 11" in lines(store, first["run_id"])
    # the launch's token is bound to its run and revoked at the end
    token = store.get_token(store.get_launch(first["id"]).state["token_id"])
    assert token.run_id == first["run_id"] and token.revoked


def test_cancel_ends_the_remote_process_group_and_resume_continues_the_run(
        store: Store, templates: Path, tmp_path: Path, admin: dict[str, str],
        sshd: SSHD) -> None:
    with server(store, templates, tmp_path) as url:
        first = launch(url, admin, overrides=["steps=100000", "sleep=0.05"])
        run_id = first["run_id"]
        wait_for(lambda: len(store.list_checkpoints(run_id)) >= 2, 120, "two checkpoints")
        workdir = store.get_host("gpu").workdir
        assert host_processes(sshd, "train.py", workdir)
        r = httpx.post(f"{url}/api/runs/{run_id}/cancel", headers=admin, timeout=30)
        assert r.status_code == 202, r.text
        assert launch_ended(url, admin, first["id"])["status"] == "cancelled"
        assert get(url, f"/api/runs/{run_id}", admin)["status"] == "cancelled"
        wait_for(lambda: not host_processes(sshd, "train.py", workdir), 30,
                 "the remote processes to be gone")

        # resume from the older of the checkpoints: the same run continues on the host
        older = sorted(store.list_checkpoints(run_id), key=lambda c: c.step)[0]
        r = httpx.post(f"{url}/api/checkpoints/{older.id}/resume", headers=admin, timeout=30)
        assert r.status_code == 201, r.text
        resumed = r.json()
        assert resumed["run_id"] == run_id
        wait_for(lambda: f"start {older.step + 1}" in lines(store, run_id), 120,
                 "the resumed process to start after the checkpoint")
        wait_for(lambda: max(steps(store, run_id)) > older.step + 8, 120, "progress")
        httpx.post(f"{url}/api/runs/{run_id}/cancel", headers=admin, timeout=30)
        launch_ended(url, admin, resumed["id"])
    got = steps(store, run_id)
    assert got == sorted(set(got)) == list(range(len(got)))  # no step twice, none missing


def test_a_restarted_server_reattaches_and_nothing_is_lost(
        store: Store, templates: Path, tmp_path: Path, admin: dict[str, str],
        sshd: SSHD) -> None:
    with server(store, templates, tmp_path) as url:
        first = launch(url, admin, overrides=["steps=150", "sleep=0.04"])
        run_id = first["run_id"]
        wait_for(lambda: len(steps(store, run_id)) >= 5, 120, "the first steps")
    # no server for a moment: training goes on; its SDK spools. The new server listens on
    # another port: the host's end of the forward stays where the SDK sends.
    seen = len(lines(store, run_id))
    with server(store, templates, tmp_path) as url:
        done = launch_ended(url, admin, first["id"], timeout=180)
        assert (done["status"], done["exit_code"]) == ("completed", 0)
        wait_for(lambda: len(steps(store, run_id)) == 150, 60, "every step")
    assert steps(store, run_id) == list(range(150))
    console = lines(store, run_id)
    assert len(console) > seen
    assert [t for t in console if t.startswith("step")] == [f"step {i}" for i in range(150)]


def test_every_console_line_from_a_host_is_redacted(
        store: Store, templates: Path, tmp_path: Path, admin: dict[str, str]) -> None:
    with server(store, templates, tmp_path) as url:
        first = launch(url, admin, template="leaky")
        assert launch_ended(url, admin, first["id"])["status"] == "completed"
    stored = lines(store, first["run_id"])
    assert "done" in stored and len(stored) >= len(SECRETS)
    text = "\n".join(stored)
    leaked = [part for _, part in SECRETS if part in text]
    leaked += [part for part in KEY_MATERIAL if part in text]
    assert not leaked, leaked
    # they were printed for real: the raw console files (private, never served) hold them
    state = store.get_launch(first["id"]).state
    raw = Path(state["stdout"]).read_text() + Path(state["stderr"]).read_text()
    assert all(part in raw for _, part in SECRETS[:3])


def test_an_untrusted_host_fails_the_launch_with_what_to_do(
        store: Store, templates: Path, tmp_path: Path, admin: dict[str, str]) -> None:
    (Path(store.files_root) / "known_hosts").unlink()
    with server(store, templates, tmp_path) as url:
        first = launch(url, admin)
        done = launch_ended(url, admin, first["id"])
        assert done["status"] == "failed"
        assert "traindeck hosts trust gpu" in (done["error"] or ""), done
        assert get(url, f"/api/runs/{first['run_id']}", admin)["status"] == "failed"
        r = httpx.post(f"{url}/api/launches", headers=admin, timeout=30,
                       json={"template": "remote_loop", "executor": "ssh", "host": "nope"})
        assert r.status_code == 422 and "no host 'nope'" in r.text

