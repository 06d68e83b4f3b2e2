"""``/api/hosts`` against a real sshd on 127.0.0.1: admin only; add, list, read; the key the
host presents, trusted only when the caller names its fingerprint; check; remove; bad input
refused with a 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sshd_service import SSHD, running_sshd

from traindeck.server import Settings, create_app
from traindeck.store import Store

Client = httpx.AsyncClient


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[Client]:
    """An admin's client (the store holds tokens: auth is on)."""
    _, admin = store.create_token("admin", "admin")
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test",
                                     headers={"authorization": f"Bearer {admin}"}) as c:
            yield c


async def test_hosts_over_http(client: Client, sshd: SSHD, store: Store) -> None:
    write = {"authorization": f"Bearer {store.create_token('writer', 'write')[1]}"}
    assert (await client.get("/api/hosts", headers=write)).status_code == 403
    body = {"name": "gpu", "destination": f"{sshd.user}@{sshd.host}:{sshd.port}",
            "key_path": str(sshd.client_key), "workdir": "td"}
    assert (await client.post("/api/hosts", json=body, headers=write)).status_code == 403
    made = await client.post("/api/hosts", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["port"] == sshd.port
    assert (await client.post("/api/hosts", json=body)).status_code == 409
    assert [h["name"] for h in (await client.get("/api/hosts")).json()["hosts"]] == ["gpu"]

    key = (await client.get("/api/hosts/gpu/key")).json()
    assert key == {"algorithm": "ssh-ed25519", "fingerprint": sshd.host_fingerprint,
                   "trusted": False, "error": None}
    failed = (await client.post("/api/hosts/gpu/check")).json()
    assert not failed["ok"] and "hosts trust gpu" in failed["message"]
    wrong = await client.post("/api/hosts/gpu/trust", json={"fingerprint": "SHA256:" + "x" * 43})
    assert wrong.status_code == 409 and sshd.host_fingerprint in wrong.text
    trusted = await client.post("/api/hosts/gpu/trust",
                                json={"fingerprint": sshd.host_fingerprint})
    assert trusted.status_code == 200 and trusted.json()["trusted"]
    assert (await client.get("/api/hosts/gpu/key")).json()["trusted"]
    known = Path(store.files_root) / "known_hosts"
    assert known.read_text().split()[1:] == sshd.known_hosts_line.split()[1:]

    checked = (await client.post("/api/hosts/gpu/check")).json()
    assert checked["ok"] and checked["python"], checked
    assert (await client.get("/api/hosts/gpu")).json()["check_error"] is None

    sshd.stop()
    try:  # a host that does not answer: said in the answer, not a server error
        down = (await client.get("/api/hosts/gpu/key")).json()
        assert down["fingerprint"] is None and down["error"]
        assert not (await client.post("/api/hosts/gpu/check")).json()["ok"]
        refused = await client.post("/api/hosts/gpu/trust",
                                    json={"fingerprint": sshd.host_fingerprint})
        assert refused.status_code == 409 and "cannot read the host key" in refused.text
    finally:
        sshd.start()
    assert (await client.delete("/api/hosts/gpu")).status_code == 204
    assert (await client.get("/api/hosts/gpu")).status_code == 404
    assert (await client.post("/api/hosts/gpu/check")).status_code == 404


async def test_bad_hosts_are_refused(client: Client, tmp_path: Path) -> None:
    for bad in ({"name": "x", "destination": "nouser"},
                {"name": "../x", "destination": "u@h"},
                {"name": "x", "destination": "u@h;reboot"},
                {"name": "x", "destination": "u@h:99999"},
                {"name": "x", "destination": "u@h", "key_path": str(tmp_path / "missing")},
                {"name": "x", "destination": "u@h", "password": "hunter2"}):
        r = await client.post("/api/hosts", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert (await client.get("/api/hosts")).json()["hosts"] == []
