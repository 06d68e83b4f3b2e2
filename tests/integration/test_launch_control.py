"""Steering launched runs through a real server with real child processes (issue 10 §2, §3):
pause/resume (the SDK's commands, and SIGSTOP/SIGCONT of a plain script), the retry policy,
restarts resuming from the run's last valid checkpoint, resume from a chosen checkpoint
(same run, steps continue, no duplicates), a scoped token on a server with auth, and the
CPU/RAM of a script that does not import traindeck."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from serving import bound_socket, served
from support import server_settings, wait_for

from traindeck.server.app import create_app
from traindeck.store import Store

TERMINAL = ("completed", "failed", "cancelled", "interrupted")

# Logs a step every 50 ms; saves a checkpoint (its step, as bytes) every third step;
# crashes at step CRASH on its first start; continues from the checkpoint the SDK's
# last_checkpoint() names (a restart: the newest valid; a resume: the chosen one).
CKPT_SCRIPT = """
    import os, sys, time
    import traindeck as td
    run = td.init()
    cfg = run.config
    last = run.last_checkpoint()
    start = int(last.path.read_bytes()) + 1 if last is not None else 0
    print(f"start {start} last {None if last is None else last.step}", flush=True)
    for step in range(start, cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 3 == 2:
            run.save_checkpoint(str(step).encode(), step=step)
        if step == cfg["crash"] and last is None:
            run.flush()
            raise RuntimeError("crash")
        time.sleep(cfg["sleep"])
    run.finish()
    """


def template(root: Path, name: str, script: str, config: str = "steps: 3\n") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    (folder / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, train.py]\nconfig:\n" + textwrap.indent(config, "  "))


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    template(root, "sdk_loop", """
        import time
        import traindeck as td
        run = td.init()
        for step in range(100_000):
            run.log({"x": step}, step=step)
            time.sleep(0.05)
        """)
    template(root, "plain_loop", """
        import itertools, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        for i in itertools.count():
            print(f"tick {i}", flush=True)
            time.sleep(0.05)
        """)
    template(root, "flaky", """
        import json, os, sys
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        counter = os.path.join(os.environ["TRAINDECK_DIR"], "attempts-" + cfg["tag"])
        n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
        open(counter, "w").write(str(n))
        print(f"attempt {n}", flush=True)
        sys.exit(cfg["code"] if n <= cfg["fail"] else 0)
        """, "tag: a\nfail: 2\ncode: 1\n")
    template(root, "ckpt", CKPT_SCRIPT, "steps: 10\ncrash: 6\nsleep: 0.0\n")
    template(root, "hog", """
        import time
        block = bytearray(150 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        print("allocated", flush=True)
        time.sleep(120)
        """)
    template(root, "prober", """
        import json, os, urllib.error, urllib.request
        cfg = json.load(open(os.environ["TRAINDECK_CONFIG"]))
        base, token = os.environ["TRAINDECK_URL"], os.environ["TRAINDECK_TOKEN"]
        own = os.environ["TRAINDECK_RUN_ID"]
        for run_id in (own, cfg["other"]):
            req = urllib.request.Request(
                f"{base}/api/runs/{run_id}/commands", method="POST",
                data=json.dumps({"name": "note"}).encode(),
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
            try:
                code = urllib.request.urlopen(req).status
            except urllib.error.HTTPError as exc:
                code = exc.code
            print(f"{'own' if run_id == own else 'other'} {code}", flush=True)
        """, "other: none\n")
    return root


def make_server(store: Store, templates: Path, tmp_path: Path,
                **settings: Any) -> Iterator[str]:
    sock = bound_socket()
    config = server_settings(tmp_path, port=sock.getsockname()[1], templates_dir=templates,
                      launch_interval=0.05, web_dir=tmp_path / "no-web", **settings)
    app = create_app(config, store=store)
    with served(app, sock) as url:
        yield url


@pytest.fixture
def server(store: Store, templates: Path, tmp_path: Path) -> Iterator[str]:
    yield from make_server(store, templates, tmp_path)


def launch(url: str, template: str, headers: dict[str, str] | None = None,
           **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", json={"template": template, **body},
                   headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    r = httpx.get(f"{url}{path}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def post(url: str, path: str, status: int = 200,
         headers: dict[str, str] | None = None) -> Any:
    r = httpx.post(f"{url}{path}", headers=headers, timeout=30)
    assert r.status_code == status, r.text
    return r.json()


def launch_ended(url: str, launch_id: str, timeout: float = 60,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
    def done() -> bool:
        return get(url, f"/api/launches/{launch_id}", headers)["status"] in (
            "completed", "failed", "cancelled")
    wait_for(done, timeout, "the launch to end")
    out: dict[str, Any] = get(url, f"/api/launches/{launch_id}", headers)
    return out


def texts(store: Store, run_id: str) -> list[str]:
    return [x.text for x in store.read_log_lines(run_id, limit=10_000)]


def last_step(store: Store, run_id: str, key: str) -> int:
    latest = store.latest(run_id)
    return latest[key][0] if key in latest else -1


def steps(store: Store, run_id: str, key: str) -> list[int]:
    return [int(s) for s in store.read_points(run_id, key).steps]


def tree(pgid: int) -> list[psutil.Process]:
    root = psutil.Process(pgid)
    return [root, *root.children(recursive=True)]


def settled(probe: Any, what: str) -> Any:
    """``probe()`` once it gives the same answer twice, 0.5 s apart (something stopped)."""
    seen: list[Any] = []

    def same() -> bool:
        seen.append(probe())
        return len(seen) > 1 and seen[-1] == seen[-2]
    wait_for(same, 20, what, interval=0.5)
    return seen[-1]


def test_pause_and_resume_of_an_sdk_script_go_through_its_commands(
        server: str, store: Store) -> None:
    first = launch(server, "sdk_loop")
    run_id = first["run_id"]
    wait_for(lambda: last_step(store, run_id, "x") >= 3
             and bool(store.get_run(run_id).commands_offered), 30, "the run to log")
    paused = post(server, f"/api/runs/{run_id}/pause")
    assert paused["id"] == run_id
    wait_for(lambda: store.get_run(run_id).status == "paused", 20, "the run to read paused")
    assert get(server, f"/api/launches/{first['id']}")["status"] == "paused"
    stopped_at = settled(lambda: last_step(store, run_id, "x"), "logging to stop")
    assert [c.name for c in store.list_commands(run_id)] == ["pause"]
    pids = tree(first["pid"] or get(server, f"/api/launches/{first['id']}")["pid"])
    assert all(p.status() != psutil.STATUS_STOPPED for p in pids)  # not SIGSTOPped

    assert httpx.post(f"{server}/api/runs/{run_id}/pause").status_code == 409  # twice
    post(server, f"/api/runs/{run_id}/resume")
    wait_for(lambda: store.get_run(run_id).status == "running", 20, "the run to resume")
    wait_for(lambda: last_step(store, run_id, "x") > stopped_at + 2, 20, "logging again")
    post(server, f"/api/runs/{run_id}/cancel", 202)
    assert launch_ended(server, first["id"])["status"] == "cancelled"


def test_pause_and_resume_of_a_plain_script_stop_and_continue_its_processes(
        server: str, store: Store) -> None:
    first = launch(server, "plain_loop")
    run_id = first["run_id"]
    wait_for(lambda: "tick 3" in texts(store, run_id), 30, "the script to print")
    pgid = get(server, f"/api/launches/{first['id']}")["pid"]
    wait_for(lambda: len(tree(pgid)) == 3, 10, "the script's child")
    assert post(server, f"/api/runs/{run_id}/pause")["status"] == "paused"
    wait_for(lambda: all(p.status() == psutil.STATUS_STOPPED for p in tree(pgid)), 10,
             "every process of the tree to be stopped")
    printed = settled(lambda: len(texts(store, run_id)), "printing to stop")
    assert store.get_run(run_id).status == "paused"

    assert post(server, f"/api/runs/{run_id}/resume")["status"] == "running"
    wait_for(lambda: all(p.status() != psutil.STATUS_STOPPED for p in tree(pgid)), 10,
             "the tree to continue")
    wait_for(lambda: len(texts(store, run_id)) > printed + 2, 20, "printing again")
    post(server, f"/api/runs/{run_id}/cancel", 202)
    assert launch_ended(server, first["id"])["status"] == "cancelled"


def test_a_failing_script_is_restarted_up_to_max_restarts(server: str, store: Store) -> None:
    first = launch(server, "flaky", retry={"max_restarts": 2, "backoff_s": 0.2})
    done = launch_ended(server, first["id"])
    assert (done["status"], done["restarts"], done["exit_code"]) == ("completed", 2, 0)
    run = get(server, f"/api/runs/{first['run_id']}")
    assert (run["status"], run["exit_code"]) == ("completed", 0)
    assert [t for t in texts(store, run["id"]) if t.startswith("attempt")] == [
        "attempt 1", "attempt 2", "attempt 3"]
    restarts = [e.payload for e in store.list_events(run["id"]) if e.kind == "restart"]
    assert [r["restarts"] for r in restarts] == [1, 2]
    assert [r["in_s"] for r in restarts] == [0.2, 0.4]  # each restart waits twice as long

    # Too few restarts: the run fails with the script's code.
    short = launch(server, "flaky", overrides=["tag=b"], retry={"max_restarts": 1, "backoff_s": 0})
    done = launch_ended(server, short["id"])
    assert (done["status"], done["restarts"], done["exit_code"]) == ("failed", 1, 1)
    assert get(server, f"/api/runs/{short['run_id']}")["status"] == "failed"


def test_an_exit_code_listed_in_exit_codes_always_retries(server: str) -> None:
    listed = launch(server, "flaky", overrides=["tag=c", "fail=1", "code=75"],
                    retry={"max_restarts": 0, "exit_codes": [75], "backoff_s": 0})
    done = launch_ended(server, listed["id"])
    assert (done["status"], done["restarts"]) == ("completed", 1)
    other = launch(server, "flaky", overrides=["tag=d", "fail=1", "code=3"],
                   retry={"max_restarts": 0, "exit_codes": [75], "backoff_s": 0})
    done = launch_ended(server, other["id"])
    assert (done["status"], done["restarts"], done["exit_code"]) == ("failed", 0, 3)


def test_a_restart_resumes_the_same_run_from_its_last_valid_checkpoint(
        server: str, store: Store) -> None:
    first = launch(server, "ckpt", retry={"max_restarts": 1, "backoff_s": 0})
    done = launch_ended(server, first["id"])
    assert (done["status"], done["restarts"]) == ("completed", 1)
    run_id = first["run_id"]
    assert store.list_runs()[1] == 1 and store.get_run(run_id).status == "completed"
    starts = [t for t in texts(store, run_id) if t.startswith("start")]
    # Checkpoints at steps 2 and 5, the crash at 6: the restart continues after step 5,
    # and the SDK's last_checkpoint() agrees.
    assert starts == ["start 0 last None", "start 6 last 5"]
    assert steps(store, run_id, "loss") == list(range(10))


def test_resume_from_a_chosen_checkpoint_continues_the_same_run(
        server: str, store: Store) -> None:
    first = launch(server, "ckpt", overrides=["crash=100"])
    assert launch_ended(server, first["id"])["status"] == "completed"
    run_id = first["run_id"]
    cks = {c.step: c for c in store.list_checkpoints(run_id)}
    assert sorted(cks) == [2, 5, 8]
    again = post(server, f"/api/checkpoints/{cks[5].id}/resume", 201)
    assert again["run_id"] == run_id and again["id"] != first["id"]
    assert launch_ended(server, again["id"])["status"] == "completed"
    assert store.list_runs()[1] == 1
    assert get(server, f"/api/runs/{run_id}")["status"] == "completed"
    # the console: the first process's lines once, then the resumed one's
    assert [t for t in texts(store, run_id) if t.startswith("start")] == [
        "start 0 last None", "start 6 last 5"]
    got = steps(store, run_id, "loss")
    assert got == list(range(10))  # strictly increasing, no step twice
    assert httpx.post(f"{server}/api/checkpoints/nope/resume").status_code == 404


def test_resume_of_a_run_still_launched_is_a_conflict(server: str, store: Store) -> None:
    first = launch(server, "ckpt", overrides=["sleep=0.5", "steps=1000", "crash=1000"])
    run_id = first["run_id"]
    wait_for(lambda: bool(store.list_checkpoints(run_id)), 30, "a checkpoint")
    ck = store.list_checkpoints(run_id)[0]
    r = httpx.post(f"{server}/api/checkpoints/{ck.id}/resume")
    assert r.status_code == 409 and "cancel it first" in r.text
    post(server, f"/api/runs/{run_id}/cancel", 202)
    launch_ended(server, first["id"])


def test_a_launched_scripts_token_writes_to_its_own_run_only(
        store: Store, templates: Path, tmp_path: Path) -> None:
    """The token a launch hands its process is bound to the launch's run: a script (or
    whoever reads its environment) cannot write to any other run with it."""
    _, admin = store.create_token("test", "admin")
    headers = {"authorization": f"Bearer {admin}"}
    bystander = store.create_run(project="p", name="someone else's run")
    for url in make_server(store, templates, tmp_path, auth=True):
        first = launch(url, "prober", headers, overrides=[f"other={bystander.id}"])
        done = launch_ended(url, first["id"], headers=headers)
        assert done["status"] == "completed", done
        lines = texts(store, first["run_id"])
        assert "own 201" in lines and "other 403" in lines, lines
        assert not store.list_commands(bystander.id)  # nothing reached the other run
        token = store.get_token(store.get_launch(first["id"]).state["token_id"])
        assert token.run_id == first["run_id"]


def test_with_auth_the_script_attaches_with_a_write_token_revoked_at_the_end(
        store: Store, templates: Path, tmp_path: Path) -> None:
    _, admin = store.create_token("test", "admin")
    headers = {"authorization": f"Bearer {admin}"}
    for url in make_server(store, templates, tmp_path, auth=True):
        assert httpx.post(f"{url}/api/launches", json={"template": "ckpt"}).status_code == 401
        first = launch(url, "ckpt", headers, overrides=["crash=100"])
        done = launch_ended(url, first["id"], headers=headers)
        assert done["status"] == "completed"
        run_id = first["run_id"]
        assert steps(store, run_id, "loss") == list(range(10))  # the script's writes landed
        token_id = store.get_launch(first["id"]).state["token_id"]
        token = store.get_token(token_id)
        assert token.scope == "write" and token.revoked_at is not None
        assert token.run_id == run_id
        assert store.list_runs()[1] == 1


def test_a_script_without_traindeck_gets_the_cpu_and_memory_of_its_tree(
        server: str, store: Store) -> None:
    first = launch(server, "hog")
    run_id = first["run_id"]
    wait_for(lambda: "allocated" in texts(store, run_id), 30, "the allocation")

    def rss() -> float:
        found = [s.max for s in store.metric_keys(run_id) if s.key == "sys/proc_rss_gb"]
        return float(found[0] or 0.0) if found else 0.0
    wait_for(lambda: rss() >= 0.14, 30, "the tree's memory in sys/proc_rss_gb")
    keys = {s.key for s in store.metric_keys(run_id)}
    assert {"sys/proc_cpu_percent", "sys/proc_count"} <= keys
    count = store.read_points(run_id, "sys/proc_count")
    assert max(float(v) for v in count.values) >= 2  # the wrapper and the script
    post(server, f"/api/runs/{run_id}/cancel", 202)
    launch_ended(server, first["id"])
