"""What the server checks is what it opens: a recorded file swapped for a link between the
check and the open is refused, and a folder checkpoint's tar never follows a link.

Real files in a temporary folder; the swap is made by the test between the check
(``ServedFiles.allowed`` / the tar's listing) and the open (``open_no_links`` / streaming),
as a process writing in the run's folder could.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from traindeck.runfiles import RunFiles
from traindeck.server.files import ServedFiles, open_no_links
from traindeck.server.foldertar import MAX_DEPTH, FolderTar, FolderTooDeep

SECRET = b"the secret outside every root"


@pytest.fixture
def served(tmp_path: Path) -> ServedFiles:
    return ServedFiles(RunFiles(tmp_path / "data"))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "model.pth").write_bytes(SECRET)
    return folder


def run_dir(served: ServedFiles) -> Path:
    folder = served.files.run_dir("r1")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_checked_file_opens(served: ServedFiles) -> None:
    path = run_dir(served) / "model.pth"
    path.write_bytes(b"weights")
    fd, st = open_no_links(served.allowed(path))
    with open(fd, "rb") as f:
        assert f.read() == b"weights" and st.st_size == 7


def test_a_file_swapped_for_a_link_after_the_check_is_refused(
    served: ServedFiles, outside: Path
) -> None:
    path = run_dir(served) / "model.pth"
    path.write_bytes(b"weights")
    real = served.allowed(path)
    path.unlink()
    path.symlink_to(outside / "model.pth")  # the swap
    with pytest.raises(OSError):
        open_no_links(real)
    hostname = run_dir(served) / "hostname"
    hostname.write_text("x")
    real = served.allowed(hostname)
    hostname.unlink()
    hostname.symlink_to("/etc/hostname")
    with pytest.raises(OSError):
        open_no_links(real)


def test_a_folder_on_the_way_swapped_for_a_link_is_refused(
    served: ServedFiles, outside: Path
) -> None:
    sub = run_dir(served) / "checkpoints"
    sub.mkdir()
    (sub / "model.pth").write_bytes(b"weights")
    real = served.allowed(sub / "model.pth")
    sub.rename(sub.with_name("moved"))
    sub.symlink_to(outside, target_is_directory=True)  # the swap, one level up
    with pytest.raises(OSError):
        open_no_links(real)


def test_a_fifo_is_refused_without_hanging(served: ServedFiles) -> None:
    fifo = run_dir(served) / "pipe.pth"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        open_no_links(served.allowed(fifo))


def tar_of(served: ServedFiles, folder: Path) -> FolderTar:
    """The folder checked, opened and listed, as the download route does."""
    real = served.allowed(folder)
    fd, _ = open_no_links(real)
    try:
        return FolderTar(real, fd)
    finally:
        os.close(fd)


def members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = b"" if f is None else f.read()
    return out


def test_a_folder_tar_leaves_links_out(served: ServedFiles, outside: Path) -> None:
    folder = run_dir(served) / "step_1"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"w")
    (folder / "hostname").symlink_to("/etc/hostname")
    (folder / "secret.pth").symlink_to(outside / "model.pth")
    (folder / "out").symlink_to(outside, target_is_directory=True)
    tar = tar_of(served, folder)
    data = b"".join(tar.chunks())
    assert len(data) == tar.length
    assert members(data) == {"step_1": b"", "step_1/sub": b"", "step_1/sub/w.bin": b"w"}
    assert SECRET not in data


def nest(folder: Path, depth: int) -> None:
    """``depth`` folders ``d`` below ``folder``, a file in the deepest; made one level at a
    time from descriptors (``Path.mkdir(parents=True)`` recurses once per level)."""
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


def remove_nested(folder: Path, depth: int) -> None:
    """Without recursion (``shutil.rmtree`` of 3.11 recurses once per level)."""
    os.unlink(os.path.join(folder, *["d"] * depth, "leaf.txt"))
    for level in range(depth, -1, -1):
        os.rmdir(os.path.join(folder, *["d"] * level))


def test_a_folder_as_deep_as_the_limit_is_archived_whole(served: ServedFiles) -> None:
    folder = run_dir(served) / "deep"
    nest(folder, MAX_DEPTH)
    tar = tar_of(served, folder)
    data = b"".join(tar.chunks())
    assert len(data) == tar.length
    got = members(data)
    assert got["deep/" + "d/" * MAX_DEPTH + "leaf.txt"] == b"leaf"
    assert len(got) == MAX_DEPTH + 2


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000])
def test_a_folder_nested_deeper_than_the_limit_is_refused(
        served: ServedFiles, depth: int) -> None:
    folder = run_dir(served) / "deep"
    nest(folder, depth)
    try:
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(FolderTooDeep, match=f"more than {MAX_DEPTH} levels"):
            tar_of(served, folder)
        assert len(os.listdir("/proc/self/fd")) == before  # every folder opened is closed
    finally:
        remove_nested(folder, depth)


def test_a_file_swapped_for_a_link_after_the_listing_is_sent_as_zeros(
    served: ServedFiles, outside: Path
) -> None:
    folder = run_dir(served) / "step_2"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.pth").write_bytes(b"A" * len(SECRET))
    (folder / "sub" / "w.bin").write_bytes(b"B" * len(SECRET))
    tar = tar_of(served, folder)
    (folder / "model.pth").unlink()
    (folder / "model.pth").symlink_to(outside / "model.pth")  # the swap, after the listing
    (folder / "sub").rename(folder / "moved")
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    (outside / "w.bin").write_bytes(SECRET)
    data = b"".join(tar.chunks())
    assert len(data) == tar.length and SECRET not in data
    got = members(data)
    assert got["step_2/model.pth"] == bytes(len(SECRET))
    assert got["step_2/sub/w.bin"] == bytes(len(SECRET))


def test_a_folder_swapped_for_a_link_after_the_listing_reads_nothing(
    served: ServedFiles, outside: Path
) -> None:
    folder = run_dir(served) / "step_3"
    folder.mkdir()
    (folder / "model.pth").write_bytes(b"A" * len(SECRET))
    tar = tar_of(served, folder)
    folder.rename(folder.with_name("moved"))
    folder.symlink_to(outside, target_is_directory=True)
    data = b"".join(tar.chunks())
    assert SECRET not in data
    assert members(data)["step_3/model.pth"] == bytes(len(SECRET))
