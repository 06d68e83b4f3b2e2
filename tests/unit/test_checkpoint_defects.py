"""Checkpoint defects a new user hit (issue 9, section 5), each reproduced with the real SDK,
a real store and real files: the natural writer of each library works, a failing writer
never kills the run, bytes verify on resume, sidecars never claim a stale best, the
dashboard's checkpoint button with a handler that saves itself, nothing written beside a
file outside the run's folder, paths stored relative to the run folder, and init() reaps
runs whose process died."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import open_dir_store, wait_for

import traindeck as td
from traindeck.checkpoints import read_sidecar
from traindeck.store import Store


@pytest.fixture
def tdir(store_dir: Path) -> Path:
    """Where ``td.init(dir=tdir)`` writes: the folder of the suite's ``store`` (conftest)."""
    return store_dir




def start(tdir: Path | str, **kw: Any) -> td.Run:
    kw.setdefault("system_interval", None)
    kw.setdefault("strict", True)
    kw.setdefault("project", "p")
    kw.setdefault("capture_console", False)
    return td.init(dir=tdir, **kw)


def hidden(folder: Path) -> list[str]:
    """Temporaries (and anything else hidden) left in a folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- defect 3: the natural writer of every common library ------------------------------


def test_numpy_savez_writer_works_and_leaves_no_temporaries(tdir: Path) -> None:
    w = np.arange(6.0)
    with start(tdir) as run:
        run.log({"loss": 1.0}, step=7)
        path = run.save_checkpoint(lambda p: np.savez(p, w=w), 7, ext=".npz")
        assert path is not None and path.name == "checkpoint_step_0000007.npz"
        with np.load(path) as npz:
            assert npz["w"].tolist() == w.tolist()
        # np.save appends .npy to any other name: followed to the file it wrote.
        npy = run.save_checkpoint(lambda p: np.save(p, w), 8, ext=".pth")
        assert npy is not None and np.load(npy, allow_pickle=False).tolist() == w.tolist()
        last = run.last_checkpoint()
        assert last is not None and last.step == 8
        assert hidden(run.checkpoint_dir) == []


def test_torch_and_pickle_writers_work(tdir: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {"w": torch.ones(3)}
    with start(tdir) as run:
        t = run.save_checkpoint(lambda p: torch.save(state, p), 1)
        k = run.save_checkpoint(lambda p: p.write_bytes(pickle.dumps({"a": 1})), 2,
                                ext=".pkl")
        o = run.save_checkpoint(state, 3)  # an object: torch.save
        assert t is not None and k is not None and o is not None
        assert torch.load(t, weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]
        assert pickle.loads(k.read_bytes()) == {"a": 1}
        last = run.last_checkpoint(expected_keys=["w"])
        assert last is not None and last.step == 3
        assert hidden(run.checkpoint_dir) == []


def test_safetensors_writer_works(tdir: Path) -> None:
    import safetensors.numpy as st  # the [dev] extra installs it

    with start(tdir) as run:
        path = run.save_checkpoint(lambda p: st.save_file({"w": np.zeros(2)}, p), 4,
                                   ext=".safetensors")
        assert path is not None and st.load_file(path)["w"].tolist() == [0.0, 0.0]
    # once the run is finished (its sidecar, completed in the background, is written)
    assert hidden(run.checkpoint_dir) == []


def test_a_failing_writer_never_raises_into_the_loop(tdir: Path, store: Store,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def broken(path: Path) -> None:
        path.write_bytes(b"half a file")
        raise OSError("disk on fire")

    run = start(tdir, strict=False)

    @run.on_checkpoint
    def handler() -> Any:
        return broken

    for step in range(3):
        run.log({"loss": 1.0}, step=step)
        assert run.save_checkpoint(broken, step) is None  # reported, not raised
    with pytest.raises(RuntimeError), run:
        raise RuntimeError("the training itself fails")
    # The emergency save failed the same way: still no temporaries, the run is failed.
    assert hidden(run.checkpoint_dir) == [] and not list(run.checkpoint_dir.iterdir())
    assert store.get_run(run.id).status == "failed"
    err = capsys.readouterr().err
    assert err.count("disk on fire") == 1  # reported once


def test_strict_mode_raises_a_failing_writer(tdir: Path) -> None:
    def broken(path: Path) -> None:
        raise ValueError("nope")

    with start(tdir) as run, pytest.raises(ValueError, match="nope"):
        run.save_checkpoint(broken, 1)


def test_an_emergency_save_with_numpy_writes_the_file(tdir: Path, store: Store) -> None:
    w = np.ones(4)
    run = start(tdir)
    run.on_checkpoint(lambda: (lambda p: np.savez(p, w=w)))
    with pytest.raises(KeyboardInterrupt), run:
        run.log({"loss": 1.0}, step=5)
        run.save_checkpoint(lambda p: np.savez(p, w=w), 5, ext=".npz")
        raise KeyboardInterrupt
    kinds = {c.kind for c in store.list_checkpoints(run.id)}
    assert kinds == {"regular", "emergency"}
    assert hidden(run.checkpoint_dir) == []


# -- defect 4: bytes verify on resume --------------------------------------------------


def test_a_checkpoint_saved_from_bytes_is_found_on_resume(tdir: Path) -> None:
    buf = io.BytesIO(b"\x00raw weights\xff" * 100)
    with start(tdir, name="bytes", id="bytes-run") as run:
        run.log({"loss": 1.0}, step=10)
        run.save_checkpoint(buf.getvalue(), 10)
    again = td.resume_or_create("bytes", project="p", dir=tdir, system_interval=None,
                                strict=True, capture_console=False)
    with again:
        assert again.is_resumed and again.id == "bytes-run"
        last = again.last_checkpoint()
        assert last is not None and last.step == 10
        assert last.path.read_bytes() == buf.getvalue()


# -- defect 5: no stale best in sidecars -------------------------------------------------


def test_sidecars_never_claim_a_stale_best(tdir: Path) -> None:
    with start(tdir, best="max:quality") as run:
        paths = [run.save_checkpoint(b"w%d" % i, i, metrics={"quality": float(i)})
                 for i in range(14)]
        run.flush()
        cks = run.list_checkpoints()
    assert sum(c.is_best for c in cks) == 1 and next(c for c in cks if c.is_best).step == 13
    sides = [read_sidecar(p) for p in paths if p is not None]
    assert len(sides) == 14
    assert not any(s and s.get("is_best") for s in sides)


# -- defect 2: the checkpoint button with a handler that saves itself ------------------


def test_checkpoint_button_with_a_handler_that_saves_itself(tdir: Path,
                                                            store: Store) -> None:
    run = start(tdir)

    @run.on_checkpoint
    def save(step: int) -> None:  # the pattern docs/checkpoints.md shows
        run.save_checkpoint(b"state", step, metadata={"by": "handler"})

    run.log({"loss": 1.0}, step=3)
    cmd = store.create_command(run.id, "checkpoint", requested_by="alice")

    def served() -> bool:
        run.poll()
        return store.get_command(cmd.id).status in ("done", "failed")

    wait_for(served, what="the checkpoint command")
    done = store.get_command(cmd.id)
    assert done.status == "done", done.error
    assert done.result["step"] == 3 and done.result["path"].endswith(".bin")
    run.finish()
    (ck,) = store.list_checkpoints(run.id)
    assert ck.step == 3 and ck.metadata == {"by": "handler"}


# -- defect 1 (SDK side): nothing written beside a file outside the run's folder -------


def test_log_checkpoint_of_an_outside_file_writes_nothing_beside_it(
        tdir: Path, tmp_path: Path, store: Store) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    target = outside / "hostname"
    target.write_text("host\n")
    with start(tdir) as run:
        assert run.log_checkpoint(target, step=5) == target
        run.flush()
    assert os.listdir(outside) == ["hostname"]
    (ck,) = store.list_checkpoints(run.id)
    assert ck.path == str(target)


# -- defect 15: paths relative to the run folder, also with a relative dir -------------


def test_a_relative_dir_stores_paths_the_cli_can_read(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with start("d7") as run:
        run.log({"loss": 1.0}, step=2)
        path = run.save_checkpoint(b"w", 2)
        run.flush()
        (ck,) = run.list_checkpoints()
    assert path is not None and ck.path == str(path.absolute())
    with open_dir_store(tmp_path / "d7") as s:
        assert s.list_checkpoints(run.id)[0].path == "checkpoints/checkpoint_step_0000002.bin"
    done = subprocess.run([sys.executable, "-m", "traindeck.cli", "ckpt", "verify", run.id,
                           "--dir", "d7"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr


# -- "any reader of the store reaps stale runs": init() of another run -----------------


def test_init_reaps_a_run_whose_process_died(tdir: Path, store: Store) -> None:
    dead = store.create_run(project="p", name="killed", heartbeat_timeout=5.0)
    store.heartbeat(dead.id, at=time.time() - 600)
    assert store.get_run(dead.id).status == "running"
    with start(tdir, name="next"):
        pass
    assert store.get_run(dead.id).status == "interrupted"
