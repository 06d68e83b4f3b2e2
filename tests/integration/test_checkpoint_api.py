"""The checkpoint routes in process (ASGI transport) over a real store and real files."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from support import api_error as error
from support import is_postgres_suite, sqlite_path

from traindeck.checkpoints import sidecar_path
from traindeck.server import Settings, create_app
from traindeck.server.schemas import (
    CheckpointDeleted,
    CheckpointList,
    CheckpointOut,
    CheckpointVerified,
)
from traindeck.store import InvalidInput, Store

Client = httpx.AsyncClient


@pytest.fixture
async def client(tmp_path: Path, store: Store) -> AsyncIterator[Client]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def ok(r: httpx.Response, model: type[BaseModel], status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    model.model_validate(body)
    return body




def run_dir(store: Store, run_id: str) -> Path:
    d = store.files_root / "runs" / run_id
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(store: Store, run_id: str, step: int, data: bytes, *,
         folder: Path | None = None, **kw: Any) -> str:
    """Write a real checkpoint file and record it, with its size and sha256."""
    path = (folder or run_dir(store, run_id)) / f"checkpoint_step_{step}.dat"
    path.write_bytes(data)
    ck = store.add_checkpoint(run_id, step=step, path=str(path), size=len(data),
                              sha256=hashlib.sha256(data).hexdigest(), **kw)
    return ck.id


async def test_list_is_by_step_not_name(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    ids = {step: save(store, "r1", step, os.urandom(10 + step))
           for step in (9, 100, 20, 1000, 3)}
    body = ok(await client.get("/api/runs/r1/checkpoints"), CheckpointList)
    assert body["run_id"] == "r1"
    assert [c["step"] for c in body["checkpoints"]] == [1000, 100, 20, 9, 3]
    asc = ok(await client.get("/api/runs/r1/checkpoints?order=asc&limit=3"), CheckpointList)
    assert [c["step"] for c in asc["checkpoints"]] == [3, 9, 20]
    by_size = ok(await client.get("/api/runs/r1/checkpoints?sort=size&order=asc"),
                 CheckpointList)
    assert [c["size"] for c in by_size["checkpoints"]] == [13, 19, 30, 110, 1010]
    assert body["checkpoints"][0]["id"] == ids[1000]

    error(await client.get("/api/runs/r1/checkpoints?sort=name"), 422, "invalid_input")
    error(await client.get("/api/runs/r1/checkpoints?limit=0"), 422, "invalid_input")
    error(await client.get("/api/runs/nope/checkpoints"), 404, "not_found")
    store.create_run(project="p", id="empty")
    assert ok(await client.get("/api/runs/empty/checkpoints"),
              CheckpointList)["checkpoints"] == []


async def test_detail_and_best(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    a = save(store, "r1", 10, b"a", metrics={"loss": float("nan"), "acc": 0.5})
    b = save(store, "r1", 20, b"b", kind="best", is_best=True)
    detail = ok(await client.get(f"/api/checkpoints/{a}"), CheckpointOut)
    assert detail["step"] == 10 and detail["kind"] == "regular" and detail["size"] == 1
    assert detail["metrics"] == {"loss": "NaN", "acc": 0.5} and detail["valid"] is None
    assert ok(await client.get(f"/api/checkpoints/{b}"), CheckpointOut)["is_best"]

    best = ok(await client.post(f"/api/checkpoints/{a}/best"), CheckpointOut)
    assert best["is_best"] and best["id"] == a
    assert not ok(await client.get(f"/api/checkpoints/{b}"), CheckpointOut)["is_best"]
    assert [e.kind for e in store.list_events("r1")][-1] == "checkpoint_best"

    for method, suffix in (("GET", ""), ("POST", "/best"), ("POST", "/verify"),
                           ("GET", "/download"), ("DELETE", "")):
        r = await client.request(method, f"/api/checkpoints/nope{suffix}")
        assert "nope" in error(r, 404, "not_found")


async def test_download_whole_and_ranged(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    data = os.urandom(3 * (1 << 20) + 12345)  # more than one streamed chunk
    ck = save(store, "r1", 7, data)
    url = f"/api/checkpoints/{ck}/download"

    r = await client.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(data))
    assert 'filename="checkpoint_step_7.dat"' in r.headers["content-disposition"]

    for header, (start, end) in {
        "bytes=0-99": (0, 99),
        "bytes=1000-": (1000, len(data) - 1),
        "bytes=-500": (len(data) - 500, len(data) - 1),
        "bytes=2000000-9999999999": (2000000, len(data) - 1),
        f"bytes={len(data) - 1}-{len(data) - 1}": (len(data) - 1, len(data) - 1),
    }.items():
        r = await client.get(url, headers={"range": header})
        assert r.status_code == 206, (header, r.text[:200])
        assert r.content == data[start:end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
        assert r.headers["accept-ranges"] == "bytes"

    for bad in (f"bytes={len(data)}-", f"bytes={len(data) + 10}-{len(data) + 20}", "bytes=-0"):
        r = await client.get(url, headers={"range": bad})
        assert "outside" in error(r, 416, "range_not_satisfiable")
        assert r.headers["content-range"] == f"bytes */{len(data)}"

    # What this server does not do (another unit, several ranges, bad syntax) is ignored.
    for ignored in ("items=0-5", "bytes=0-1,5-6", "bytes=9-3", "bytes=abc"):
        r = await client.get(url, headers={"range": ignored})
        assert r.status_code == 200 and r.content == data, ignored


async def test_download_missing_file_and_folder(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    ck = save(store, "r1", 1, b"x")
    Path(store.get_checkpoint(ck).path).unlink()
    message = error(await client.get(f"/api/checkpoints/{ck}/download"), 404, "not_found")
    assert "missing" in message and "checkpoint_step_1.dat" in message



async def test_download_a_folder_as_a_tar(client: Client, store: Store,
                                          tmp_path: Path) -> None:
    store.create_run(project="p", id="r1")
    folder = run_dir(store, "r1") / "step_0000002"
    (folder / "sub").mkdir(parents=True)
    weights = os.urandom(1 << 20 | 77)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    (folder / "empty").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (folder / "link.txt").symlink_to(secret)  # links are left out: they point anywhere
    fck = store.add_checkpoint("r1", step=2, path=str(folder)).id

    r = await client.get(f"/api/checkpoints/{fck}/download", headers={"range": "bytes=0-9"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-tar"
    assert r.headers["content-length"] == str(len(r.content))
    assert 'filename="step_0000002.tar"' in r.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
        assert names == ["step_0000002", "step_0000002/empty", "step_0000002/model.safetensors",
                         "step_0000002/sub", "step_0000002/sub/config.json"]
        member = tar.extractfile("step_0000002/model.safetensors")
        assert member is not None and member.read() == weights
        config = tar.extractfile("step_0000002/sub/config.json")
        assert config is not None and config.read() == b'{"a": 1}'


async def test_odd_recorded_paths_are_errors_not_500s(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    try:
        nul = store.add_checkpoint("r1", step=1, path="/tmp/with\x00nul.pth").id
    except InvalidInput:  # PostgreSQL's text keeps no NUL: refused as it is recorded
        assert is_postgres_suite()
    else:
        error(await client.get(f"/api/checkpoints/{nul}/download"), 409, "conflict")
        assert not ok(await client.post(f"/api/checkpoints/{nul}/verify"),
                      CheckpointVerified)["valid"]
        assert not ok(await client.delete(f"/api/checkpoints/{nul}"),
                      CheckpointDeleted)["file_deleted"]
    long = store.add_checkpoint("r1", step=2, path=str(run_dir(store, "r1") / ("x" * 5000))).id
    error(await client.get(f"/api/checkpoints/{long}/download"), 409, "conflict")
    assert not ok(await client.post(f"/api/checkpoints/{long}/verify"),
                  CheckpointVerified)["valid"]


async def test_download_relative_path_is_in_the_run_folder(client: Client,
                                                           store: Store) -> None:
    store.create_run(project="p", id="r1")
    (run_dir(store, "r1") / "rel.pth").write_bytes(b"relative")
    ck = store.add_checkpoint("r1", step=1, path="rel.pth").id
    r = await client.get(f"/api/checkpoints/{ck}/download")
    assert r.status_code == 200 and r.content == b"relative"


async def test_delete_inside_the_folder(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    ck = save(store, "r1", 5, b"bytes")
    path = Path(store.get_checkpoint(ck).path)
    sidecar = sidecar_path(path)
    sidecar.write_text("{}")
    body = ok(await client.delete(f"/api/checkpoints/{ck}"), CheckpointDeleted)
    assert body["file_deleted"] and body["checkpoint"]["id"] == ck
    assert not path.exists() and not sidecar.exists()
    error(await client.get(f"/api/checkpoints/{ck}"), 404, "not_found")
    assert [e.kind for e in store.list_events("r1")][-1] == "checkpoint_deleted"

    folder = run_dir(store, "r1") / "step_9"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"w")
    fck = store.add_checkpoint("r1", step=9, path=str(folder)).id
    assert ok(await client.delete(f"/api/checkpoints/{fck}"), CheckpointDeleted)["file_deleted"]
    assert not folder.exists()

    gone = save(store, "r1", 6, b"x")
    Path(store.get_checkpoint(gone).path).unlink()
    assert not ok(await client.delete(f"/api/checkpoints/{gone}"),
                  CheckpointDeleted)["file_deleted"]


async def test_delete_refuses_paths_outside_the_folder(client: Client, store: Store,
                                                       tmp_path: Path) -> None:
    store.create_run(project="p", id="r1")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    precious = outside / "precious.pth"
    precious.write_bytes(b"do not delete")
    sneaky = str(run_dir(store, "r1") / ".." / ".." / ".." / "elsewhere" / "precious.pth")
    link = run_dir(store, "r1") / "link.pth"
    link.symlink_to(precious)
    link_dir = run_dir(store, "r1") / "linkdir"
    link_dir.symlink_to(outside, target_is_directory=True)
    cases = [(str(precious), 403), (sneaky, 403), (str(link), 403),
             (str(link_dir / "precious.pth"), 403), (str(sqlite_path(store)), 403),
             (str(run_dir(store, "r1")), 409)]
    for i, (path, status) in enumerate(cases):
        ck = store.add_checkpoint("r1", step=100 + i, path=path).id
        r = await client.delete(f"/api/checkpoints/{ck}")
        message = error(r, status, "forbidden" if status == 403 else "conflict")
        assert "never" in message or "--serve-root" in message or "run" in message, path
        assert store.get_checkpoint(ck).path == path  # the row stays
    assert precious.read_bytes() == b"do not delete"
    assert link.is_symlink() and sqlite_path(store).exists() and run_dir(store, "r1").is_dir()


async def test_verify_flags_a_corrupted_file(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    good = save(store, "r1", 1, b"good weights")
    bad = save(store, "r1", 2, b"soon corrupted")
    Path(store.get_checkpoint(bad).path).write_bytes(b"SOON CORRUPTED")  # same size

    body = ok(await client.post(f"/api/checkpoints/{good}/verify"), CheckpointVerified)
    assert body["valid"] is True and body["checkpoint"]["valid"] is True
    body = ok(await client.post(f"/api/checkpoints/{bad}/verify"), CheckpointVerified)
    assert body["valid"] is False and body["checkpoint"]["valid"] is False
    assert body["reason"]
    assert store.get_checkpoint(bad).valid is False and store.get_checkpoint(good).valid
    assert [e.kind for e in store.list_events("r1")][-1] == "checkpoint_verified"


async def test_routes_are_in_the_openapi_schema(client: Client) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/checkpoints/{checkpoint_id}"]) == {"get", "delete"}
    for path in ("/api/runs/{run_id}/checkpoints", "/api/checkpoints/{checkpoint_id}/best",
                 "/api/checkpoints/{checkpoint_id}/verify",
                 "/api/checkpoints/{checkpoint_id}/download"):
        assert path in paths
