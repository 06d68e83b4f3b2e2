"""Defect 1 (server side): the server serves or deletes only files under its serve roots.

A real server (uvicorn on a free port) with authentication on and a read token, over a real
SQLite file and real files. A checkpoint row may name any path; the server opens it only
when its real path (links resolved) lies in the data folder or a ``--serve-root`` folder.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from serving import served
from support import sqlite_path

from traindeck.server import Settings, create_app
from traindeck.store import Store


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.txt").write_text("not for the server to give away")
    return folder


@contextmanager
def server(store: Store, tmp_path: Path, *roots: Path) -> Iterator[str]:
    settings = Settings(dir=store.files_root, web_dir=tmp_path / "no-web", auth=True,
                        serve_roots=roots)
    with served(create_app(settings, store=store)) as url:
        yield url


@pytest.fixture
def tokens(store: Store) -> dict[str, str]:
    store.create_run(project="p", id="r1")
    return {scope: store.create_token(scope, scope)[1] for scope in ("read", "write")}


def get(url: str, secret: str) -> httpx.Response:
    return httpx.get(url, headers={"authorization": f"Bearer {secret}"})


def delete(url: str, secret: str) -> httpx.Response:
    return httpx.delete(url, headers={"authorization": f"Bearer {secret}"})


def refused(r: httpx.Response, folder: Path) -> None:
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "forbidden"
    assert f"--serve-root {os.path.realpath(folder)}" in error["message"]


def test_a_checkpoint_at_etc_hostname_is_not_served(
    store: Store, tmp_path: Path, tokens: dict[str, str]
) -> None:
    ck = store.add_checkpoint("r1", step=5, path="/etc/hostname").id
    with server(store, tmp_path) as url:
        r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
        refused(r, Path("/etc"))
        assert r.status_code == 403 and "hostname" not in r.headers.get("content-disposition", "")
        refused(httpx.post(f"{url}/api/checkpoints/{ck}/verify",
                           headers={"authorization": f"Bearer {tokens['write']}"}), Path("/etc"))


def test_files_outside_the_roots_are_refused_and_inside_ones_served(
    store: Store, tmp_path: Path, tokens: dict[str, str], outside: Path
) -> None:
    run_dir = store.files_root / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "model.pth").write_bytes(b"weights")
    inside = store.add_checkpoint("r1", step=1, path="model.pth").id
    secret = store.add_checkpoint("r1", step=2, path=str(outside / "secret.txt")).id
    (run_dir / "link.pth").symlink_to(outside / "secret.txt")  # a link out of the folder
    linked = store.add_checkpoint("r1", step=3, path="link.pth").id
    (run_dir / "linkdir").symlink_to(outside, target_is_directory=True)
    via_dir = store.add_checkpoint("r1", step=4, path="linkdir/secret.txt").id
    db = store.add_checkpoint("r1", step=6, path=str(sqlite_path(store))).id  # the store itself
    with server(store, tmp_path) as url:
        assert get(f"{url}/api/checkpoints/{inside}/download", tokens["read"]).content \
            == b"weights"
        for ck in (secret, linked, via_dir):
            r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
            refused(r, outside)
            assert "not for the server" not in r.text
            refused(delete(f"{url}/api/checkpoints/{ck}", tokens["write"]), outside)
        r = get(f"{url}/api/checkpoints/{db}/download", tokens["read"])
        assert r.status_code == 403 and "store's own files" in r.json()["error"]["message"]
    assert (outside / "secret.txt").exists()
    assert len(store.list_checkpoints("r1")) == 5  # refused deletes keep their rows


def test_a_folder_named_at_serve_is_served(
    store: Store, tmp_path: Path, tokens: dict[str, str], outside: Path
) -> None:
    ck = store.add_checkpoint("r1", step=2, path=str(outside / "secret.txt")).id
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "x.pth").write_bytes(b"x")
    (outside / "escape.pth").symlink_to(elsewhere / "x.pth")  # a root's link out is refused
    escape = store.add_checkpoint("r1", step=3, path=str(outside / "escape.pth")).id
    with server(store, tmp_path, outside) as url:
        r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
        assert r.status_code == 200 and r.content == b"not for the server to give away"
        refused(get(f"{url}/api/checkpoints/{escape}/download", tokens["read"]), elsewhere)
        assert delete(f"{url}/api/checkpoints/{ck}", tokens["write"]).status_code == 200
    assert not (outside / "secret.txt").exists()


def test_a_relative_path_out_of_the_run_folder_is_refused(
    store: Store, tmp_path: Path, tokens: dict[str, str]
) -> None:
    up = "/".join([".."] * (len(Path(store.files_root / "runs" / "r1").parts) - 1))
    ck = store.add_checkpoint("r1", step=1, path=f"{up}/etc/hostname").id
    short = store.add_checkpoint("r1", step=2, path="../../etc/hostname").id
    with server(store, tmp_path) as url:
        r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
        refused(r, Path("/etc"))
        r = get(f"{url}/api/checkpoints/{short}/download", tokens["read"])
        assert r.status_code in (403, 404), r.text  # outside the run folder: never served
        assert r.status_code != 200


def test_a_serve_root_that_holds_the_store_never_gives_it_away(
    store: Store, tmp_path: Path, tokens: dict[str, str]
) -> None:
    db = sqlite_path(store)
    ck = store.add_checkpoint("r1", step=1, path=str(db)).id
    with server(store, tmp_path, tmp_path) as url:  # the root holds the store's folder
        r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
        assert r.status_code == 403 and "store's own files" in r.json()["error"]["message"]
        assert delete(f"{url}/api/checkpoints/{ck}", tokens["write"]).status_code == 403
    assert db.exists()


def test_delete_never_takes_a_folder_holding_the_store_or_a_root(
    store: Store, tmp_path: Path, tokens: dict[str, str]
) -> None:
    """Issue 9 review: with a wide --serve-root, a checkpoint naming the store's folder or
    one above it made DELETE rmtree the database."""
    db = sqlite_path(store)
    run_dir = store.files_root / "runs" / "r1"
    run_dir.mkdir(parents=True)
    ckpts = tmp_path / "ckpts"  # a serve root of its own
    ckpts.mkdir()
    paths = [str(tmp_path), str(db.parent), str(store.files_root / "runs"), str(run_dir),
             str(ckpts), "..", "../..", "../../.."]
    cks = [store.add_checkpoint("r1", step=i, path=p).id for i, p in enumerate(paths)]
    with server(store, tmp_path, tmp_path.parent, ckpts) as url:  # a root above them all
        for ck, path in zip(cks, paths, strict=True):
            r = delete(f"{url}/api/checkpoints/{ck}", tokens["write"])
            assert r.status_code == 409, (path, r.text)
            assert "never deletes" in r.json()["error"]["message"] \
                or "run's folder" in r.json()["error"]["message"]
        assert get(f"{url}/api/runs", tokens["read"]).status_code == 200
    assert db.exists() and run_dir.is_dir() and ckpts.is_dir()
    assert len(store.list_checkpoints("r1")) == len(paths)  # refused deletes keep their rows


def test_a_folder_checkpoint_with_a_link_out_does_not_leak_it(
    store: Store, tmp_path: Path, tokens: dict[str, str], outside: Path
) -> None:
    folder = store.files_root / "runs" / "r1" / "checkpoints" / "step_1"
    folder.mkdir(parents=True)
    (folder / "w.bin").write_bytes(b"weights")
    (folder / "hostname").symlink_to("/etc/hostname")
    (folder / "secret.txt").symlink_to(outside / "secret.txt")
    (folder / "out").symlink_to(outside, target_is_directory=True)
    ck = store.add_checkpoint("r1", step=1, path="checkpoints/step_1").id
    with server(store, tmp_path) as url:
        r = get(f"{url}/api/checkpoints/{ck}/download", tokens["read"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert tar.getnames() == ["step_1", "step_1/w.bin"]
    assert b"not for the server" not in r.content
