"""The SDK's checkpoints in-process over a real store and real files: save/log, sidecars,
best marks, retention, the emergency save on an exception, last_checkpoint and
resume_or_create."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import open_dir_store, wait_for

import traindeck as td
from traindeck.checkpoints import parse_name, read_sidecar, sha256_file
from traindeck.store import Store


@pytest.fixture
def tdir(store_dir: Path) -> Path:
    """Where ``td.init(dir=tdir)`` writes: the folder of the suite's ``store`` (conftest)."""
    return store_dir




def start(tdir: Path, **kw: Any) -> td.Run:
    kw.setdefault("system_interval", None)
    kw.setdefault("strict", True)
    kw.setdefault("project", "p")
    return td.init(dir=tdir, **kw)


def store_path(tdir: Path, ck_id: str) -> str:
    with open_dir_store(tdir) as s:
        return s.get_checkpoint(ck_id).path


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".json")


def test_save_checkpoint_writes_file_sidecar_and_row(tdir: Path, store: Store) -> None:
    with start(tdir, name="a") as run:
        for s in range(11):
            run.log({"loss": 1.0 / (s + 1)}, step=s)
        path = run.save_checkpoint(b"weights-10", metrics={"val_loss": 0.3},
                                   metadata={"epoch": 1})
        # Raw bytes get a neutral extension (defect 4: .pth never verified).
        assert path == run.checkpoint_dir / "checkpoint_step_0000010.bin"
        assert run.checkpoint_dir == run.dir / "checkpoints"  # type: ignore[operator]
        run.flush()
        (ck,) = run.list_checkpoints()
    assert path.read_bytes() == b"weights-10"
    assert (ck.step, ck.kind, ck.path) == (10, "regular", str(path))
    assert ck.metrics == {"val_loss": 0.3} and ck.metadata == {"epoch": 1}
    assert ck.sha256 == sha256_file(path) and ck.size == len(b"weights-10") and ck.host
    # The store keeps the path relative to the run's folder (defect 15).
    assert store.get_checkpoint(ck.id).path == "checkpoints/checkpoint_step_0000010.bin"
    side = read_sidecar(path)
    assert side is not None
    assert (side["step"], side["kind"], side["run_id"], side["sha256"]) == (
        10, "regular", run.id, ck.sha256)
    assert any(e.kind == "checkpoint_saved" for e in store.list_events(run.id))


def test_log_checkpoint_records_a_file_the_script_wrote(tdir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "checkpoint_step_42.pt"
    mine.parent.mkdir()
    mine.write_bytes(b"x" * 100)
    with start(tdir, name="b") as run:
        assert run.log_checkpoint(mine, metrics={"acc": 0.5}) == mine
        with pytest.raises(FileNotFoundError):
            run.log_checkpoint(tmp_path / "nope.pt", step=1)
        with pytest.raises(ValueError):
            run.save_checkpoint(b"", step=1, kind="weird")
        run.flush()
        (ck,) = run.list_checkpoints()
    assert (ck.step, ck.size, ck.metrics) == (42, 100, {"acc": 0.5})
    # Outside the run's folder: recorded (absolute), but nothing is written beside it.
    assert ck.path == str(mine) and store_path(tdir, ck.id) == str(mine)
    assert read_sidecar(mine) is None and sorted(os.listdir(mine.parent)) == [mine.name]


def test_best_marks_and_retention_as_checkpoints_arrive(tdir: Path, store: Store) -> None:
    losses = [0.9, 0.5, 0.7, 0.2, 0.6, 0.8, float("nan")]
    with start(tdir, name="c", best="min:val_loss", keep_last=2, keep_best=1) as run:
        for i, loss in enumerate(losses):
            run.save_checkpoint(f"w{i}".encode(), step=i * 10, metrics={"val_loss": loss})
        run.flush()
        cks = run.list_checkpoints()
        folder = run.checkpoint_dir
    assert [c.step for c in cks] == [60, 50, 30]
    assert [c.step for c in cks if c.is_best] == [30]
    assert files(folder) == ["checkpoint_step_0000030.bin", "checkpoint_step_0000050.bin",
                             "checkpoint_step_0000060.bin"]
    events = store.list_events(run.id)
    deleted = sorted(e.payload["step"] for e in events if e.kind == "checkpoint_deleted")
    assert deleted == [0, 10, 20, 40]
    best_marks = [e.payload["step"] for e in events if e.kind == "checkpoint_best"]
    assert best_marks == [0, 10, 30]


def test_bad_checkpoint_options_are_value_errors(tdir: Path) -> None:
    for kw in ({"best": "mean:x"}, {"keep_last": 0}, {"keep_best": 2},
               {"checkpoint_template": "no_step{ext}"}):
        with pytest.raises(ValueError):
            start(tdir, name="bad", **kw)  # type: ignore[arg-type]


def test_an_uncaught_exception_saves_one_emergency_checkpoint(tdir: Path,
                                                               store: Store) -> None:
    calls: list[int] = []
    run = start(tdir, name="boom")

    @run.on_checkpoint
    def state(step: int) -> bytes:
        calls.append(step)
        return f"state at {step}".encode()

    with pytest.raises(RuntimeError), run:
        for s in range(5):
            run.log({"loss": 1.0}, step=s)
        raise RuntimeError("boom")
    assert calls == [4]
    assert store.get_run(run.id).status == "failed"
    (ck,) = store.list_checkpoints(run.id)
    assert (ck.step, ck.kind) == (4, "emergency")
    assert ck.path == "checkpoints/checkpoint_step_0000004_emergency.bin"
    assert (run.dir / ck.path).read_bytes() == b"state at 4"  # type: ignore[operator]
    assert ck.metadata["reason"] == "failed"
    assert "checkpoint" in store.get_run(run.id).commands_offered
    run.finish("failed")  # a second finish does not save again
    assert calls == [4]


def test_a_normal_exit_saves_no_emergency_checkpoint(tdir: Path, store: Store) -> None:
    with start(tdir, name="fine") as run:
        run.on_checkpoint(lambda: b"never")
        run.log({"loss": 1.0}, step=0)
    assert store.list_checkpoints(run.id) == []


def test_the_checkpoint_command_calls_the_save_handler(tdir: Path, store: Store) -> None:
    with start(tdir, name="cmd") as run:
        run.on_checkpoint(lambda: b"from the button")
        run.log({"loss": 1.0}, step=7)
        cmd = store.create_command(run.id, "checkpoint", {})
        done = wait_for(lambda: (run.poll(), store.get_command(cmd.id))[1].status == "done"
                        and store.get_command(cmd.id), what="the checkpoint command")
        assert done.result["step"] == 7
        run.flush()
        (ck,) = run.list_checkpoints()
    assert (ck.step, ck.kind, ck.metadata) == (7, "regular", {"reason": "command"})


def test_last_checkpoint_skips_and_flags_invalid_ones(tdir: Path, store: Store) -> None:
    with start(tdir, name="v") as run:
        assert run.last_checkpoint() is None
        for s in (10, 20, 30):
            run.save_checkpoint({"w": np.full(3, s)}, step=s, metadata={"s": s}, ext=".npz")
        run.flush()
        newest = run.checkpoint_dir / "checkpoint_step_0000030.npz"
        newest.write_bytes(b"corrupted")
        middle = run.checkpoint_dir / "checkpoint_step_0000020.npz"
        middle.unlink()
        assert run.last_checkpoint(expected_keys=["w", "opt"]) is None
        last = run.last_checkpoint(expected_keys=["w"])
        assert last is not None
        path, step, meta = last
        assert (path.name, step, meta) == ("checkpoint_step_0000010.npz", 10, {"s": 10})
        flags = {c.step: c.valid for c in run.list_checkpoints()}
    # a missing expected key is the caller's test, not a broken file: 10 is not flagged
    assert flags == {30: False, 20: False, 10: None}
    reasons = [e.payload["reason"] for e in store.list_events(run.id)
               if e.kind == "checkpoint_verified" and not e.payload["valid"]]
    assert any("sha256 mismatch" in r for r in reasons) and any("missing" in r for r in reasons)


def test_resume_or_create_continues_the_newest_run_by_name(tdir: Path,
                                                           store: Store) -> None:
    run = td.resume_or_create("job", project="p", dir=tdir, system_interval=None, strict=True)
    assert not run.is_resumed
    for s in range(20):
        run.log({"loss": float(s)}, step=s)
    run.save_checkpoint({"w": np.ones(2)}, step=9, metadata={"lr": 0.1}, ext=".npz")
    run.finish("interrupted")
    other = start(tdir, name="other")
    other.finish()

    again = td.resume_or_create("job", project="p", dir=tdir, system_interval=None,
                                strict=True)
    assert again.is_resumed and again.id == run.id
    last = again.last_checkpoint()
    assert last is not None and last.step == 9 and last.metadata == {"lr": 0.1}
    for s in range(last.step + 1, 25):
        again.log({"loss": float(s)}, step=s)
    again.finish()
    pts = store.read_points(run.id, "loss")
    assert list(pts.steps) == list(range(25))
    assert store.get_run(run.id).status == "completed"


def test_last_checkpoint_falls_back_to_files_on_disk(tdir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for name in ("checkpoint_step_99.npz", "checkpoint_step_0000100.npz"):
        np.savez(folder / name, w=np.ones(2))
    (folder / "checkpoint_step_0000150.npz").write_bytes(b"corrupt")
    (folder / ".checkpoint_step_0000200.pth.tmp-1-ab").write_bytes(b"half")
    with start(tdir, name="disk", checkpoint_dir=folder) as run:
        assert run.checkpoint_dir == folder
        last = run.last_checkpoint()
    assert last is not None and (last.path.name, last.step) == ("checkpoint_step_0000100.npz",
                                                                 100)


def test_a_disabled_run_still_writes_the_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINDECK_MODE", "disabled")
    run = td.init(project="p", checkpoint_dir=tmp_path / "c")
    path = run.save_checkpoint(b"w", step=3)
    assert path is not None
    assert path.read_bytes() == b"w" and parse_name(path) == (3, None, ".bin")
    # A disabled run has no folder of its own: nothing is written beside the file.
    assert run.list_checkpoints() == [] and os.listdir(tmp_path / "c") == [path.name]
    run.finish()


def test_mark_best_by_hand(tdir: Path, store: Store) -> None:
    with start(tdir, name="hand", keep_last=1) as run:
        first = run.save_checkpoint(b"a", step=1)
        run.flush()
        assert run.mark_best(first) is not None
        run.save_checkpoint(b"b", step=2)
        run.save_checkpoint(b"c", step=3)
        run.flush()
        assert [(c.step, c.is_best) for c in run.list_checkpoints()] == [(3, False), (1, True)]
        run.mark_best(3)
        with pytest.raises(ValueError):
            run.mark_best(2)
        assert [c.step for c in run.list_checkpoints() if c.is_best] == [3]
    assert first.exists()


def test_offline_runs_keep_files_and_sidecars_and_resume_from_them(
        tdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINDECK_MODE", "offline")
    with start(tdir, name="off") as run:
        run.log({"loss": 1.0}, step=5)
        path = run.save_checkpoint({"w": np.ones(2)}, metrics={"val_loss": 0.1}, ext=".npz")
        assert path.name == "checkpoint_step_0000005.npz" and path.exists()
        side = read_sidecar(path)
        assert side is not None and side["step"] == 5
        last = run.last_checkpoint(expected_keys=["w"])
        assert last is not None and last.step == 5 and last.path == path
