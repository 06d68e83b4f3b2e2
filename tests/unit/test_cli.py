"""The ``traindeck`` command through typer's CliRunner, over a real store in a temp folder."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from traindeck import __version__
from traindeck.cli import app
from traindeck.cli.output import duration, number
from traindeck.cli.serve import is_loopback
from traindeck.cli.tail import SPARK_CHARS, sparkline
from traindeck.store import RunProgress, Store, db_path

# Environment that would change what the CLI prints is cleared for every invocation.
CLEAN_ENV: dict[str, str | None] = {
    "TRAINDECK_DIR": None, "TRAINDECK_FILES_ROOT": None, "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None, "NO_COLOR": None,
    "TERM": "dumb",
}


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env={**CLEAN_ENV, **(env or {})})


def add_run(store: Store, project: str, name: str, *, status: str = "completed",
            steps: int = 10, config: dict[str, object] | None = None) -> str:
    run = store.create_run(project=project, name=name, config=config or {"lr": 0.1},
                           commands_offered=["stop", "pause", "resume", "validate"])
    if steps:
        store.write_metrics(run.id, {
            "loss": (list(range(steps)), [1.0 + i for i in range(steps)],
                     [1.0 / (i + 1) for i in range(steps)]),
            "sys/cpu_percent": ([0, 1], [1.0, 2.0], [10.0, 20.0]),
        })
    if status != "running":
        store.set_status(run.id, status)
    return run.id


@pytest.fixture
def runs(store: Store) -> dict[str, str]:
    ids = {
        "a": add_run(store, "mnist", "baseline", steps=100),
        "b": add_run(store, "mnist", "wide", status="running", steps=5),
        "c": add_run(store, "cifar", "resnet", status="failed", steps=0),
    }
    store.update_run(ids["a"], summary={"best_acc": 0.97})
    cmd = store.create_command(ids["b"], "validate", {"scale": 2})
    store.take_pending_commands(ids["b"])
    store.finish_command(cmd.id, ok=True, result={"val_loss": 0.25})
    return ids


def test_sqlite_version_of_a_folder_without_a_store(store_dir: Path, tmp_path: Path) -> None:
    result = invoke("version", "-d", str(tmp_path / "none"))
    assert result.exit_code == 0, result.output
    assert f"traindeck {__version__}" in result.stdout
    assert f"store: none at {tmp_path / 'none' / 'traindeck.db'}" in result.stdout
    assert not (tmp_path / "none").exists()  # looking creates nothing


def test_version_names_the_opened_store_engine(store_dir: Path, store: Store) -> None:
    result = invoke("version", "-d", str(store_dir), env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    assert f"store: {store.location} ({store.engine_version()})" in result.stdout


@pytest.mark.parametrize("path", [
    [], ["serve"], ["demo"], ["runs"], ["runs", "ls"], ["runs", "show"], ["runs", "rm"],
    ["tail"], ["version"],
])
def test_every_command_has_help(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_ls_lists_runs_newest_first(store_dir: Path, runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", "--dir", str(store_dir))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "project", "name", "status", "steps", "progress",
                                "speed", "eta", "created", "duration"]
    assert [line.split()[0] for line in lines[1:]] == [runs["c"], runs["b"], runs["a"]]
    row_a = lines[3].split()
    assert row_a[1:8] == ["mnist", "baseline", "completed", "100", "-", "-", "-"]
    assert lines[1].split()[4] == "-"  # a run with no metrics has no steps


def test_ls_shows_progress_speed_and_eta(store_dir: Path, store: Store) -> None:
    running = add_run(store, "p", "long", status="running", steps=250)
    store.update_run(running, total_steps=1000)
    # What a server following the store writes (server/progress.py).
    store.set_progress([RunProgress(running, 0.249, 12.5, 60.1)])
    done = add_run(store, "p", "short", steps=50)
    store.update_run(done, total_steps=50)
    result = invoke("runs", "ls", "--dir", str(store_dir), env={"COLUMNS": "1000"})
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows[running][4:8] == ["250/1000", "25%", "12.5/s", "1m00s"]
    assert rows[done][4:8] == ["50/50", "100%", "-", "-"]
    shown = json.loads(invoke("runs", "ls", "--dir", str(store_dir), "--json").stdout)
    [run] = [r for r in shown["runs"] if r["id"] == running]
    assert (run["total_steps"], run["progress"], run["steps_per_s"], run["eta_s"]) == (
        1000, 0.249, 12.5, 60.1)


def test_ls_reads_traindeck_dir_from_the_environment(store_dir: Path,
                                                     runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", env={"TRAINDECK_DIR": str(store_dir)})
    assert result.exit_code == 0, result.output
    assert runs["a"] in result.stdout


def test_ls_filters_and_limit(store_dir: Path, runs: dict[str, str]) -> None:
    d = str(store_dir)
    by_project = invoke("runs", "ls", "-d", d, "--project", "mnist").stdout
    assert runs["a"] in by_project and runs["b"] in by_project and runs["c"] not in by_project
    by_status = invoke("runs", "ls", "-d", d, "--status", "running", "--status", "failed").stdout
    assert runs["a"] not in by_status and runs["b"] in by_status and runs["c"] in by_status
    limited = invoke("runs", "ls", "-d", d, "--limit", "1").stdout
    assert runs["c"] in limited and runs["b"] not in limited
    assert "1 of 3 runs" in limited
    none = invoke("runs", "ls", "-d", d, "--project", "nope")
    assert none.exit_code == 0 and "no runs match" in none.stdout


def test_ls_json(store_dir: Path, runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", "-d", str(store_dir), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == 3
    steps = {r["id"]: r["steps"] for r in data["runs"]}
    assert steps == {runs["a"]: 100, runs["b"]: 5, runs["c"]: None}


def test_ls_rejects_an_unknown_status(store_dir: Path, runs: dict[str, str]) -> None:
    result = invoke("runs", "ls", "-d", str(store_dir), "--status", "sleeping")
    assert result.exit_code == 1
    assert "unknown status 'sleeping'" in result.stderr
    assert "Traceback" not in result.output


def test_sqlite_reading_commands_do_not_create_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    for args in (["runs", "ls"], ["runs", "show", "x"], ["tail", "x", "--once"],
                 ["runs", "rm", "x", "--yes"]):
        result = invoke(*args, "--dir", str(missing))
        assert result.exit_code == 1, args
        assert "no traindeck store at" in result.stderr
        assert isinstance(result.exception, SystemExit)
    assert not db_path(missing).exists()


def test_show(store_dir: Path, store: Store, runs: dict[str, str]) -> None:
    store.write_metrics(runs["a"], {"val/loss": ([99], [5.0], [math.nan])})
    result = invoke("runs", "show", runs["a"], "--dir", str(store_dir))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (runs["a"], "baseline", "completed", "'lr': 0.1", "'best_acc': 0.97",
                 "latest metrics", "sys/cpu_percent", "validate"):
        assert text in out, text
    loss_row = next(line for line in out.splitlines() if " loss " in line)
    assert "99" in loss_row and "0.01" in loss_row
    nan_row = next(line for line in out.splitlines() if "val/loss" in line)
    assert "nan" in nan_row


def test_show_lists_commands_with_results(store_dir: Path, runs: dict[str, str]) -> None:
    out = invoke("runs", "show", runs["b"], "-d", str(store_dir)).stdout
    row = next(line for line in out.splitlines() if "validate" in line and "done" in line)
    assert '{"val_loss": 0.25}' in row


def test_show_json_spells_nan(store_dir: Path, store: Store,
                              runs: dict[str, str]) -> None:
    store.write_metrics(runs["a"], {"val/loss": ([99], [5.0], [math.nan])})
    result = invoke("runs", "show", runs["a"], "-d", str(store_dir), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == runs["a"]
    assert data["latest"]["val/loss"]["value"] == "nan"
    assert data["latest"]["loss"] == {"step": 99, "time": 100.0, "value": 0.01}


def test_show_accepts_a_unique_prefix(store_dir: Path, store: Store) -> None:
    store.create_run(project="p", name="one", id="alpha-1")
    store.create_run(project="p", name="two", id="alpha-2")
    store.create_run(project="p", name="three", id="beta-1")
    ok = invoke("runs", "show", "bet", "-d", str(store_dir))
    assert ok.exit_code == 0 and "beta-1" in ok.stdout
    ambiguous = invoke("runs", "show", "alpha", "-d", str(store_dir))
    assert ambiguous.exit_code == 1
    assert "ambiguous" in ambiguous.stderr and "alpha-1" in ambiguous.stderr


def test_unknown_run_is_a_clear_error(store_dir: Path, runs: dict[str, str]) -> None:
    for args in (["runs", "show", "nosuchrun"], ["tail", "nosuchrun", "--once"],
                 ["runs", "rm", "nosuchrun", "--yes"]):
        result = invoke(*args, "--dir", str(store_dir))
        assert result.exit_code == 1, args
        assert "no run 'nosuchrun'" in result.stderr
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)


def test_rm_asks_first(store_dir: Path, store: Store, runs: dict[str, str]) -> None:
    declined = invoke("runs", "rm", runs["a"], "-d", str(store_dir), input="n\n")
    assert declined.exit_code == 1
    assert "nothing deleted" in declined.stderr
    assert store.get_run(runs["a"]).id == runs["a"]
    accepted = invoke("runs", "rm", runs["a"], "-d", str(store_dir), input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "deleted run" in accepted.stdout
    assert [r.id for r in store.list_runs()[0]] == [runs["c"], runs["b"]]


def test_rm_deletes_runs_and_their_files(store_dir: Path, store: Store,
                                         runs: dict[str, str], tmp_path: Path) -> None:
    """Defect 10: deleting a run deletes its folder; --keep-files keeps it; a checkpoint
    recorded outside the run's folder is never deleted."""
    folder = store_dir / "runs" / runs["c"]
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint_step_0000001.npz").write_bytes(b"x")
    (folder / "media" / "samples").mkdir(parents=True)
    (folder / "media" / "samples" / "0_0.png").write_bytes(b"png")
    outside = tmp_path / "elsewhere" / "model.pt"
    outside.parent.mkdir()
    outside.write_bytes(b"weights")
    store.add_checkpoint(runs["c"], step=1, path="checkpoints/checkpoint_step_0000001.npz")
    store.add_checkpoint(runs["c"], step=2, path=str(outside))
    gone = store_dir / "runs" / runs["a"]
    gone.mkdir(parents=True)
    result = invoke("runs", "rm", runs["a"], runs["c"], "--yes", "-d", str(store_dir))
    assert result.exit_code == 0, result.output
    assert "deleted 2 runs and their files" in result.stdout
    assert not folder.exists() and not gone.exists()
    assert outside.read_bytes() == b"weights"
    assert [r.id for r in store.list_runs()[0]] == [runs["b"]]
    other = add_run(store, "p", "x")
    (store_dir / "runs" / other / "checkpoints").mkdir(parents=True)
    kept = invoke("runs", "rm", other, "--yes", "--keep-files", "-d", str(store_dir))
    assert kept.exit_code == 0, kept.output
    assert "deleted run" in kept.stdout and "files" not in kept.stdout
    assert (store_dir / "runs" / other / "checkpoints").is_dir()
    assert [r.id for r in store.list_runs()[0]] == [runs["b"]]


def test_rm_and_show_take_the_files_root(store_dir: Path, store: Store,
                                         runs: dict[str, str], tmp_path: Path) -> None:
    """Run folders under another root than the store's folder: --files-root (or
    TRAINDECK_FILES_ROOT) says where; the store's folder is left alone."""
    root = tmp_path / "scratch"
    beside = store_dir / "runs" / runs["a"] / "checkpoints"
    beside.mkdir(parents=True)
    for ref in ("a", "c"):
        (root / "runs" / runs[ref] / "checkpoints").mkdir(parents=True)
    shown = invoke("runs", "show", runs["a"], "-d", str(store_dir), "--files-root", str(root),
                   env={"COLUMNS": "1000"})
    assert shown.exit_code == 0, shown.output
    assert str(root / "runs" / runs["a"]) in shown.stdout
    result = invoke("runs", "rm", runs["a"], "--yes", "-d", str(store_dir),
                    "--files-root", str(root))
    assert result.exit_code == 0, result.output
    assert not (root / "runs" / runs["a"]).exists() and beside.is_dir()
    from_env = invoke("runs", "rm", runs["c"], "--yes", "-d", str(store_dir),
                      env={"TRAINDECK_FILES_ROOT": str(root)})
    assert from_env.exit_code == 0, from_env.output
    assert not (root / "runs" / runs["c"]).exists()


def test_rm_refuses_live_runs_and_unknown_ids(store_dir: Path, store: Store,
                                              runs: dict[str, str]) -> None:
    live = invoke("runs", "rm", runs["b"], "--yes", "-d", str(store_dir))
    assert live.exit_code == 1 and "still running" in live.stderr
    mixed = invoke("runs", "rm", runs["a"], "nope", "--yes", "-d", str(store_dir))
    assert mixed.exit_code == 1
    assert len(store.list_runs()[0]) == 3  # nothing deleted when one id is wrong
    forced = invoke("runs", "rm", runs["b"], "--yes", "--force", "-d", str(store_dir))
    assert forced.exit_code == 0, forced.output
    assert len(store.list_runs()[0]) == 2


def test_tail_once(store_dir: Path, store: Store, runs: dict[str, str]) -> None:
    store.write_metrics(runs["b"], {"acc": ([0, 1, 2, 3, 4], [1.0] * 5,
                                            [0.1, 0.2, math.nan, 0.4, 0.5])})
    result = invoke("tail", runs["b"], "--once", "-d", str(store_dir))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert runs["b"] in out and "mnist/wide" in out and "running" in out
    assert "step 4" in out
    lines = out.splitlines()
    metric_order = [k for line in lines for k in ("acc", "loss", "sys/cpu_percent")
                    if f" {k} " in line]
    assert metric_order == ["acc", "loss", "sys/cpu_percent"]  # training first, system last
    acc_row = next(line for line in lines if " acc " in line)
    assert "!" in acc_row and SPARK_CHARS[-1] in acc_row
    loss_row = next(line for line in lines if " loss " in line)
    assert "▁" in loss_row and "0.2" in loss_row
    assert "new → running" in out
    assert 'validate done: {"val_loss": 0.25}' in out


def test_tail_follows_until_the_run_ends(store_dir: Path, runs: dict[str, str]) -> None:
    # A finished run: the live view shows it and returns by itself.
    result = invoke("tail", runs["a"], "-d", str(store_dir), "--interval", "0.05")
    assert result.exit_code == 0, result.output
    assert f"run {runs['a']} ended: completed" in result.stdout


def test_serve_refuses_to_expose_itself_without_insecure(tmp_path: Path) -> None:
    result = invoke("serve", "--host", "0.0.0.0", "--dir", str(tmp_path / "td"))
    assert result.exit_code == 1
    assert "--insecure" in result.stderr
    assert not (tmp_path / "td").exists()


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.com", "::"))


def test_demo_errors_before_starting_anything(tmp_path: Path) -> None:
    missing = invoke("demo", "--script", str(tmp_path / "no.py"), "--dir", str(tmp_path / "d"))
    assert missing.exit_code == 1 and "no training script" in missing.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = invoke("demo", "--port", str(port), "--dir", str(tmp_path / "d"))
    assert taken.exit_code == 1 and f"port {port}" in taken.stderr
    assert not (tmp_path / "d").exists()


def test_sparkline() -> None:
    assert str(sparkline([1, 2, 3, 4, 5, 6, 7, 8])) == SPARK_CHARS
    assert str(sparkline([3.0, 3.0])) == SPARK_CHARS[4] * 2
    assert str(sparkline([0.0, math.nan, math.inf, 1.0])) == "▁!!█"
    assert str(sparkline([])) == ""
    assert len(sparkline(list(range(100)), width=10)) == 10


def test_formatting() -> None:
    assert [duration(s) for s in (None, 5, 65, 3 * 3600 + 7 * 60, 2 * 86400 + 3600)] == [
        "-", "5s", "1m05s", "3h07m", "2d01h"]
    assert [number(v) for v in (None, math.nan, math.inf, -math.inf, 3.0, 0.1234567)] == [
        "-", "nan", "inf", "-inf", "3", "0.123457"]
