"""Distributed training for real: two child processes, rank 0 and rank 1 of one job, log
into ONE run — once through the store file (``RANK``/``WORLD_SIZE`` and a shared
``TRAINDECK_RUN_ID``, as torchrun under the launcher), once through a server subprocess
(``SLURM_PROCID``/``SLURM_NTASKS``, the run id derived from ``SLURM_JOB_ID``, as srun).

What a user would see is checked in the store: the metrics come from rank 0 only, every
rank's system load is its own ``sys/rank{r}/`` series, the one checkpoint is rank 0's, a
command reaches both ranks (each writes a marker file) and is answered once, console
lines are tagged with their rank, and a crash on rank 1 is an event naming it. Nothing is
mocked: the processes, the store file, the server and its sockets are real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support import SERVE_SCRIPT, free_port, open_dir_store, wait_for

from traindeck.store import Store

CHILD = r'''
import os, sys, time
from pathlib import Path
import traindeck as td

out = Path(sys.argv[1])
crash_at = int(os.environ.get("CRASH_AT", "-1"))
run = td.init(project="ddp", name="ddp", config={"lr": 0.1}, heartbeat_interval=0.2,
              heartbeat_timeout=10.0, system_interval=0.1, command_interval=0.05)
r = run.rank

@run.command("validate")
def validate(tag: str = ""):
    (out / f"validate.rank{r}").write_text(tag)
    return {"rank": r, "tag": tag}

print("READY", run.id, run.rank, run.world_size, flush=True)
with run:
    step = 0
    while not run.should_stop:
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step == 3:
            saved = run.save_checkpoint(b"weights of rank %d" % r, step=step)
            (out / f"saved.rank{r}").write_text(str(saved))
        if step == crash_at:
            raise RuntimeError(f"rank {r} broke at step {step}")
        step += 1
        time.sleep(0.05)
print("DONE", flush=True)
'''

#: Lightning's DDP launcher: rank 0 runs the script, calls init(), then starts the same
#: script again for rank 1 with LOCAL_RANK and WORLD_SIZE set (and no run id).
SPAWNING = r'''
import os, subprocess, sys
import traindeck as td

run = td.init(project="lightning", system_interval=0.1, heartbeat_interval=0.2,
              heartbeat_timeout=10.0)
print("READY", run.id, run.rank, run.world_size, flush=True)
if run.rank == 0:
    child = subprocess.run([sys.executable, __file__],
                           env={**os.environ, "LOCAL_RANK": "1", "WORLD_SIZE": "2"},
                           capture_output=True, text=True)
    print(child.stdout, end="", flush=True)
run.finish()
'''

#: Inherited variables that would place a child in some other job.
_JOB_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID",
             "TRAINDECK_RUN_ID", "TRAINDECK_RANK0_RUN_ID", "TRAINDECK_URL", "TRAINDECK_MODE")

Start = Callable[[dict[str, str]], subprocess.Popen[str]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start the child script with ``env`` added; killed at teardown if still running."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    (tmp_path / "out").mkdir()
    base = {k: v for k, v in os.environ.items()
            if k not in _JOB_VARS and not k.startswith("SLURM_")}
    procs: list[subprocess.Popen[str]] = []

    def go(env: dict[str, str]) -> subprocess.Popen[str]:
        err = (tmp_path / f"child{len(procs)}.err").open("w")
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "out")],
                                env={**base, **env}, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        err.close()
        procs.append(proc)
        return proc

    yield go
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def ready(proc: subprocess.Popen[str]) -> list[str]:
    """``[run id, rank, world size]`` from the child's READY line."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), f"child said {line!r}"
    return line.split()[1:]


def keys(store: Store, run_id: str) -> set[str]:
    return {s.key for s in store.metric_keys(run_id)}


def both_sampled(store: Store, run_id: str) -> bool:
    have = keys(store, run_id)
    return {"loss", "sys/rank0/cpu_percent", "sys/rank1/cpu_percent"} <= have


def check_one_run(store: Store, run_id: str, out: Path, send: Callable[[str, dict[str, str]], str],
                  procs: list[subprocess.Popen[str]]) -> None:
    """The checks both launch styles share, ending with ``stop`` to every rank."""
    wait_for(lambda: both_sampled(store, run_id), what="metrics and both ranks' system load")
    wait_for(lambda: (out / "saved.rank0").exists() and (out / "saved.rank1").exists(),
             what="both ranks past the checkpoint step")
    # A command reaches both ranks; each handler runs; rank 0 answers it, once.
    cmd_id = send("validate", {"tag": "both"})
    wait_for(lambda: (out / "validate.rank0").exists() and (out / "validate.rank1").exists(),
             what="validate run on both ranks")
    assert (out / "validate.rank1").read_text() == "both"
    done = wait_for(lambda: (c := store.get_command(cmd_id)).status == "done" and c,
                    what="the command answered")
    assert done.result == {"rank": 0, "tag": "both"}
    # Stop reaches every rank too: both end.
    send("stop", {})
    for proc in procs:
        assert proc.wait(60) == 0, f"a rank exited with {proc.returncode}"
    answered = [e for e in store.list_events(run_id, kind="command", limit=10_000)
                if e.payload.get("id") == cmd_id and e.payload.get("status") in ("done", "failed")]
    assert len(answered) == 1

    run = store.get_run(run_id)
    assert run.status == "cancelled"  # rank 0 ended it, as stopped from the dashboard
    have = keys(store, run_id)
    assert not any(k.startswith("rank1/") for k in have)  # rank 1's log() kept nothing
    assert not any(k.startswith("sys/") and not k.startswith(("sys/rank0/", "sys/rank1/"))
                   for k in have)
    # One checkpoint, rank 0's; rank 1's save answered None and wrote nothing.
    cks = store.list_checkpoints(run_id)
    assert [c.step for c in cks] == [3]
    assert (out / "saved.rank1").read_text() == "None"
    assert Path(out / "saved.rank0").read_text().endswith("checkpoint_step_0000003.bin")
    assert Path((out / "saved.rank0").read_text()).read_bytes() == b"weights of rank 0"
    # Each rank's console, tagged.
    text = [line.text for line in store.read_log_lines(run_id, limit=10_000)]
    assert any(t.startswith("[rank0] READY") for t in text)
    assert any(t.startswith("[rank1] READY") for t in text)


def test_two_ranks_from_env_log_into_one_run_in_the_store(start: Start, tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    common = {"TRAINDECK_DIR": str(tdir), "TRAINDECK_RUN_ID": "ddp-run-1", "WORLD_SIZE": "2",
              "TRAINDECK_STRICT": "1"}
    # Rank 1 first: it waits until rank 0 has started the run.
    one = start({**common, "RANK": "1", "LOCAL_RANK": "1"})
    zero = start({**common, "RANK": "0", "LOCAL_RANK": "0"})
    assert ready(zero) == ["ddp-run-1", "0", "2"]
    assert ready(one) == ["ddp-run-1", "1", "2"]
    store = open_dir_store(tdir)
    try:
        def send(name: str, args: dict[str, str]) -> str:
            return store.create_command("ddp-run-1", name, args).id

        check_one_run(store, "ddp-run-1", tmp_path / "out", send, [zero, one])
    finally:
        store.close()


def test_a_crash_on_rank_1_is_an_event_and_rank_0_goes_on(start: Start, tmp_path: Path) -> None:
    tdir = tmp_path / "td"
    common = {"TRAINDECK_DIR": str(tdir), "TRAINDECK_RUN_ID": "ddp-crash", "WORLD_SIZE": "2"}
    zero = start({**common, "RANK": "0"})
    one = start({**common, "RANK": "1", "CRASH_AT": "5"})
    ready(zero)
    ready(one)
    assert one.wait(60) == 1
    store = open_dir_store(tdir)
    try:
        said = (tmp_path / "child1.err").read_text()[-3000:]  # rank 1's stderr, if it fails
        errors = wait_for(lambda: store.list_events("ddp-crash", kind="error"),
                          what=f"the error event of rank 1 (rank 1 said: {said!r})")
        assert errors[0].payload["rank"] == 1
        assert "rank 1 broke at step 5" in errors[0].payload["error"]
        assert store.get_run("ddp-crash").status == "running"  # only rank 0 ends the run
        zero.send_signal(signal.SIGTERM)
        zero.wait(60)
        assert store.get_run("ddp-crash").status == "interrupted"
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "server.log"
    code = (SERVE_SCRIPT +
            "serve(Settings(**where, port=int(sys.argv[2]), reap_interval=0.5))")
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "srv"), str(port)],
                                stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, what="server up")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_two_slurm_tasks_log_into_one_run_on_a_server(start: Start, server: str,
                                                       tmp_path: Path) -> None:
    job = str(int(time.time()) % 1_000_000)
    common = {"TRAINDECK_DIR": str(tmp_path / "client"), "TRAINDECK_URL": server,
              "SLURM_JOB_ID": job, "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2",
              "TRAINDECK_STRICT": "1", "TRAINDECK_PROJECT": f"p{uuid.uuid4().hex[:6]}"}
    zero = start({**common, "SLURM_PROCID": "0"})
    one = start({**common, "SLURM_PROCID": "1"})
    run_id, rank, world = ready(zero)
    assert (rank, world) == ("0", "2")
    assert run_id.startswith(f"slurm-{job}-")  # derived from the job: no id was given
    assert ready(one) == [run_id, "1", "2"]
    store = open_dir_store(tmp_path / "srv")
    try:
        def send(name: str, args: dict[str, str]) -> str:
            resp = httpx.post(f"{server}/api/runs/{run_id}/commands",
                              json={"name": name, "args": args}, timeout=10)
            resp.raise_for_status()
            return str(resp.json()["id"])

        check_one_run(store, run_id, tmp_path / "out", send, [zero, one])
    finally:
        store.close()
    # Rank 1 kept its own spool, beside rank 0's, and everything in it reached the server.
    assert (tmp_path / "client" / "rank1" / "runs" / run_id / "spool").is_dir()


def test_ranks_that_rank_0_starts_itself_find_its_run(tmp_path: Path) -> None:
    script = tmp_path / "spawning.py"
    script.write_text(SPAWNING)
    env = {k: v for k, v in os.environ.items()
           if k not in _JOB_VARS and not k.startswith("SLURM_")}
    env.update(TRAINDECK_DIR=str(tmp_path / "td"), TRAINDECK_STRICT="1")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith("READY")]
    assert len(lines) == 2
    (_, run_id, r0, w0), (_, same_id, r1, w1) = lines
    assert same_id == run_id and (r0, w0, r1, w1) == ("0", "1", "1", "2")
    store = open_dir_store(tmp_path / "td")
    try:
        assert [r.id for r in store.list_runs()[0]] == [run_id]  # one run, not two
        keys = {s.key for s in store.metric_keys(run_id)}
        assert any(k.startswith("sys/rank1/") for k in keys)
        assert store.get_run(run_id).status == "completed"
    finally:
        store.close()
