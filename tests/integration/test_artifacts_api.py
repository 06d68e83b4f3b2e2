"""Artifacts end to end: a real run logs them (embedded, and remote to a real server), the
server on a real port lists and serves them (Range, folders as tar), and refuses every
path that would leave the run's folder."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import served

import traindeck as td
from traindeck.runfiles import RunFiles
from traindeck.server import Settings, create_app
from traindeck.store import Store

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: more than one chunk


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "model.bin").write_bytes(PAYLOAD)
    (src / "sub" / "notes.txt").write_text("deep")
    return src


def log_embedded(store: Store, source: Path) -> str:
    with td.init(project="p", dir=store.files_root, system_interval=None, strict=True) as run:
        assert run.log_artifact(source / "model.bin") == "artifacts/model.bin"
        assert run.log_artifact(source, name="bundle") == "artifacts/bundle"
        run.log({"loss": 1.0})
    return run.id


def test_logged_artifacts_are_listed_and_downloaded_byte_identical(
        url: str, store: Store, source: Path) -> None:
    run_id = log_embedded(store, source)
    base = f"{url}/api/runs/{run_id}/artifacts"
    listing = httpx.get(base).json()["files"]
    by_path = {f["path"]: f for f in listing}
    assert by_path["artifacts/model.bin"]["size"] == len(PAYLOAD)
    assert by_path["artifacts/model.bin"]["dir"] is False
    assert by_path["artifacts/bundle"]["dir"] is True
    assert by_path["artifacts/bundle/sub/notes.txt"]["size"] == 4
    assert all(isinstance(f["mtime"], float) for f in listing)

    whole = httpx.get(f"{base}/artifacts/model.bin")
    assert whole.status_code == 200 and whole.content == PAYLOAD
    part = httpx.get(f"{base}/artifacts/model.bin", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == PAYLOAD[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(PAYLOAD)}"
    bad_range = httpx.get(f"{base}/artifacts/model.bin",
                          headers={"Range": f"bytes={len(PAYLOAD) + 5}-"})
    assert bad_range.status_code == 416

    tar = httpx.get(f"{base}/artifacts/bundle")
    assert tar.status_code == 200 and tar.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as t:
        got = {m.name: t.extractfile(m).read() for m in t.getmembers()  # type: ignore[union-attr]
               if m.isfile()}
    assert got == {"bundle/model.bin": PAYLOAD, "bundle/sub/notes.txt": b"deep"}


def test_every_file_of_the_run_folder_is_listed_but_not_the_private_ones(
        url: str, store: Store, source: Path) -> None:
    """Not the SDK's spool, nor the launcher's raw console (unredacted: the console is
    served redacted from the store) and working files."""
    run_id = log_embedded(store, source)
    run_dir = RunFiles(store.files_root).run_dir(run_id)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    (run_dir / "checkpoints" / "c.pt").write_bytes(b"ck")
    for private, name in (("spool", "batch"), ("console", "stdout.log"),
                          ("launch", "config.json")):
        (run_dir / private).mkdir(exist_ok=True)
        (run_dir / private / name).write_bytes(b"password=hunter2")
    paths = {f["path"] for f in httpx.get(f"{url}/api/runs/{run_id}/artifacts").json()["files"]}
    assert "checkpoints/c.pt" in paths
    assert not any(p.split("/")[0] in ("spool", "console", "launch") for p in paths)
    for path in ("spool/batch", "console/stdout.log", "launch/config.json", "console"):
        r = httpx.get(f"{url}/api/runs/{run_id}/artifacts/{path}")
        assert r.status_code == 403, (path, r.status_code)
        assert b"hunter2" not in r.content


@pytest.mark.parametrize("path", ["..%2F..%2F..%2Fetc%2Fhostname", "artifacts%2F..%2F..%2Fx",
                                  "/etc/hostname", "artifacts/%00", "artifacts%5C..%5Cx",
                                  "artifacts%2F.%2Fmodel.bin"])
def test_paths_that_leave_the_folder_are_refused_with_4xx(
        url: str, store: Store, source: Path, path: str) -> None:
    run_id = log_embedded(store, source)
    r = httpx.get(f"{url}/api/runs/{run_id}/artifacts/{path}")
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert "error" in r.json()


def test_a_link_out_of_the_run_folder_is_neither_listed_nor_followed(
        url: str, store: Store, source: Path, tmp_path: Path) -> None:
    run_id = log_embedded(store, source)
    artifacts = RunFiles(store.files_root).artifacts(run_id)
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    os.symlink("/etc/hostname", artifacts / "hostname")
    os.symlink(outside, artifacts / "outside")
    os.symlink(tmp_path, artifacts / "dirlink")
    base = f"{url}/api/runs/{run_id}/artifacts"
    paths = {f["path"] for f in httpx.get(base).json()["files"]}
    assert not {"artifacts/hostname", "artifacts/outside", "artifacts/dirlink"} & paths
    for bad in ("artifacts/hostname", "artifacts/outside", "artifacts/dirlink/outside.txt"):
        r = httpx.get(f"{base}/{bad}")
        assert r.status_code == 403, (bad, r.text)
    # a folder download leaves links out
    tar = httpx.get(f"{base}/artifacts")
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as t:
        names = t.getnames()
    assert "artifacts/model.bin" in names and "artifacts/hostname" not in names


def test_deep_and_odd_paths_answer_4xx_and_the_listing_stays_whole(
        url: str, store: Store, source: Path) -> None:
    run_id = log_embedded(store, source)
    base = f"{url}/api/runs/{run_id}/artifacts"
    deep = "artifacts/" + "d/" * 100 + "x"
    assert httpx.post(f"{base}?path={deep}", content=b"x").status_code == 422
    assert httpx.get(f"{base}/{deep}").status_code == 422
    long_name = "artifacts/" + "n" * 300  # longer than a file name may be
    assert httpx.post(f"{base}?path={long_name}", content=b"x").status_code == 409
    run_dir = RunFiles(store.files_root).run_dir(run_id)
    folder = run_dir.joinpath("artifacts", *["e"] * 80)  # deeper than a listing walks
    folder.mkdir(parents=True)
    (run_dir / "artifacts").joinpath(os.fsdecode(b"bad-\xff")).write_text("x")
    r = httpx.get(base)
    assert r.status_code == 200
    paths = [f["path"] for f in r.json()["files"]]
    assert "artifacts/model.bin" in paths and not any("bad-" in p for p in paths)


def test_unknown_run_and_missing_file(url: str, store: Store, source: Path) -> None:
    assert httpx.get(f"{url}/api/runs/nope/artifacts").status_code == 404
    assert httpx.get(f"{url}/api/runs/nope/artifacts/artifacts/x").status_code == 404
    run_id = log_embedded(store, source)
    assert httpx.get(f"{url}/api/runs/{run_id}/artifacts/artifacts/none").status_code == 404


def test_uploads_go_under_artifacts_only(url: str, store: Store, source: Path) -> None:
    run_id = log_embedded(store, source)
    up = f"{url}/api/runs/{run_id}/artifacts"
    r = httpx.post(up, params={"path": "artifacts/new/x.bin"}, content=b"abc")
    assert r.status_code == 201, r.text
    assert httpx.get(f"{up}/artifacts/new/x.bin").content == b"abc"
    for bad in ("checkpoints/x", "artifacts", "artifacts/../x", "/abs", "spool/x",
                "artifacts/a\x00b"):
        r = httpx.post(up, params={"path": bad}, content=b"abc")
        assert 400 <= r.status_code < 500, (bad, r.status_code)
    run_dir = RunFiles(store.files_root).run_dir(run_id)
    os.symlink(source, run_dir / "artifacts" / "linked")
    r = httpx.post(up, params={"path": "artifacts/linked/evil.txt"}, content=b"x")
    assert r.status_code == 403
    assert not (source / "evil.txt").exists()
    r = httpx.post(up, params={"path": "artifacts/bundle"}, content=b"x")  # a folder there
    assert r.status_code == 409
    assert httpx.post(f"{url}/api/runs/nope/artifacts", params={"path": "artifacts/x"},
                      content=b"x").status_code == 404


def test_a_remote_run_uploads_its_artifacts(url: str, store: Store, source: Path,
                                            tmp_path: Path) -> None:
    local = tmp_path / "client"
    with td.init(project="p", dir=local, url=url, system_interval=None, strict=True) as run:
        assert run.log_artifact(source / "model.bin") == "artifacts/model.bin"
        assert run.log_artifact(source, name="bundle") == "artifacts/bundle"
        run.log({"loss": 1.0})
        assert run.flush()
    base = f"{url}/api/runs/{run.id}/artifacts"
    assert httpx.get(f"{base}/artifacts/model.bin").content == PAYLOAD
    assert httpx.get(f"{base}/artifacts/bundle/sub/notes.txt").content == b"deep"
    server_copy = RunFiles(store.files_root).artifacts(run.id) / "model.bin"
    assert server_copy.read_bytes() == PAYLOAD
