"""Checkpoints of a real torch training script in a child process: SIGTERM leaves exactly
one valid emergency checkpoint at the real step; SIGKILL during a save leaves no half file
under a real name; resuming continues the same run without duplicate steps."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import open_dir_store, require_module, wait_for

from traindeck.checkpoints import parse_name, sha256_file, verify
from traindeck.runfiles import RunFiles
from traindeck.store import Checkpoint, Store

SCRIPT = Path(__file__).parent / "scripts" / "train_torch.py"


def torch_or_skip() -> ModuleType:
    return require_module("torch")



class Child:
    def __init__(self, tdir: Path, *args: str) -> None:
        env = {**os.environ, "TRAINDECK_DIR": str(tdir), "PYTHONUNBUFFERED": "1"}
        env.pop("TRAINDECK_RUN_ID", None)
        env.pop("TRAINDECK_MODE", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, prefix: str, timeout: float = 60.0) -> list[str]:
        found = wait_for(lambda: next((ln for ln in list(self.lines) if ln.startswith(prefix)),
                                      None), timeout, f"{prefix!r} from the child; got "
                                                      f"{self.lines[-20:]}")
        return str(found).split()

    def wait(self, timeout: float = 120.0) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return rc

    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    return tmp_path / "td"


@pytest.fixture
def reader(tdir: Path) -> Iterator[Store]:
    tdir.mkdir(parents=True, exist_ok=True)
    s = open_dir_store(tdir)
    yield s
    s.close()


def real_named(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if parse_name(p) is not None]


def on_disk(tdir: Path, ck: Checkpoint) -> Checkpoint:
    """The row with its path read against the run's folder, as every reader does."""
    return dataclasses.replace(ck, path=str(RunFiles(tdir).resolve(ck.run_id, ck.path)))


def assert_no_duplicate_steps(store: Store, run_id: str, key: str, n: int) -> None:
    steps = store.read_points(run_id, key).steps.tolist()
    assert steps == list(range(n)), steps[:20]


def test_sigterm_saves_one_emergency_checkpoint_then_resume_continues(
        tdir: Path, reader: Store) -> None:
    torch = torch_or_skip()
    child = Child(tdir, "--name", "term", "--every", "20")
    run_id = child.line("START")[1]
    child.line("SAVED 60")
    child.proc.send_signal(signal.SIGTERM)
    child.wait()
    assert "DONE" not in child.lines

    run = reader.get_run(run_id)
    assert run.status == "interrupted", child.output()
    last_logged = int(reader.read_points(run_id, "loss").steps.max())
    folder = tdir / "runs" / run_id / "checkpoints"
    emergency = [p for p in real_named(folder) if parse_name(p).kind == "emergency"]  # type: ignore[union-attr]
    assert len(emergency) == 1, sorted(p.name for p in folder.iterdir())
    assert parse_name(emergency[0]).step == last_logged  # type: ignore[union-attr]
    state = torch.load(emergency[0], weights_only=True, map_location="cpu")
    assert state["step"] == last_logged and "model" in state
    rows = reader.list_checkpoints(run_id, kind="emergency")
    assert len(rows) == 1 and rows[0].step == last_logged
    # The store keeps paths relative to the run's folder.
    assert rows[0].path == f"checkpoints/{emergency[0].name}"
    assert verify(on_disk(tdir, rows[0]), expected_keys=["model", "opt", "step"])[0]
    assert rows[0].metadata.get("signal") == "SIGTERM"
    # retention ran as they arrived: keep_last=2, keep_best=1, and the best is kept
    regular = reader.list_checkpoints(run_id, kind="regular")
    assert 1 <= len(regular) <= 3 and sum(c.is_best for c in reader.list_checkpoints(run_id)) == 1
    for p in real_named(folder):
        torch.load(p, weights_only=True, map_location="cpu")

    total = last_logged + 30
    again = Child(tdir, "--name", "term", "--every", "20", "--steps", str(total))
    _, rid, first, resumed = again.line("START")
    assert (rid, int(first), resumed) == (run_id, last_logged + 1, "1")
    assert again.wait() == 0, again.output()
    assert reader.get_run(run_id).status == "completed"
    assert_no_duplicate_steps(reader, run_id, "loss", total)


def test_sigkill_during_a_save_leaves_no_half_file_and_resume_uses_the_last_good_one(
        tdir: Path, reader: Store) -> None:
    torch = torch_or_skip()
    child = Child(tdir, "--name", "kill", "--every", "20", "--slow-save", "0.1",
                  "--keep-last", "5")
    run_id = child.line("START")[1]
    child.line("SAVED 20", timeout=90)
    _, _, temp = child.line("WRITING 40", timeout=90)
    assert Path(temp).exists() and parse_name(temp) is None
    child.proc.kill()
    child.wait()

    folder = tdir / "runs" / run_id / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    assert not (folder / "checkpoint_step_0000040.pth").exists(), names
    assert Path(temp).exists()  # the half write stayed under its temporary name
    real = real_named(folder)
    assert [parse_name(p).step for p in real] == [20], names  # type: ignore[union-attr]
    for p in real:
        state = torch.load(p, weights_only=True, map_location="cpu")
        assert state["step"] == parse_name(p).step  # type: ignore[union-attr]

    again = Child(tdir, "--name", "kill", "--every", "20", "--steps", "70")
    _, rid, first, resumed = again.line("START")
    assert (rid, int(first), resumed) == (run_id, 21, "1")
    assert again.wait() == 0, again.output()
    assert reader.get_run(run_id).status == "completed"
    assert_no_duplicate_steps(reader, run_id, "loss", 70)
    val_steps = reader.read_points(run_id, "val_loss").steps.tolist()
    assert val_steps == [20, 40, 60]
    assert not Path(temp).exists()  # the stale temporary was cleared


def test_more_signals_during_the_emergency_save_do_not_cut_it(tdir: Path,
                                                              reader: Store) -> None:
    torch = torch_or_skip()
    child = Child(tdir, "--name", "twice", "--every", "20", "--slow-emergency", "0.1")
    run_id = child.line("START")[1]
    child.line("SAVED 20")
    child.proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, step, temp = child.line("WRITING", timeout=60)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        child.proc.send_signal(sig)
        time.sleep(0.05)
    child.wait()
    folder = tdir / "runs" / run_id / "checkpoints"
    emergency = folder / f"checkpoint_step_{int(step):07d}_emergency.pth"
    assert emergency.exists(), (sorted(p.name for p in folder.iterdir()), child.output())
    assert not Path(temp).exists()
    state = torch.load(emergency, weights_only=True, map_location="cpu")
    assert state["step"] == int(step)
    assert int(reader.read_points(run_id, "loss").steps.max()) == int(step)
    (row,) = reader.list_checkpoints(run_id, kind="emergency")
    assert row.step == int(step) and verify(on_disk(tdir, row))[0]
    assert reader.get_run(run_id).status == "interrupted"


CRASHING = """
import traindeck as td
run = td.init(project="ckpt", name="crash", system_interval=None)
run.on_checkpoint(lambda step: b"state at %d" % step)
for step in range(7):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
raise RuntimeError("a bug in the training loop")
"""


def test_a_crash_without_a_with_block_saves_the_emergency_checkpoint_at_exit(
        tdir: Path, reader: Store) -> None:
    env = {**os.environ, "TRAINDECK_DIR": str(tdir)}
    env.pop("TRAINDECK_RUN_ID", None)
    env.pop("TRAINDECK_MODE", None)
    proc = subprocess.run([sys.executable, "-c", CRASHING], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "a bug in the training loop" in proc.stderr
    (run,) = reader.list_runs(project="ckpt")[0]
    assert run.status == "failed"
    (ck,) = reader.list_checkpoints(run.id)
    assert (ck.kind, ck.step, ck.metadata["reason"]) == ("emergency", 6, "failed")
    assert ck.path == "checkpoints/checkpoint_step_0000006_emergency.bin"  # bytes: .bin
    path = on_disk(tdir, ck).path
    assert Path(path).read_bytes() == b"state at 6"
    assert ck.sha256 == sha256_file(path)
