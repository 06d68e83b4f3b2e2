"""``/api/configs`` in process (ASGI transport) over a real templates folder and a real
SQLite store: list, read, validate with a preset and overrides, each kind of error, a broken
template (422), a failing estimate hook (200, ``ok: false``), no templates folder (404)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import BaseModel
from support import wait_for

from traindeck.server import Settings, create_app
from traindeck.server.routers.configs import ConfigList, ConfigOut, ValidateOut
from traindeck.server.schemas import ErrorBody
from traindeck.store import Store

Client = httpx.AsyncClient
Connect = Callable[..., AbstractAsyncContextManager[Client]]

SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "integer", "minimum": 1},
        "width": {"type": "integer", "maximum": 512},
        "act": {"enum": ["relu", "tanh"]},
        "optim": {"type": "object", "properties": {"lr": {"type": "number",
                                                          "exclusiveMinimum": 0}},
                  "required": ["lr"], "additionalProperties": False},
    },
    "required": ["steps"],
    "additionalProperties": False,
}
DEFAULTS = {"steps": 1000, "width": 64, "act": "relu", "optim": {"lr": 0.1}}
HOOKS = """
def params(config):
    w = config["width"]
    return {"params": w * w, "steps": config["steps"]}

def boom(config):
    raise RuntimeError("cannot estimate this; token=td_secretsecret")
"""


def write_template(root: Path, name: str, spec: dict[str, Any]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "traindeck.yaml").write_text(yaml.safe_dump(spec))
    (folder / "config.yaml").write_text(yaml.safe_dump(DEFAULTS))
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    (folder / "hooks.py").write_text(HOOKS)


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    base = {"command": "python train.py", "config": "config.yaml", "schema": "schema.json",
            "presets": {"small": ["width=8", "steps=200"], "large": ["width=512"]},
            "description": "An MLP"}
    write_template(root, "mlp", {**base, "estimate": "hooks:params"})
    write_template(root, "failing", {**base, "estimate": "hooks:boom"})
    write_template(root, "broken", {**base, "schema": {"type": "nope"}})
    return root


@pytest.fixture
def connect(tmp_path: Path, store: Store) -> Connect:
    @asynccontextmanager
    async def go(**settings: Any) -> AsyncIterator[Client]:
        base: dict[str, Any] = {"dir": store.files_root, "web_dir": tmp_path / "no-web"}
        app = create_app(Settings(**{**base, **settings}), store=store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c
    return go


@pytest.fixture
async def client(connect: Connect, templates_dir: Path) -> AsyncIterator[Client]:
    async with connect(templates_dir=templates_dir) as c:
        yield c


def ok(r: httpx.Response, model: type[BaseModel], status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    model.model_validate(body)
    return body


async def test_list_shows_the_good_templates_and_why_the_broken_one_is_not(
        client: Client) -> None:
    body = ok(await client.get("/api/configs"), ConfigList)
    assert body["configs"] == [
        {"name": "failing", "description": "An MLP", "presets": ["large", "small"],
         "command": ["python", "train.py"]},
        {"name": "mlp", "description": "An MLP", "presets": ["large", "small"],
         "command": ["python", "train.py"]},
    ]
    [broken] = body["broken"]
    assert broken["name"] == "broken"
    assert "schema is not a valid JSON Schema" in broken["error"]


async def test_get_gives_defaults_schema_and_presets(client: Client) -> None:
    body = ok(await client.get("/api/configs/mlp"), ConfigOut)
    assert body == {"name": "mlp", "description": "An MLP", "command": ["python", "train.py"],
                    "config": DEFAULTS, "schema": SCHEMA, "schema_inferred": False,
                    "presets": {"small": ["width=8", "steps=200"], "large": ["width=512"]},
                    "estimate": True, "hydra": False}


async def test_validate_a_preset_and_overrides_with_the_estimate(client: Client) -> None:
    r = await client.post("/api/configs/mlp/validate",
                          json={"preset": "small", "overrides": ["width=16", "act=tanh"],
                                "estimate": True})
    body = ok(r, ValidateOut)
    assert body == {"valid": True, "errors": [],
                    "config": {"steps": 200, "width": 16, "act": "tanh", "optim": {"lr": 0.1}},
                    "overrides": ["width=8", "steps=200", "width=16", "act=tanh"],
                    "estimate": {"ok": True, "value": {"params": 256, "steps": 200},
                                 "error": None}}
    plain = ok(await client.post("/api/configs/mlp/validate", json={}), ValidateOut)
    assert plain["valid"] and plain["config"] == DEFAULTS and plain["estimate"] is None


async def test_validate_lists_every_error_with_its_path(client: Client) -> None:
    r = await client.post("/api/configs/mlp/validate", json={
        "preset": "huge", "estimate": True,
        "overrides": ["steps=0", "width=x", "act=gelu", "~optim.lr", "nope=1", "+extra=1",
                      "width=[1,"]})
    body = ok(r, ValidateOut)
    assert not body["valid"]
    errors = {(e["path"], e["message"]) for e in body["errors"]}
    unparsable = [m for p, m in errors if m.startswith("'width=[1,': cannot parse value")]
    assert len(unparsable) == 1
    assert errors == {
        ("$", "unknown preset 'huge' (presets: large, small)"),
        ("$", unparsable[0]),
        ("$.nope", "'nope=1': unknown key 'nope'; use +nope=VALUE to add it"),
        ("$.steps", "0 is less than the minimum of 1"),
        ("$.width", "'x' is not of type 'integer'"),
        ("$.act", "'gelu' is not one of ['relu', 'tanh']"),
        ("$.optim.lr", "required key missing"),
        ("$.extra", "unknown key 'extra'"),
    }
    assert body["overrides"][-1] == "width=[1,"
    assert body["estimate"] == {"ok": False, "value": None,
                                "error": "not run: the config has errors"}


async def test_a_failing_estimate_is_shown_not_a_500(client: Client) -> None:
    r = await client.post("/api/configs/failing/validate", json={"estimate": True})
    body = ok(r, ValidateOut)
    assert body["valid"] and body["estimate"]["ok"] is False
    error = body["estimate"]["error"]
    assert "RuntimeError: cannot estimate this" in error and "td_secretsecret" not in error


async def test_estimates_run_a_few_at_a_time_and_the_rest_hear_busy(
        client: Client, templates_dir: Path, tmp_path: Path) -> None:
    """Each estimate is a child process: a flood of validations runs at most
    ``ESTIMATES_AT_ONCE`` of them; the others answer (valid config) with a busy estimate."""
    from traindeck.server.app import ESTIMATES_AT_ONCE

    gate, started = tmp_path / "gate", tmp_path / "started"
    started.mkdir()
    spec = yaml.safe_load((templates_dir / "mlp" / "traindeck.yaml").read_text())
    write_template(templates_dir, "slow", {**spec, "estimate": "waits:hook"})
    (templates_dir / "slow" / "waits.py").write_text(textwrap.dedent(f"""
        import os, time
        def hook(config):
            open(os.path.join({str(started)!r}, str(os.getpid())), "w").close()
            while not os.path.exists({str(gate)!r}):
                time.sleep(0.02)
            return {{"ok": 1}}
        """))
    body = {"estimate": True}
    running = [asyncio.create_task(client.post("/api/configs/slow/validate", json=body))
               for _ in range(ESTIMATES_AT_ONCE)]
    await asyncio.to_thread(wait_for, lambda: len(list(started.iterdir())) == ESTIMATES_AT_ONCE,
                            30, "the estimates to start")
    busy = ok(await client.post("/api/configs/slow/validate", json=body), ValidateOut)
    assert busy["valid"] and busy["estimate"]["ok"] is False
    assert "busy" in busy["estimate"]["error"]
    gate.touch()
    for task in running:
        done = ok(await task, ValidateOut)
        assert done["estimate"] == {"ok": True, "value": {"ok": 1}, "error": None}
    assert len(list(started.iterdir())) == ESTIMATES_AT_ONCE  # the busy one never ran


async def test_a_broken_template_is_422(client: Client) -> None:
    for r in (await client.get("/api/configs/broken"),
              await client.post("/api/configs/broken/validate", json={})):
        body = ok(r, ErrorBody, 422)
        assert body["error"]["code"] == "invalid_input"
        assert body["error"]["message"].startswith(
            "template 'broken': schema is not a valid JSON Schema: 'nope' is not valid")


async def test_a_launch_of_a_bad_template_or_config_is_refused_and_makes_nothing(
        client: Client, templates_dir: Path, store: Store) -> None:
    """Issue 10 §5: a broken schema, a missing command, unknown keys or wrong types: each
    a clear 4xx, and no run and no launch are left behind."""
    spec = yaml.safe_load((templates_dir / "mlp" / "traindeck.yaml").read_text())
    write_template(templates_dir, "headless", {k: v for k, v in spec.items() if k != "command"})
    cases = [
        ({"template": "broken"}, 422, "schema is not a valid JSON Schema"),
        ({"template": "headless"}, 422, "no command"),
        ({"template": "mlp", "overrides": ["depth=3"]}, 422, "depth"),
        ({"template": "mlp", "overrides": ["width=wide"]}, 422, "width"),
        ({"template": "mlp", "preset": "huge"}, 422, "huge"),
        ({"template": "nope"}, 404, "nope"),
        ({"template": "mlp", "host": "gpu"}, 422, "local executor runs on this machine"),
        ({"template": "mlp", "executor": "teleport"}, 422, "unknown executor"),
        # another machine reaches this server through a forwarded port: tokens first
        ({"template": "mlp", "executor": "ssh", "host": "gpu"}, 422, "needs authentication"),
    ]
    for body, status, needle in cases:
        r = await client.post("/api/launches", json=body)
        assert r.status_code == status, (body, r.text)
        assert needle in r.text, (body, r.text)
    assert store.list_runs()[1] == 0 and store.list_launches() == []


async def test_executors_list_where_launches_can_run(client: Client, store: Store) -> None:
    store.add_host("gpu", user="ml", address="127.0.0.1")
    body = (await client.get("/api/executors")).json()
    local = next(e for e in body["executors"] if e["name"] == "local")
    assert local == {"name": "local", "needs_host": False, "hosts": [], "resources": []}
    remote = [e for e in body["executors"] if e["name"] != "local"]
    assert all(e["hosts"] == ["gpu"] for e in remote)


async def test_unknown_templates_and_bad_bodies(client: Client) -> None:
    assert (await client.get("/api/configs/nope")).status_code == 404
    assert (await client.get("/api/configs/..%2Fetc")).status_code == 404
    for bad in ({"overrides": "steps=1"}, {"overrides": [1]}, {"presett": "x"},
                {"overrides": ["x" * 10_001]}):
        r = await client.post("/api/configs/mlp/validate", json=bad)
        assert ok(r, ErrorBody, 422)["error"]["code"] == "invalid_input", bad


async def test_without_a_templates_folder_every_route_says_how_to_get_one(
        connect: Connect) -> None:
    async with connect() as c:
        for r in (await c.get("/api/configs"), await c.get("/api/configs/mlp"),
                  await c.post("/api/configs/mlp/validate", json={})):
            body = ok(r, ErrorBody, 404)
            assert "traindeck serve --templates DIR" in body["error"]["message"]


async def test_an_empty_or_missing_folder_lists_nothing(connect: Connect,
                                                        tmp_path: Path) -> None:
    async with connect(templates_dir=tmp_path / "not-yet") as c:
        assert ok(await c.get("/api/configs"), ConfigList) == {"configs": [], "broken": []}
