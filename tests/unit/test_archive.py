"""Code and data in one upload (issue 11): what goes into the archive, that it is
deterministic, and that the host-side extract command checks and unpacks it for real."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from support import missing

from traindeck.remote.archive import ArchiveError, extract_command, fingerprint, pack
from traindeck.remote.compressor import ParallelGzip
from traindeck.remote.ignore import Matcher


def write(root: Path, rel: str, data: bytes | str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {m.name for m in tar.getmembers() if not m.isdir()}


def packed_names(tmp_path: Path, folder: Path, **kw: object) -> set[str]:
    p = pack({"code": folder}, tmp_path / "out.tar.gz", **kw)  # type: ignore[arg-type]
    return {n.removeprefix("code/") for n in names(p.path)}


def test_gitignore_root_and_nested_rules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, ".gitignore", "# logs\n*.log\n!keep.log\nbuild/\n/top.txt\n"
                             "docs/**/secret.md\n\\#hash\nspace\\ \n")
    for rel in ("a.log", "keep.log", "build/out.bin", "lib/build", "top.txt", "lib/top.txt",
                "docs/secret.md", "docs/a/b/secret.md", "other/secret.md", "#hash", "space ",
                "train.py"):
        write(src, rel)
    write(src, "sub/.gitignore", "*.tmp\n!important.log\n/local.txt\n")
    for rel in ("sub/x.tmp", "sub/important.log", "sub/other.log", "sub/local.txt",
                "sub/deep/local.txt", "x.tmp"):
        write(src, rel)
    assert packed_names(tmp_path, src) == {
        ".gitignore", "keep.log", "lib/build", "lib/top.txt", "other/secret.md", "train.py",
        "sub/.gitignore", "sub/important.log", "sub/deep/local.txt", "x.tmp"}


def test_a_file_in_an_excluded_folder_cannot_be_re_included(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, ".gitignore", "cache/\n!cache/keep.txt\n")
    write(src, "cache/keep.txt")
    write(src, "main.py")
    assert packed_names(tmp_path, src) == {".gitignore", "main.py"}


def test_exclude_list_and_always_excluded(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, ".gitignore", "*.bin\n")
    for rel in ("model.ckpt", "important.ckpt", "data_cache/a.npy", "w.bin", "keep.bin",
                ".git/HEAD", ".venv/bin/python", "pkg/__pycache__/m.cpython-311.pyc",
                "pkg/m.pyc", "pkg/m.py"):
        write(src, rel)
    got = packed_names(tmp_path, src,
                       excludes=["*.ckpt", "!important.ckpt", "data_cache/", "!keep.bin"])
    # the exclude list comes last, so its "!keep.bin" overrides the .gitignore
    assert got == {".gitignore", "important.ckpt", "keep.bin", "pkg/m.py"}
    # the built-in exclusions cannot be re-included
    write(src, ".gitignore", "!.git\n!*.pyc\n")
    assert "pkg/m.pyc" not in packed_names(tmp_path, src, excludes=["!.venv"])


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), [
    ("**/foo", "a/b/foo", False, True),
    ("**/foo", "foo", False, True),
    ("a/**/b", "a/b", False, True),
    ("a/**/b", "a/x/y/b", False, True),
    ("a/**", "a/x/y", False, True),
    ("a/**", "a", True, False),
    ("foo**bar", "fooXbar", False, True),
    ("foo**bar", "foo/bar", False, False),
    ("*.py[co]", "x/m.pyc", False, True),
    ("[!a]*.txt", "b.txt", False, True),
    ("[!a]*.txt", "a.txt", False, False),
    ("d?t", "dot", False, True),
    ("d?t", "d/t", False, False),
    ("logs/", "logs", False, False),
    ("logs/", "x/logs", True, True),
    ("/logs", "x/logs", True, False),
    ("x/logs", "x/logs", True, True),
    ("x/logs", "y/x/logs", True, False),
    ("\\!bang", "!bang", False, True),
])
def test_matcher_grammar(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert Matcher.from_lines([pattern]).ignored(path, is_dir) is expected


def test_same_content_same_hash_and_changes_change_it(tmp_path: Path) -> None:
    src, data = tmp_path / "src", tmp_path / "data"
    write(src, "train.py", "print(1)\n")
    write(src, "run.sh", "#!/bin/sh\n").chmod(0o755)
    write(data, "d/x.bin", os.urandom(50_000))
    sources = {"code": src, "data/mnist": data}
    a = pack(sources, tmp_path / "a.tar.gz")
    b = pack(sources, tmp_path / "b.tar.gz", threads=1)
    assert (a.sha256, a.fingerprint) == (b.sha256, b.fingerprint)
    assert a.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()
    assert a.size == a.path.stat().st_size
    assert (a.files, a.total_bytes) == (3, 9 + 10 + 50_000)
    assert fingerprint(sources) == a.fingerprint
    os.utime(src / "train.py", (1, 1))
    assert pack(sources, tmp_path / "c.tar.gz").sha256 == a.sha256
    (src / "train.py").write_text("print(2)\n")
    changed = pack(sources, tmp_path / "d.tar.gz")
    assert changed.sha256 != a.sha256 and changed.fingerprint != a.fingerprint
    assert fingerprint(sources) == changed.fingerprint
    with tarfile.open(a.path) as tar:
        assert {m.name for m in tar.getmembers() if m.isfile()} == {
            "code/run.sh", "code/train.py", "data/mnist/d/x.bin"}
        assert all(m.mtime == tar.getmembers()[0].mtime and m.uid == 0 and m.uname == ""
                   for m in tar.getmembers())


def test_symlinks_inside_are_kept_as_links_outside_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, "real/weights.bin", "w")
    (src / "latest.bin").symlink_to("real/weights.bin")
    (src / "real_dir").symlink_to("real")
    (src / "abs.bin").symlink_to(src / "real/weights.bin")
    p = pack({"code": src}, tmp_path / "out.tar.gz")
    with tarfile.open(p.path) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        files = {m.name for m in tar.getmembers() if m.isfile()}
    assert links == {"code/latest.bin": "real/weights.bin", "code/real_dir": "real",
                     "code/abs.bin": "real/weights.bin"}
    assert files == {"code/real/weights.bin"}  # the linked folder is not followed

    outside = write(tmp_path, "elsewhere/secret.txt", "s")
    (src / "escape").symlink_to(outside)
    with pytest.raises(ArchiveError, match=r"escape is a symlink to .*outside"):
        pack({"code": src}, tmp_path / "bad.tar.gz")
    assert not list(tmp_path.glob("bad.tar.gz*"))  # nothing half-written left
    assert "escape" not in str(packed_names(tmp_path, src, excludes=["escape"]))


def test_progress_is_reported_up_to_the_scanned_total(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(5):
        write(src, f"f{i}.bin", os.urandom(300_000 * (i + 1)))
    calls: list[tuple[int, int]] = []
    p = pack({"code": src}, tmp_path / "o.tar.gz", progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, p.total_bytes) and calls[-1] == (p.total_bytes, p.total_bytes)
    assert all(t == p.total_bytes for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    empty: list[tuple[int, int]] = []
    (tmp_path / "empty").mkdir()
    pack({"code": tmp_path / "empty"}, tmp_path / "e.tar.gz",
         progress=lambda d, t: empty.append((d, t)))
    assert empty == [(0, 0)]


def test_parallel_gzip_is_one_stream_and_independent_of_threads() -> None:
    rng = random.Random(1)
    data = b"".join(rng.randbytes(700) if i % 2 else b"abc" * 300 for i in range(40))
    outs = []
    for threads in (1, 3):
        sink = io.BytesIO()
        gz = ParallelGzip(sink, 1, threads=threads, block=1000)
        for i in range(0, len(data), 777):
            gz.write(data[i:i + 777])
        gz.close()
        outs.append(sink.getvalue())
    assert outs[0] == outs[1]
    assert gzip.decompress(outs[0]) == data


def _tools() -> None:
    for tool in ("sh", "tar", "gzip", "sha256sum"):
        if shutil.which(tool) is None:
            missing(f"the {tool!r} command")


def _tree(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path), 0)
        elif path.is_file():
            out[rel] = ("file", path.read_bytes(), path.stat().st_mode & 0o111)
    return out


def test_extract_command_round_trip_and_no_op(tmp_path: Path) -> None:
    _tools()
    src, data = tmp_path / "src", tmp_path / "data"
    write(src, "train.py", "print('hi')\n")
    write(src, "bin/run.sh", "#!/bin/sh\necho run\n").chmod(0o755)
    (src / "latest").symlink_to("train.py")
    write(data, "shard/0.bin", os.urandom(200_000))
    p = pack({"code": src, "data/mnist": data}, tmp_path / "up.tar.gz")
    target = tmp_path / "host" / "archives" / p.fingerprint
    cmd = extract_command(str(p.path), str(target), p.sha256)
    first = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert _tree(target / "code") == _tree(src)
    assert _tree(target / "data" / "mnist") == _tree(data)
    assert sorted(x.name for x in target.parent.iterdir()) == [p.fingerprint]
    p.path.unlink()  # already extracted: the archive is not even needed
    again = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    assert again.returncode == 0 and "already there" in again.stdout


def test_extract_command_refuses_a_corrupted_archive(tmp_path: Path) -> None:
    _tools()
    src = write(tmp_path, "src/train.py", os.urandom(10_000)).parent
    p = pack({"code": src}, tmp_path / "up.tar.gz")
    blob = bytearray(p.path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    p.path.write_bytes(bytes(blob))
    target = tmp_path / "host" / p.fingerprint
    r = subprocess.run(["sh", "-c", extract_command(str(p.path), str(target), p.sha256)],
                       capture_output=True, text=True)
    assert r.returncode == 3
    assert f"is corrupt: sha256 {hashlib.sha256(blob).hexdigest()}, expected {p.sha256}" \
        in r.stderr
    assert not target.exists() and not list(tmp_path.glob("host/*"))
    with pytest.raises(ValueError, match="sha256"):
        extract_command("a", "b", "not-a-hash")
