"""``run.log_artifact`` against a real SQLite store in a temp folder (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

import traindeck as td
from traindeck.runfiles import RunFiles
from traindeck.sdk.artifacts import check_name, copy_atomic
from traindeck.store import Store


def start(tdir: Path, **kw: object) -> td.Run:
    return td.init(project="p", dir=tdir, system_interval=None, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a.txt", "models/best.pt", "x y/z"])
def test_names_that_are_kept(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../up", "a/../b", "a//b", "./a",
                                  "a\x00b", "a\\b", "a/", 3])
def test_names_that_are_refused(name: object) -> None:
    with pytest.raises(ValueError):
        check_name(name)


def test_a_file_and_a_folder_are_copied_into_the_run_folder(
        store_dir: Path, store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(bytes(range(256)) * 100)
    (src / "sub" / "notes.txt").write_text("deep")
    with start(store_dir, strict=True) as run:
        assert run.log_artifact(src / "weights.bin") == "artifacts/weights.bin"
        assert run.log_artifact(src, name="bundle/v1") == "artifacts/bundle/v1"
        assert run.flush()
    folder = RunFiles(store_dir).artifacts(run.id)
    assert (folder / "weights.bin").read_bytes() == (src / "weights.bin").read_bytes()
    assert (folder / "bundle" / "v1" / "sub" / "notes.txt").read_text() == "deep"
    assert not [p for p in folder.rglob("*") if p.name.endswith((".part", ".old"))]


def test_logging_again_under_a_name_replaces_the_artifact(
        store_dir: Path, store: Store, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b"
    a.write_text("first")
    b.mkdir()
    (b / "inner.txt").write_text("second")
    with start(store_dir, strict=True) as run:
        run.log_artifact(a, name="thing")
        assert run.flush()
        run.log_artifact(b, name="thing")  # a folder now replaces the file
        assert run.flush()
    thing = RunFiles(store_dir).artifacts(run.id) / "thing"
    assert (thing / "inner.txt").read_text() == "second"


def test_copy_atomic_replaces_a_folder_with_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "x"
    dest.mkdir(parents=True)
    (dest / "old.txt").write_text("old")
    src = tmp_path / "new.txt"
    src.write_text("new")
    copy_atomic(src, dest)
    assert dest.read_text() == "new"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x"]


def test_bad_input_is_reported_once_and_never_raised(
        store_dir: Path, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with start(store_dir, strict=False) as run:
        assert run.log_artifact(tmp_path / "missing.txt") is None
        (tmp_path / "ok.txt").write_text("x")
        assert run.log_artifact(tmp_path / "ok.txt", name="../escape") is None
        run.log({"loss": 1.0})
    assert capsys.readouterr().err.count("log_artifact() failed") == 1
    assert not (store_dir / "escape").exists()


def test_strict_mode_raises(store_dir: Path, store: Store, tmp_path: Path) -> None:
    with start(store_dir, strict=True) as run, pytest.raises(FileNotFoundError):
        run.log_artifact(tmp_path / "missing.txt")
