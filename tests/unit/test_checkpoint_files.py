"""Atomic writes, sidecars, hashing, verification and retention over real files and a real
store."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import require_module

from traindeck.checkpoints import (
    atomic_write,
    delete_checkpoint_files,
    format_name,
    parse_best,
    parse_name,
    prune,
    read_sidecar,
    remove_stale_temps,
    save_object,
    sha256_file,
    sidecar_path,
    to_delete,
    verify,
    write_sidecar,
)
from traindeck.runfiles import RunFiles
from traindeck.store import Checkpoint, Store


def torch_or_skip() -> ModuleType:
    return require_module("torch")


# -- writing -------------------------------------------------------------------------


def test_atomic_write_renames_a_complete_file(tmp_path: Path) -> None:
    target = tmp_path / "ck" / format_name(3)
    seen: list[Path] = []

    def writer(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == target.parent and tmp.name.startswith(".")
        assert parse_name(tmp) is None  # a temporary never looks like a checkpoint
        tmp.write_bytes(b"x" * 1000)
        assert not target.exists()

    assert atomic_write(target, writer) == target
    assert target.read_bytes() == b"x" * 1000
    assert not seen[0].exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_a_failing_writer_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / format_name(3)
    target.write_bytes(b"old")

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, writer)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_folder_checkpoint_is_written_and_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / format_name(5, ext="")

    def writer(content: bytes) -> Any:
        def write(tmp: Path) -> None:
            tmp.mkdir()
            (tmp / "weights.bin").write_bytes(content)
            (tmp / "sub").mkdir()
            (tmp / "sub" / "cfg.json").write_text("{}")
        return write

    atomic_write(target, writer(b"one"))
    first = sha256_file(target)
    atomic_write(target, writer(b"two"))
    assert (target / "weights.bin").read_bytes() == b"two"
    assert sha256_file(target) != first
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert verify(SimpleNamespace(path=str(target), sha256=sha256_file(target)))[0]


def test_save_object_takes_bytes_a_writer_or_arrays(tmp_path: Path) -> None:
    save_object(b"abc", tmp_path / "a.pth")
    save_object(lambda p: Path(p).write_bytes(b"w"), tmp_path / "b.pth")
    save_object({"w": np.arange(3)}, tmp_path / "c.npz")
    assert (tmp_path / "a.pth").read_bytes() == b"abc"
    assert (tmp_path / "b.pth").read_bytes() == b"w"
    with np.load(tmp_path / "c.npz") as z:
        assert list(z["w"]) == [0, 1, 2]


def test_sha256_and_sidecar(tmp_path: Path) -> None:
    p = tmp_path / format_name(1)
    data = os.urandom(3 << 20)
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    write_sidecar(p, {"step": 1, "metrics": {"loss": float("nan")}})
    assert sidecar_path(p).name == p.name + ".json"
    side = read_sidecar(p)
    assert side is not None and side["step"] == 1
    assert read_sidecar(tmp_path / "nope.pth") is None


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".{format_name(1)}.tmp-{pid}-abcd"
    mine = tmp_path / f".{format_name(2)}.tmp-{os.getpid()}-abcd"
    stale.write_bytes(b"half")
    mine.write_bytes(b"being written")
    assert remove_stale_temps(tmp_path) == [stale]
    assert mine.exists()


# -- verify --------------------------------------------------------------------------


def ck_at(path: Path, sha: str | None = None) -> Any:
    return SimpleNamespace(path=str(path), sha256=sha)


def test_verify_missing_empty_and_hash_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "checkpoint_step_1.dat"
    assert verify(ck_at(p)) == (False, f"missing: {p} does not exist")
    p.write_bytes(b"")
    assert verify(ck_at(p))[0] is False
    p.write_bytes(b"data")
    good = sha256_file(p)
    assert verify(ck_at(p, good))[0] is True
    ok, reason = verify(ck_at(p, "0" * 64))
    assert not ok and "sha256 mismatch" in reason


def test_verify_npz_and_its_keys(tmp_path: Path) -> None:
    p = tmp_path / "checkpoint_step_0000001.npz"
    save_object({"w": np.ones(3), "step": np.array(1)}, p)
    assert verify(ck_at(p), expected_keys=["w", "step"])[0]
    ok, reason = verify(ck_at(p), expected_keys=["w", "opt"])
    assert not ok and "opt" in reason
    p.write_bytes(p.read_bytes()[:40])
    assert not verify(ck_at(p))[0]


def test_verify_torch_files(tmp_path: Path) -> None:
    torch = torch_or_skip()
    p = tmp_path / format_name(10)
    save_object({"model": {"w": torch.ones(4)}, "step": 10}, p)
    ok, reason = verify(ck_at(p, sha256_file(p)), expected_keys=["model", "step"])
    assert ok, reason
    ok, reason = verify(ck_at(p), expected_keys=["optimizer"])
    assert not ok and "optimizer" in reason
    # truncated: torch cannot open it (no hash recorded, so only loading can tell)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    ok, reason = verify(ck_at(p))
    assert not ok and "torch cannot load it" in reason
    # arbitrary pickled objects need weights_only=False: not offered for resume
    q = tmp_path / format_name(11)
    save_object({"thing": SimpleNamespace(a=1)}, q)
    ok, reason = verify(ck_at(q))
    assert not ok and "torch cannot load it" in reason


# -- best and retention over a real store ----------------------------------------------


def add(store: Store, run_id: str, step: int, *, loss: float | None = None,
        kind: str = "regular", is_best: bool = False) -> Checkpoint:
    """A checkpoint file in the run's folder, recorded as the SDK does (relative path)."""
    files = RunFiles(store.files_root)
    path = files.checkpoints(run_id) / format_name(step, {"regular": None}.get(kind, "_" + kind))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"step {step}".encode())
    write_sidecar(path, {"step": step})
    metrics = {} if loss is None else {"val_loss": loss}
    return store.add_checkpoint(run_id, step=step, path=files.stored_path(run_id, path),
                                kind=kind, metrics=metrics, size=path.stat().st_size,
                                sha256=sha256_file(path), is_best=is_best)


def test_prune_keeps_last_and_best_and_never_the_marked_or_newest(store: Store,
                                                                  tmp_path: Path) -> None:
    run = store.create_run(project="p", name="r")
    losses = {100: 0.9, 200: 0.5, 300: 0.1, 400: 0.7, 500: 0.8, 600: 0.6}
    cks = {s: add(store, run.id, s, loss=v) for s, v in losses.items()}
    store.mark_best(cks[300].id)
    deleted = prune(store, RunFiles(store.files_root), run.id, keep_last=2, keep_best=1,
                    best="min:val_loss")
    assert sorted(c.step for c in deleted) == [100, 200, 400]
    left = sorted(c.step for c in store.list_checkpoints(run.id))
    assert left == [300, 500, 600]
    files = RunFiles(store.files_root)
    for c in deleted:
        on_disk = files.resolve(run.id, c.path)
        assert not on_disk.exists() and not sidecar_path(on_disk).exists()
    for c in store.list_checkpoints(run.id):
        assert files.resolve(run.id, c.path).exists()
    events = [e for e in store.list_events(run.id) if e.kind == "checkpoint_deleted"]
    assert sorted(e.payload["step"] for e in events) == [100, 200, 400]
    assert all("retention" in e.payload["reason"] for e in events)


def test_prune_never_deletes_best_newest_or_protected(store: Store, tmp_path: Path) -> None:
    run = store.create_run(project="p", name="r")
    cks = [add(store, run.id, s) for s in (1, 2, 3, 4, 5)]
    store.mark_best(cks[0].id)
    files = RunFiles(store.files_root)
    deleted = prune(store, files, run.id, keep_last=1, keep_best=None,
                    protect=[cks[1].id, str(files.resolve(run.id, cks[2].path))])
    assert [c.step for c in deleted] == [4]
    assert sorted(c.step for c in store.list_checkpoints(run.id)) == [1, 2, 3, 5]
    # keep_last=0 still keeps the newest and the best
    deleted = prune(store, files, run.id, keep_last=0, keep_best=None)
    assert sorted(c.step for c in store.list_checkpoints(run.id)) == [1, 5]
    assert prune(store, files, run.id, keep_last=None, keep_best=None) == []


def test_keep_best_alone_keeps_checkpoints_without_the_metric(store: Store,
                                                              tmp_path: Path) -> None:
    run = store.create_run(project="p", name="r")
    add(store, run.id, 1, loss=0.5)
    add(store, run.id, 2)
    add(store, run.id, 3, loss=float("nan"))
    add(store, run.id, 4, loss=0.2)
    add(store, run.id, 5, loss=0.9)
    deleted = prune(store, RunFiles(store.files_root), run.id, keep_last=None, keep_best=1,
                    best="min:val_loss")
    assert [c.step for c in deleted] == [1]
    assert sorted(c.step for c in store.list_checkpoints(run.id)) == [2, 3, 4, 5]


def test_prune_and_verify_read_stored_paths_in_the_run_folder_from_any_cwd(
        tmp_path: Path, store_dir: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows a real run made (paths relative to its folder), pruned and verified from another
    folder: the run's files go and verify finds them; a same-named decoy in the current
    folder is untouched and never taken for the checkpoint."""
    import traindeck as td

    with td.init(dir=store_dir, project="p", name="r", system_interval=None,
                 strict=True) as run:
        for step in (1, 2, 3):
            run.log({"loss": 1.0 / step}, step=step)
            run.save_checkpoint(f"weights {step}".encode())
        run.flush()
    rows = sorted(store.list_checkpoints(run.id), key=lambda c: c.step)
    assert [c.path for c in rows] == [f"checkpoints/{format_name(s, ext='.bin')}"
                                      for s in (1, 2, 3)]
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "checkpoints").mkdir(parents=True)
    decoys = [elsewhere / c.path for c in rows]
    for d in decoys:
        d.write_bytes(b"decoy")
    monkeypatch.chdir(elsewhere)
    files = RunFiles(store.files_root)
    for ck in rows:
        assert verify(ck, files=files) == (True, "ok (raw bytes, sha256 matches)")
    # Without the run's folder a relative path is refused, never read in the cwd.
    assert verify(rows[0])[0] is False
    deleted = prune(store, files, run.id, keep_last=1, keep_best=None)
    assert [c.step for c in deleted] == [1, 2]
    assert [c.step for c in store.list_checkpoints(run.id)] == [3]
    folder = files.checkpoints(run.id)
    assert sorted(p.name for p in folder.iterdir()) == [
        format_name(3, ext=".bin"), format_name(3, ext=".bin") + ".json"]
    assert all(d.read_bytes() == b"decoy" for d in decoys)


def test_prune_never_deletes_a_file_outside_the_run_folder(store: Store,
                                                           tmp_path: Path) -> None:
    run = store.create_run(project="p", name="r")
    outside = tmp_path / "framework" / "epoch1.pt"
    outside.parent.mkdir()
    outside.write_bytes(b"mine")
    store.add_checkpoint(run.id, step=1, path=str(outside))
    add(store, run.id, 2)
    add(store, run.id, 3)
    files = RunFiles(store.files_root)
    deleted = prune(store, files, run.id, keep_last=0, keep_best=None)
    assert [c.step for c in deleted] == [2]
    assert outside.read_bytes() == b"mine"
    assert sorted(c.step for c in store.list_checkpoints(run.id)) == [1, 3]
    (row,) = [c for c in store.list_checkpoints(run.id) if c.step == 1]
    with pytest.raises(PermissionError):
        delete_checkpoint_files(files, row)
    assert outside.exists()
    # ... unless the caller names its folder (the SDK: the run's own checkpoint_dir).
    assert [c.step for c in prune(store, files, run.id, keep_last=0, keep_best=None,
                                  roots=[outside.parent])] == [1]
    assert not outside.exists()


def test_parse_best() -> None:
    assert parse_best("min:val_loss") == ("min", "val_loss")
    assert parse_best("MAX: acc") == ("max", "acc")
    assert parse_best(None) is None
    for bad in ("val_loss", "avg:x", "min:", 3):
        with pytest.raises(ValueError):
            parse_best(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_delete([], keep_last=-1, keep_best=None)


@given(
    steps=st.lists(st.integers(0, 50), min_size=1, max_size=15),
    losses=st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), min_size=15, max_size=15),
    best_index=st.one_of(st.none(), st.integers(0, 14)),
    keep_last=st.one_of(st.none(), st.integers(0, 5)),
    keep_best=st.one_of(st.none(), st.integers(0, 5)),
    protect_index=st.one_of(st.none(), st.integers(0, 14)),
)
def test_retention_invariants(steps: list[int], losses: list[float | None],
                              best_index: int | None, keep_last: int | None,
                              keep_best: int | None, protect_index: int | None) -> None:
    cks = [Checkpoint(id=f"c{i}", run_id="r", step=s, path=f"/ck/{i}", kind="regular",
                      metrics={} if losses[i] is None else {"val_loss": losses[i]},
                      metadata={}, size=1, sha256=None, created_at=float(i), host=None,
                      is_best=i == best_index, valid=None)
           for i, s in enumerate(steps)]
    protect = [] if protect_index is None or protect_index >= len(cks) else [cks[protect_index].id]
    doomed = {c.id for c in to_delete(cks, keep_last=keep_last, keep_best=keep_best,
                                      best="min:val_loss", protect=protect)}
    kept = [c for c in cks if c.id not in doomed]
    newest = max(c.step for c in cks)
    assert all(c.id not in doomed for c in cks if c.is_best or c.step == newest)
    assert not doomed & set(protect)
    if keep_last is None and keep_best is None:
        assert not doomed
    if keep_last is not None:
        by_step = sorted(cks, key=lambda c: (c.step, c.created_at), reverse=True)
        assert {c.id for c in by_step[:keep_last]} <= {c.id for c in kept}


def safetensors_bytes(tensors: dict[str, bytes]) -> bytes:
    import json

    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, data in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(data)],
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + b"".join(tensors.values())


def test_verify_safetensors_layout_and_keys(tmp_path: Path) -> None:
    p = tmp_path / format_name(3, ext=".safetensors")
    data = safetensors_bytes({"w": b"\x01" * 16, "b": b"\x02" * 4})
    p.write_bytes(data)
    assert verify(ck_at(p), expected_keys=["w", "b"])[0]
    ok, reason = verify(ck_at(p), expected_keys=["opt"])
    assert not ok and "opt" in reason
    p.write_bytes(data[:-3])
    ok, reason = verify(ck_at(p))
    assert not ok and "truncated" in reason
    p.write_bytes(b"\xff" * 20)
    assert not verify(ck_at(p))[0]
