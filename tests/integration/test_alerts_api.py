"""``/api/rules``, ``/api/webhooks``, ``/api/alerts`` over HTTP (scopes, 422s, masking) and
``traindeck rules`` / ``traindeck webhooks``, on a real store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from traindeck.cli import app as cli
from traindeck.server import Settings, create_app
from traindeck.store import Store

Client = httpx.AsyncClient


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[Client]:
    """An admin's client (the store holds tokens: auth is on)."""
    _, admin = store.create_token("admin", "admin")
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t",
                                     headers={"authorization": f"Bearer {admin}"}) as c:
            yield c


def bearer(store: Store, scope: str) -> dict[str, str]:
    return {"authorization": f"Bearer {store.create_token(scope, scope)[1]}"}


async def test_rules_need_write_and_webhooks_admin(client: Client, store: Store) -> None:
    read, write = bearer(store, "read"), bearer(store, "write")
    body = {"project": "p", "kind": "nan"}
    assert (await client.post("/api/rules", json=body, headers=read)).status_code == 403
    made = await client.post("/api/rules", json=body, headers=write)
    assert made.status_code == 201
    rule = made.json()
    assert (rule["kind"], rule["key"], rule["project"], rule["severity"]) == (
        "nan", "*", "p", "warning")
    listed = (await client.get("/api/rules", params={"project": "p"}, headers=read)).json()
    assert listed == {"rules": [rule]}
    assert (await client.delete(f"/api/rules/{rule['id']}", headers=read)).status_code == 403
    assert (await client.delete(f"/api/rules/{rule['id']}", headers=write)).status_code == 204
    assert (await client.delete(f"/api/rules/{rule['id']}", headers=write)).status_code == 404

    hook = {"url": "https://hooks.slack.com/services/T1/B2/very-secret", "format": "slack"}
    assert (await client.post("/api/webhooks", json=hook, headers=write)).status_code == 403
    assert (await client.get("/api/webhooks", headers=read)).status_code == 403
    made = await client.post("/api/webhooks", json=hook)
    assert made.status_code == 201 and "very-secret" not in made.text
    listed = (await client.get("/api/webhooks")).json()["webhooks"]
    assert [h["url"] for h in listed] == ["https://hooks.slack.com/services/***"]
    assert (await client.delete(f"/api/webhooks/{listed[0]['id']}")).status_code == 204
    assert (await client.get("/api/alerts", headers=read)).json() == {"alerts": []}


@pytest.mark.parametrize("body", [
    {"kind": "loud"},
    {"kind": "spike"},
    {"kind": "threshold", "key": "acc", "params": {"op": "<"}},
    {"kind": "threshold", "key": "acc", "params": {"op": "<", "value": "NaN"}},
    {"kind": "stall", "params": {"minutes": 0}},
    {"kind": "nan", "project": "p", "run_id": "r"},
    {"kind": "nan", "run_id": "no-such-run"},
    {"kind": "nan", "cooldown_s": -5},
    {"kind": "nan", "extra": 1},
])
async def test_bad_rules_get_422_saying_why(client: Client, body: dict[str, object]) -> None:
    r = await client.post("/api/rules", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input" and r.json()["error"]["message"]


@pytest.mark.parametrize("body", [
    {"url": "ftp://example.com/x"}, {"url": "http://"}, {"url": "http://x/y", "format": "teams"},
])
async def test_bad_webhooks_get_422(client: Client, body: dict[str, object]) -> None:
    assert (await client.post("/api/webhooks", json=body)).status_code == 422


async def test_alerts_are_listed_newest_first(client: Client, store: Store) -> None:
    run = store.create_run(project="p", name="r1")
    store.add_event(run.id, "alert", {"rule_id": None, "kind": "sdk", "title": "a",
                                      "severity": "info", "value": float("nan")})
    store.add_event(run.id, "alert", {"title": "b"})
    alerts = (await client.get("/api/alerts", params={"limit": 1})).json()["alerts"]
    assert [a["title"] for a in alerts] == ["b"]
    both = (await client.get("/api/alerts", params={"project": "p"})).json()["alerts"]
    assert [a["title"] for a in both] == ["b", "a"] and both[1]["value"] == "NaN"
    assert both[1]["run_name"] == "r1"
    assert (await client.get("/api/alerts", params={"limit": 0})).status_code == 422


def test_cli_rules_and_webhooks(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--dir", str(tmp_path / "td")],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    added = json.loads(run("rules", "add", "threshold", "-k", "val/acc", "-p", "op=<",
                           "-p", "value=0.5", "-p", "after_step=10000", "--project", "vision",
                           "--severity", "error", "--json"))
    assert added["params"] == {"op": "<", "value": 0.5, "after_step": 10000}
    assert [r["id"] for r in json.loads(run("rules", "ls", "--json"))] == [added["id"]]
    assert "val/acc" in run("rules", "ls")
    bad = CliRunner().invoke(cli, ["rules", "add", "spike", "--dir", str(tmp_path / "td")])
    assert bad.exit_code != 0 and "need a key" in bad.output
    hook = json.loads(run("webhooks", "add", "https://discord.com/api/webhooks/1/tok",
                          "-f", "discord", "--json"))
    assert hook["url"] == "https://discord.com/api/***"
    assert "tok" not in run("webhooks", "ls")
    run("webhooks", "rm", hook["id"])
    run("rules", "rm", added["id"])
    assert "no rules yet" in run("rules", "ls")
