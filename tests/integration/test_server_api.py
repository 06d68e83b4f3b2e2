"""The REST API in process (ASGI transport) over a real SQLite file.

Tests write runs and metrics with the store directly, read them back over HTTP, and check
every response against the pydantic models that make the OpenAPI schema.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from support import api_error as error

from traindeck.server import Settings, create_app
from traindeck.server.protocol import SERVER_MESSAGE
from traindeck.server.schemas import (
    BucketsOut,
    CommandList,
    CommandOut,
    CompareOut,
    EventList,
    LatestOut,
    MetricKeys,
    RunList,
    RunOut,
    SystemHistory,
    SystemStatus,
    Version,
)
from traindeck.store import Store

Client = httpx.AsyncClient


def app_for(tmp_path: Path, store: Store, **settings: Any) -> Any:
    base: dict[str, Any] = {"dir": store.files_root, "web_dir": tmp_path / "no-web"}
    return create_app(Settings(**{**base, **settings}), store=store)


@pytest.fixture
async def client(tmp_path: Path, store: Store) -> AsyncIterator[Client]:
    app = app_for(tmp_path, store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def ok(r: httpx.Response, model: type[BaseModel], status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    model.model_validate(body)
    return body




def write(store: Store, run_id: str, key: str, values: list[float],
          start: int = 0) -> None:
    steps = list(range(start, start + len(values)))
    store.write_metrics(run_id, {key: (steps, [1000.0 + s for s in steps], values)})


# -- runs ------------------------------------------------------------------------------


async def test_health_version_and_openapi(client: Client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    v = ok(await client.get("/api/version"), Version)
    assert v["schema_version"] >= 1 and v["version"]
    schema = (await client.get("/openapi.json")).json()
    for path in ("/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/metrics/buckets",
                 "/api/metrics/compare", "/api/runs/{run_id}/events",
                 "/api/runs/{run_id}/commands", "/api/commands/{command_id}",
                 "/api/system/status", "/api/system/history", "/health", "/api/version"):
        assert path in schema["paths"], path
    run_get = schema["paths"]["/api/runs/{run_id}"]["get"]["responses"]
    assert "RunOut" in str(run_get["200"]) and "ErrorBody" in str(run_get["404"])
    assert (await client.get("/docs")).status_code == 200
    ws_schema = (await client.get("/api/ws/schema")).json()
    assert "metric_update" in str(ws_schema["server"])


async def test_list_runs_filters_sort_and_paging(client: Client, store: Store) -> None:
    store.create_run(project="a", id="r1", name="alpha", tags=["x"], status="completed")
    store.create_run(project="a", id="r2", name="beta", tags=["x", "y"])
    store.create_run(project="b", id="r3", name="gamma_1", status="failed")

    body = ok(await client.get("/api/runs"), RunList)
    assert body["total"] == 3 and [r["id"] for r in body["runs"]] == ["r3", "r2", "r1"]
    assert [r["id"] for r in (await client.get("/api/runs?order=asc")).json()["runs"]] == [
        "r1", "r2", "r3"]
    assert [r["id"] for r in (await client.get("/api/runs?project=a")).json()["runs"]] == [
        "r2", "r1"]
    assert [r["id"] for r in (await client.get("/api/runs?tag=y")).json()["runs"]] == ["r2"]
    both = (await client.get("/api/runs?status=completed,failed")).json()
    assert {r["id"] for r in both["runs"]} == {"r1", "r3"}
    assert [r["id"] for r in (await client.get("/api/runs?q=mma_")).json()["runs"]] == ["r3"]
    by_name = (await client.get("/api/runs?sort=name&order=asc")).json()["runs"]
    assert [r["name"] for r in by_name] == ["alpha", "beta", "gamma_1"]
    page = (await client.get("/api/runs?limit=1&offset=1&order=asc")).json()
    assert page["total"] == 3 and [r["id"] for r in page["runs"]] == ["r2"]
    assert (await client.get("/api/projects")).json() == ["a", "b"]

    error(await client.get("/api/runs?status=bogus"), 422, "invalid_input")
    error(await client.get("/api/runs?sort=pid"), 422, "invalid_input")
    error(await client.get("/api/runs?limit=0"), 422, "invalid_input")
    error(await client.get("/api/runs?limit=abc"), 422, "invalid_input")
    error(await client.get("/api/runs?offset=-1"), 422, "invalid_input")


async def test_get_patch_delete_run(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1", name="first", config={"lr": 0.1})
    run = ok(await client.get("/api/runs/r1"), RunOut)
    assert run["name"] == "first" and run["config"] == {"lr": 0.1}
    assert run["status"] == "running"

    patched = ok(await client.patch("/api/runs/r1", json={
        "name": " renamed ", "tags": ["a", "b", "a"], "notes": "hello"}), RunOut)
    assert (patched["name"], patched["tags"], patched["notes"]) == ("renamed", ["a", "b"],
                                                                    "hello")
    assert store.get_run("r1").tags == ["a", "b"]
    unchanged = ok(await client.patch("/api/runs/r1", json={}), RunOut)
    assert unchanged["name"] == "renamed"

    for bad in ({"status": "completed"}, {"config": {}}, {"name": ""}, {"name": "   "},
                {"name": None}, {"tags": "x"}, {"tags": [1]}, {"tags": [""]},
                {"notes": 5}, {"name": "x" * 201}):
        error(await client.patch("/api/runs/r1", json=bad), 422, "invalid_input")
    error(await client.patch("/api/runs/r1", content=b"{not json",
                              headers={"content-type": "application/json"}), 422,
          "invalid_input")
    error(await client.patch("/api/runs/r1", content=b"[]",
                              headers={"content-type": "application/json"}), 422,
          "invalid_input")
    error(await client.patch("/api/runs/nope", json={"name": "x"}), 404, "not_found")

    error(await client.delete("/api/runs/r1"), 409, "conflict")  # still running
    store.set_status("r1", "completed")
    r = await client.delete("/api/runs/r1")
    assert r.status_code == 204 and r.content == b""
    error(await client.get("/api/runs/r1"), 404, "not_found")
    error(await client.delete("/api/runs/r1"), 404, "not_found")


async def test_unknown_routes_and_methods_are_json(client: Client) -> None:
    error(await client.get("/api/nothing"), 404, "not_found")
    error(await client.get("/api/runs/r1/nothing"), 404, "not_found")
    error(await client.put("/api/runs/x"), 405, "method_not_allowed")


# -- metrics ---------------------------------------------------------------------------


async def test_metric_keys_buckets_latest(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    write(store, "r1", "loss", [float(v) for v in range(100)])
    write(store, "r1", "sys/cpu_percent", [50.0] * 10)

    keys = ok(await client.get("/api/runs/r1/metrics"), MetricKeys)
    by_key = {m["key"]: m for m in keys["metrics"]}
    assert by_key["loss"]["count"] == 100 and by_key["loss"]["last_step"] == 99
    assert by_key["sys/cpu_percent"]["count"] == 10

    b = ok(await client.get("/api/runs/r1/metrics/buckets",
                            params={"key": "loss", "n": 10}), BucketsOut)
    cols = b["buckets"]
    assert b["count"] == 100 and len(cols["count"]) == 10 and sum(cols["count"]) == 100
    assert cols["min"][0] == 0.0 and cols["max"][-1] == 99.0 and cols["last"][-1] == 99.0

    window = ok(await client.get("/api/runs/r1/metrics/buckets", params={
        "key": "loss", "n": 1000, "step_min": 10, "step_max": 19}), BucketsOut)
    assert window["count"] == 10 and window["buckets"]["first_step"][0] == 10
    by_time = ok(await client.get("/api/runs/r1/metrics/buckets", params={
        "key": "loss", "time_min": 1050, "x": "time"}), BucketsOut)
    assert by_time["count"] == 50

    slash = ok(await client.get("/api/runs/r1/metrics/buckets",
                                params={"key": "sys/cpu_percent"}), BucketsOut)
    assert slash["key"] == "sys/cpu_percent" and slash["count"] == 10

    latest = ok(await client.get("/api/runs/r1/metrics/latest"), LatestOut)
    assert latest["latest"]["loss"] == {"step": 99, "time": 1099.0, "value": 99.0}

    for params in ({"key": "loss", "n": 0}, {"key": "loss", "n": 100_001},
                   {"key": "loss", "x": "epoch"}, {"n": 10},
                   {"key": "loss", "step_min": 0, "time_min": 1.0},
                   {"key": "loss", "step_min": 2**70}, {"key": "loss", "time_min": "nan"},
                   {"key": "loss", "step_min": "x"}):
        error(await client.get("/api/runs/r1/metrics/buckets", params=params), 422,
              "invalid_input")
    error(await client.get("/api/runs/r1/metrics/buckets", params={"key": "acc"}), 404,
          "not_found")
    error(await client.get("/api/runs/nope/metrics/buckets", params={"key": "loss"}), 404,
          "not_found")
    error(await client.get("/api/runs/nope/metrics"), 404, "not_found")
    error(await client.get("/api/runs/nope/metrics/latest"), 404, "not_found")


async def test_nan_and_inf_round_trip(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    values = [1.0, math.nan, math.inf, -math.inf, 2.0]
    write(store, "r1", "loss", values)
    store.update_run("r1", summary={"loss": math.nan, "best": -math.inf})

    b = ok(await client.get("/api/runs/r1/metrics/buckets", params={"key": "loss"}),
           BucketsOut)["buckets"]
    assert b["last"] == [1.0, "NaN", "Infinity", "-Infinity", 2.0]
    assert (b["nan"], b["pinf"], b["ninf"]) == ([0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                                                [0, 0, 0, 1, 0])
    assert b["min"] == [1.0, None, None, None, 2.0]

    write(store, "r1", "loss", [math.nan], start=5)
    keys = (await client.get("/api/runs/r1/metrics")).json()["metrics"]
    assert keys[0]["last_value"] == "NaN"
    latest = (await client.get("/api/runs/r1/metrics/latest")).json()["latest"]
    assert latest["loss"]["value"] == "NaN"
    summary = (await client.get("/api/runs/r1")).json()["summary"]
    assert summary == {"loss": "NaN", "best": "-Infinity"}
    # The raw text is standard JSON: no bare NaN token anywhere.
    raw = (await client.get("/api/runs/r1/metrics/buckets", params={"key": "loss"})).text
    assert "NaN," not in raw.replace('"NaN",', "")


async def test_compare_one_key_across_runs(client: Client, store: Store) -> None:
    for i, run_id in enumerate(("a", "b", "c")):
        store.create_run(project="p", id=run_id)
        if run_id != "c":
            write(store, run_id, "loss", [float(i)] * (10 * (i + 1)))
    body = ok(await client.get("/api/metrics/compare",
                               params={"key": "loss", "run_ids": "a,b,c", "n": 5}), CompareOut)
    runs = {r["run_id"]: r for r in body["runs"]}
    assert [r["run_id"] for r in body["runs"]] == ["a", "b", "c"]
    assert runs["a"]["count"] == 10 and runs["b"]["count"] == 20
    assert len(runs["b"]["buckets"]["count"]) == 5 and runs["b"]["buckets"]["max"][0] == 1.0
    assert runs["c"] == {"run_id": "c", "buckets": None, "count": 0}
    windowed = (await client.get("/api/metrics/compare", params={
        "key": "loss", "run_ids": "a,b", "step_max": 4})).json()
    assert [r["count"] for r in windowed["runs"]] == [5, 5]

    error(await client.get("/api/metrics/compare", params={"key": "loss", "run_ids": "a,zz"}),
          404, "not_found")
    error(await client.get("/api/metrics/compare", params={"key": "loss", "run_ids": " , "}),
          422, "invalid_input")
    error(await client.get("/api/metrics/compare", params={"key": "loss"}), 422,
          "invalid_input")
    many = ",".join(f"r{i}" for i in range(101))
    error(await client.get("/api/metrics/compare", params={"key": "loss", "run_ids": many}),
          422, "invalid_input")


# -- events and commands ---------------------------------------------------------------


async def test_events(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    store.add_event("r1", "note", {"text": "hi", "x": math.inf})
    store.set_status("r1", "completed")
    events = ok(await client.get("/api/runs/r1/events"), EventList)["events"]
    assert [e["kind"] for e in events] == ["status_change", "note", "status_change"]
    assert events[1]["payload"] == {"text": "hi", "x": "Infinity"}
    after = (await client.get(f"/api/runs/r1/events?after_seq={events[0]['seq']}")).json()
    assert [e["kind"] for e in after["events"]] == ["note", "status_change"]
    only = (await client.get("/api/runs/r1/events?kind=status_change&limit=1")).json()
    assert len(only["events"]) == 1 and only["events"][0]["payload"]["new_status"] == "running"
    error(await client.get("/api/runs/nope/events"), 404, "not_found")
    error(await client.get("/api/runs/r1/events?after_seq=-1"), 422, "invalid_input")
    error(await client.get("/api/runs/r1/events?limit=5001"), 422, "invalid_input")


async def test_commands(client: Client, store: Store) -> None:
    store.create_run(project="p", id="r1")
    r = await client.post("/api/runs/r1/commands",
                          json={"name": "validate", "args": {"scale": 2.0}})
    cmd = ok(r, CommandOut, 201)
    assert (cmd["name"], cmd["args"], cmd["status"]) == ("validate", {"scale": 2.0}, "pending")
    assert ok(await client.get(f"/api/commands/{cmd['id']}"), CommandOut) == cmd

    [taken] = store.take_pending_commands("r1")
    store.finish_command(taken.id, ok=True, result={"val_loss": math.nan})
    done = (await client.get(f"/api/commands/{cmd['id']}")).json()
    assert done["status"] == "done" and done["result"] == {"val_loss": "NaN"}

    await client.post("/api/runs/r1/commands", json={"name": "save"})
    listed = ok(await client.get("/api/runs/r1/commands"), CommandList)["commands"]
    assert [c["name"] for c in listed] == ["save", "validate"]
    pending = (await client.get("/api/runs/r1/commands?status=pending")).json()["commands"]
    assert [c["name"] for c in pending] == ["save"]

    for bad in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "x", "args": [1]},
                {"name": "x", "extra": 1}):
        error(await client.post("/api/runs/r1/commands", json=bad), 422, "invalid_input")
    error(await client.get("/api/runs/r1/commands?status=weird"), 422, "invalid_input")
    error(await client.post("/api/runs/nope/commands", json={"name": "x"}), 404, "not_found")
    error(await client.get("/api/commands/nope"), 404, "not_found")
    store.set_status("r1", "completed")
    error(await client.post("/api/runs/r1/commands", json={"name": "x"}), 409, "conflict")


# -- system ----------------------------------------------------------------------------


async def test_system_status_and_history(client: Client, store: Store) -> None:
    status = ok(await client.get("/api/system/status"), SystemStatus)
    assert status["cpu_count"] >= 1 and status["mem_total"] > 0
    store.create_run(project="p", id="r1")
    write(store, "r1", "sys/cpu_percent", [10.0, 20.0, math.nan])
    write(store, "r1", "sys/gpu0/util", [1.0, 2.0])
    write(store, "r1", "loss", [1.0])
    hist = ok(await client.get("/api/system/history?run_id=r1&n=10"), SystemHistory)
    assert set(hist["series"]) == {"sys/cpu_percent", "sys/gpu0/util"}
    assert hist["series"]["sys/cpu_percent"]["nan"] == [0, 0, 1]
    error(await client.get("/api/system/history?run_id=nope"), 404, "not_found")
    error(await client.get("/api/system/history"), 422, "invalid_input")


# -- limits, static --------------------------------------------------------------------


async def test_body_size_limit(tmp_path: Path, store: Store) -> None:
    store.create_run(project="p", id="r1")
    app = app_for(tmp_path, store, max_body_bytes=1000)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            big = {"name": "validate", "args": {"blob": "x" * 2000}}
            error(await c.post("/api/runs/r1/commands", json=big), 413, "too_large")

            async def chunked() -> AsyncIterator[bytes]:  # no Content-Length
                yield b'{"name": "validate", "args": {"blob": "'
                for _ in range(10):
                    yield b"x" * 200
                yield b'"}}'

            r = await c.post("/api/runs/r1/commands", content=chunked(),
                             headers={"content-type": "application/json"})
            assert "content-length" not in r.request.headers
            error(r, 413, "too_large")
            small = await c.post("/api/runs/r1/commands", json={"name": "validate"})
            assert small.status_code == 201
    assert [c.name for c in store.list_commands("r1")] == ["validate"]


async def test_no_build_note_and_spa(tmp_path: Path, store: Store) -> None:
    app = app_for(tmp_path, store)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            for path in ("/", "/runs/abc"):  # no build: a note on how to build it
                page = await c.get(path)
                assert page.status_code == 503 and "npm run build" in page.text

    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>spa</html>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("secret")
    app = app_for(tmp_path, store, web_dir=web)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            assert (await c.get("/")).text == "<html>spa</html>"
            assert (await c.get("/runs/abc/charts")).text == "<html>spa</html>"
            assert (await c.get("/assets/app.js")).text == "console.log(1)"
            assert "secret" not in (await c.get("/..%2Fsecret.txt")).text
            assert "secret" not in (await c.get("/assets/..%2F..%2Fsecret.txt")).text
            error(await c.get("/api/nope"), 404, "not_found")
            assert (await c.get("/health")).json() == {"status": "ok"}


async def test_cors_is_closed_by_default_and_opens_per_origin(
    tmp_path: Path, store: Store
) -> None:
    for origins, allowed in (((), False), (("http://ui.example",), True)):
        app = app_for(tmp_path, store, cors_origins=origins)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://t") as c:
                r = await c.get("/api/runs", headers={"origin": "http://ui.example"})
                assert ("access-control-allow-origin" in r.headers) is allowed
                evil = await c.get("/api/runs", headers={"origin": "http://evil.example"})
                assert "access-control-allow-origin" not in evil.headers


async def test_every_endpoint_and_message_is_documented(client: Client) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    schema = (await client.get("/openapi.json")).json()
    for path, methods in schema["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}" in doc, f"{method.upper()} {path} undocumented"
    types = [d["properties"]["type"]["const"]
             for d in SERVER_MESSAGE.json_schema()["$defs"].values()
             if "const" in d.get("properties", {}).get("type", {})]
    assert len(types) == 13
    for name in types:
        assert f"| `{name}` |" in doc, f"server message {name} undocumented"


def test_settings_are_checked_and_normalised(tmp_path: Path) -> None:
    s = Settings(dir=str(tmp_path), web_dir=str(tmp_path / "w"), cors_origins=["http://a"])  # type: ignore[arg-type]
    assert s.web_dir == tmp_path / "w" and s.cors_origins == ("http://a",)
    assert Settings().host == "127.0.0.1" and Settings().cors_origins == ()
    assert Settings(host="::1", port=9).url == "http://[::1]:9"
    for bad in ({"cors_origins": ("*",)}, {"port": 70000}, {"follow_interval": 0},
                {"max_body_bytes": 0}):
        with pytest.raises(ValueError):
            Settings(**bad)  # type: ignore[arg-type]
