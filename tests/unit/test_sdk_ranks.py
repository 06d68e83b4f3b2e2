"""The rank rules of distributed training (``traindeck.sdk.ranks``): which rank a process
is, which run the ranks share, which commands a rank above 0 runs; and, in-process
against a real store, what a rank above 0 records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import wait_for

import traindeck as td
from traindeck.sdk.ranks import (
    RANK0_RUN_ID,
    CommandFollower,
    Ranks,
    exported_run_id,
    job_run_id,
    resolve_ranks,
    shared_run_id,
    wait_for_leader,
)
from traindeck.store import Command, Run, Store
from traindeck.store.ids import is_valid_id


@pytest.fixture(autouse=True)
def _no_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs read os.environ: start outside any job, and undo what rank 0's
    init() exports."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID",
                 "SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID",
                 "TRAINDECK_RUN_ID", "TRAINDECK_MODE", "TRAINDECK_URL", RANK0_RUN_ID):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


# -- which rank --------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "want"), [
    ({}, Ranks(0, 1, "default")),
    ({"RANK": "3", "WORLD_SIZE": "8"}, Ranks(3, 8, "RANK")),
    ({"SLURM_PROCID": "1", "SLURM_NTASKS": "4"}, Ranks(1, 4, "SLURM_PROCID")),
    # torchrun inside an srun step: torchrun's numbering wins.
    ({"RANK": "5", "WORLD_SIZE": "16", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"},
     Ranks(5, 16, "RANK")),
    ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, Ranks(1, 2, "LOCAL_RANK")),
    ({"LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "4"}, Ranks(2, 4, "LOCAL_RANK")),
    ({"LOCAL_RANK": "1"}, Ranks(1, 2, "LOCAL_RANK")),  # no size: at least rank + 1
    ({"RANK": "0", "WORLD_SIZE": "1"}, Ranks(0, 1, "RANK")),
    ({"RANK": " ", "SLURM_PROCID": "2", "SLURM_NTASKS": "3"}, Ranks(2, 3, "SLURM_PROCID")),
])
def test_the_rank_comes_from_the_first_launcher_variable_set(env: dict[str, str],
                                                             want: Ranks) -> None:
    assert resolve_ranks(env) == want


def test_init_rank_overrides_the_environment_and_keeps_its_world_size() -> None:
    assert resolve_ranks({"RANK": "0", "WORLD_SIZE": "4"}, rank=2) == Ranks(2, 4, "init(rank=)")
    assert resolve_ranks({}, rank=1) == Ranks(1, 2, "init(rank=)")
    assert resolve_ranks({}, rank=0) == Ranks(0, 1, "init(rank=)")


@pytest.mark.parametrize(("env", "rank"), [
    ({"RANK": "one"}, None), ({"RANK": "-1"}, None), ({"RANK": "2", "WORLD_SIZE": "2"}, None),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "0"}, None), ({}, -1),
    ({"WORLD_SIZE": "2"}, True),
])
def test_a_rank_that_makes_no_sense_is_an_error(env: dict[str, str], rank: int | None) -> None:
    with pytest.raises(ValueError):
        resolve_ranks(env, rank)


def test_where_each_rank_records() -> None:
    alone, zero, two = Ranks(), Ranks(0, 4), Ranks(2, 4)
    assert (alone.system_prefix, alone.console_tag, alone.distributed) == ("sys/", "", False)
    assert (zero.system_prefix, zero.console_tag, zero.leader) == ("sys/rank0/", "[rank0] ", True)
    assert (two.system_prefix, two.metric_prefix, two.leader) == ("sys/rank2/", "rank2/", False)


# -- which run -----------------------------------------------------------------------------

def test_every_rank_of_a_job_derives_the_same_valid_run_id() -> None:
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0"}
    a = job_run_id(slurm, "lm")
    assert a is not None and a.startswith("slurm-4242-") and is_valid_id(a)
    assert job_run_id(dict(slurm), "lm") == a
    assert job_run_id(slurm, "other project") != a
    assert job_run_id({**slurm, "SLURM_STEP_ID": "1"}, "lm") != a  # another srun step
    elastic = job_run_id({"TORCHELASTIC_RUN_ID": "5f0c-uuid", **slurm}, "lm")
    assert elastic is not None and elastic.startswith("torchrun-") and is_valid_id(elastic)
    # torchrun's default rendezvous id names no job.
    assert job_run_id({"TORCHELASTIC_RUN_ID": "none"}, "lm") is None
    assert job_run_id({"TORCHELASTIC_RUN_ID": "none", **slurm}, "lm") == a
    assert job_run_id({}, "lm") is None


def test_the_shared_run_id_rules() -> None:
    job = {"SLURM_JOB_ID": "7"}
    # One process: a new run, as always.
    assert shared_run_id(job, "p", Ranks(), parent_pid=1) is None
    # Several: the job's id, on every rank.
    assert shared_run_id(job, "p", Ranks(0, 2), parent_pid=1) == job_run_id(job, "p")
    assert shared_run_id(job, "p", Ranks(1, 2), parent_pid=1) == job_run_id(job, "p")
    assert shared_run_id({}, "p", Ranks(1, 2), parent_pid=1) is None
    # Rank 0 exported its run id: its own children above rank 0 take it; nobody else.
    exported = {RANK0_RUN_ID: exported_run_id("abc", 4321), **job}
    assert shared_run_id(exported, "p", Ranks(1, 2), parent_pid=4321) == "abc"
    assert shared_run_id(exported, "p", Ranks(1, 2), parent_pid=99) == job_run_id(job, "p")
    assert shared_run_id(exported, "p", Ranks(0, 2), parent_pid=4321) == job_run_id(job, "p")


def _run(status: str) -> Run:
    return Run(id="r", project="p", name="r", status=status, created_at=0.0)


def test_a_follower_waits_until_rank_0_started_the_run() -> None:
    answers: list[Run | None] = [None, _run("queued"), _run("running")]
    now = [0.0]
    got = wait_for_leader(lambda: answers.pop(0), timeout=10.0, poll=1.0,
                          sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert got is not None and got.status == "running" and now[0] == 2.0


def test_a_follower_gives_up_when_rank_0_never_comes() -> None:
    now = [0.0]

    def read() -> Run | None:
        raise OSError("the server is away")

    assert wait_for_leader(read, timeout=3.0, poll=1.0,
                           sleep=lambda s: now.__setitem__(0, now[0] + s),
                           clock=lambda: now[0]) is None


# -- which commands ------------------------------------------------------------------------

def _cmd(i: int, status: str) -> Command:
    return Command(id=f"c{i}", run_id="r", name="validate", args={}, status=status,
                   created_at=float(i), delivered_at=None, finished_at=None, result=None,
                   error=None, requested_by=None, seq=i)


def test_a_follower_runs_each_command_once_whatever_rank_0_did_with_it() -> None:
    f = CommandFollower()
    # Joining: what is finished is history; what is open runs.
    first = f.new([_cmd(3, "delivered"), _cmd(1, "done"), _cmd(2, "pending"),
                   _cmd(0, "expired")])
    assert [c.id for c in first] == ["c2", "c3"]
    # Later: a new command runs even when rank 0 has answered it already.
    again = f.new([_cmd(1, "done"), _cmd(2, "done"), _cmd(3, "done"), _cmd(4, "done"),
                   _cmd(5, "pending"), _cmd(6, "expired")])
    assert [c.id for c in again] == ["c4", "c5"]
    assert f.new([_cmd(4, "done"), _cmd(5, "done")]) == []


# -- in-process, against a real store ------------------------------------------------------

def test_a_follower_attaches_records_its_load_and_keeps_no_metrics(
        store_dir: Path, store: Store) -> None:
    leader = td.init(project="p", dir=store_dir, strict=True, system_interval=None,
                     rank=0)
    follower = td.init(project="p", dir=store_dir, strict=True, id=leader.id, rank=1,
                       system_interval=0.05, tick=0.01, capture_console=False)
    assert (follower.id, follower.rank, follower.world_size) == (leader.id, 1, 2)
    follower.log({"loss": 1.0}, step=0)
    follower.summary["best"] = 1.0
    follower.config["lr"] = 9.0
    assert follower.save_checkpoint(b"x", step=0) is None
    assert follower.log_artifact(__file__) is None
    wait_for(lambda: any(s.key.startswith("sys/rank1/") for s in store.metric_keys(leader.id)),
             what="rank 1's system load")
    follower.finish()
    assert store.get_run(leader.id).status == "running"  # only rank 0 ends the run
    leader.log({"loss": 0.5}, step=0)
    leader.finish()
    rec = store.get_run(leader.id)
    assert rec.status == "completed" and "best" not in rec.summary and "lr" not in rec.config
    keys = {s.key for s in store.metric_keys(leader.id)}
    assert "loss" in keys and not any(k.startswith("rank1/") for k in keys)
    assert store.list_checkpoints(leader.id) == []
    assert not (store_dir / "runs" / leader.id / "checkpoints").exists()


def test_log_all_ranks_keeps_a_followers_metrics_under_its_rank(
        store_dir: Path, store: Store) -> None:
    with td.init(project="p", dir=store_dir, strict=True, system_interval=None) as leader:
        with td.init(project="p", dir=store_dir, strict=True, id=leader.id, rank=1,
                     system_interval=None, log_all_ranks=True) as follower:
            follower.log({"loss": 2.0}, step=0)
            assert follower.flush()
        leader.log({"loss": 1.0}, step=0)
    assert store.read_points(leader.id, "rank1/loss").values.tolist() == [2.0]
    assert store.read_points(leader.id, "loss").values.tolist() == [1.0]


def test_a_follower_without_a_shared_run_id_records_nothing(
        monkeypatch: pytest.MonkeyPatch, store_dir: Path, store: Store,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = td.init(project="p", dir=store_dir, strict=False, system_interval=None)
    assert run.id == "disabled" and run.rank == 1
    assert "TRAINDECK_RUN_ID" in capsys.readouterr().err
    run.log({"loss": 1.0})
    run.finish()
    assert store.list_runs()[0] == []


def test_rank_0_exports_its_run_for_the_ranks_it_starts(store_dir: Path) -> None:
    with td.init(project="p", dir=store_dir, strict=True, system_interval=None) as run:
        assert os.environ[RANK0_RUN_ID] == exported_run_id(run.id, os.getpid())
