"""A folder nested far deeper than anyone would (issue 10 §3): downloading it as a tar
(an artifacts folder, a folder checkpoint) is refused with a clear 409 naming the limit,
never a 500 (the walk once recursed once per level); one at the limit downloads whole."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import served

from traindeck.runfiles import RunFiles
from traindeck.server import Settings, create_app
from traindeck.server.foldertar import MAX_DEPTH
from traindeck.store import Store


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def nest(folder: Path, depth: int) -> None:
    """``depth`` folders ``d`` below ``folder`` and a file in the deepest, made one level
    at a time from descriptors (``Path.mkdir(parents=True)`` recurses once per level)."""
    folder.mkdir(parents=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"leaf")
    os.close(leaf)
    os.close(fd)


def unnest(folder: Path, depth: int) -> None:
    """Without recursion (``shutil.rmtree`` of 3.11 recurses once per level)."""
    os.unlink(os.path.join(folder, *["d"] * depth, "leaf.txt"))
    for level in range(depth, -1, -1):
        os.rmdir(os.path.join(folder, *["d"] * level))


@pytest.mark.parametrize("depth", [1000, MAX_DEPTH + 1])
def test_a_folder_nested_too_deep_is_refused_with_a_409(
        url: str, store: Store, depth: int) -> None:
    run = store.create_run(project="p")
    run_dir = RunFiles(store.files_root).run_dir(run.id)
    deep = run_dir / "artifacts" / "deep"
    nest(deep, depth)
    ck = store.add_checkpoint(run.id, step=1, path=str(deep))
    try:
        for path in (f"/api/runs/{run.id}/artifacts/artifacts/deep",
                     f"/api/checkpoints/{ck.id}/download"):
            r = httpx.get(url + path, timeout=60)
            assert r.status_code == 409, (path, r.status_code, r.text[:300])
            assert f"more than {MAX_DEPTH} levels" in r.json()["error"]["message"]
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    finally:
        unnest(deep, depth)


def test_a_folder_at_the_limit_downloads_whole(url: str, store: Store) -> None:
    run = store.create_run(project="p")
    deep = RunFiles(store.files_root).run_dir(run.id) / "artifacts" / "deep"
    nest(deep, MAX_DEPTH)
    r = httpx.get(f"{url}/api/runs/{run.id}/artifacts/artifacts/deep", timeout=60)
    assert r.status_code == 200, r.text[:300]
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        leaf = tar.extractfile("deep/" + "d/" * MAX_DEPTH + "leaf.txt")
        assert leaf is not None and leaf.read() == b"leaf"
