"""``GET /api/metrics/compare/many``: several keys across runs in one answer, each key
exactly what ``GET /api/metrics/compare`` answers for it (in process, real SQLite file)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import api_error as error

from traindeck.server import Settings, create_app
from traindeck.server.schemas import CompareManyOut
from traindeck.store import Store

Client = httpx.AsyncClient
MANY = "/api/metrics/compare/many"


@pytest.fixture
async def client(tmp_path: Path, store: Store) -> AsyncIterator[Client]:
    settings = Settings(dir=store.files_root, web_dir=tmp_path / "no-web")
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def write(store: Store, run_id: str, key: str, values: list[float]) -> None:
    steps = list(range(len(values)))
    store.write_metrics(run_id, {key: (steps, [1000.0 + s for s in steps], values)})




@pytest.fixture
def runs(store: Store) -> list[str]:
    for run_id in ("a", "b", "c"):
        store.create_run(project="p", id=run_id)
    write(store, "a", "loss", [1.0, math.nan, 3.0, math.inf] * 25)
    write(store, "b", "loss", [float(i) for i in range(200)])
    write(store, "a", "val/acc", [0.5] * 40)
    write(store, "c", "val/acc", [-math.inf, 0.25])
    return ["a", "b", "c"]


async def test_each_key_is_what_compare_answers(client: Client, runs: list[str]) -> None:
    params: dict[str, Any] = {"keys": ["val/acc", "loss", "nope"], "run_ids": ",".join(runs),
                              "n": 7}
    r = await client.get(MANY, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    CompareManyOut.model_validate(body)
    assert body["x"] == "step"
    assert [c["key"] for c in body["results"]] == ["val/acc", "loss", "nope"]
    for got in body["results"]:
        one = await client.get("/api/metrics/compare", params={
            "key": got["key"], "run_ids": "a,b,c", "n": 7})
        assert got == one.json()
    loss = {s["run_id"]: s for s in body["results"][1]["runs"]}
    assert loss["a"]["count"] == 100 and loss["b"]["count"] == 200
    assert loss["c"] == {"run_id": "c", "buckets": None, "count": 0}
    assert "Infinity" in loss["a"]["buckets"]["last"]  # non-finite values spelled, exact
    assert all(s["buckets"] is None for s in body["results"][2]["runs"])
    # the raw text is standard JSON: no bare NaN/Infinity token
    assert "NaN," not in r.text.replace('"NaN",', "") and "Infinity," not in r.text.replace(
        '"Infinity",', "")


async def test_windows_axes_and_repeated_keys(client: Client, runs: list[str]) -> None:
    body = (await client.get(MANY, params={
        "keys": ["loss", "loss", "val/acc"], "run_ids": "b,a", "step_max": 9})).json()
    assert [c["key"] for c in body["results"]] == ["loss", "val/acc"]
    assert [s["run_id"] for s in body["results"][0]["runs"]] == ["b", "a"]
    assert [s["count"] for s in body["results"][0]["runs"]] == [10, 10]
    by_time = (await client.get(MANY, params={
        "keys": ["loss"], "run_ids": "b", "x": "time", "time_min": 1100.0, "n": 1000})).json()
    assert by_time["x"] == "time" and by_time["results"][0]["runs"][0]["count"] == 100


async def test_bad_input_is_a_clear_error(client: Client, runs: list[str]) -> None:
    assert "run 'zz'" in error(await client.get(MANY, params={
        "keys": ["loss"], "run_ids": "a,zz"}), 404, "not_found")
    for params in (
        {"run_ids": "a"},                                        # no key
        {"keys": [""], "run_ids": "a"},                          # an empty key
        {"keys": ["k" * 501], "run_ids": "a"},                   # a key too long
        {"keys": [f"k{i}" for i in range(201)], "run_ids": "a"},  # too many keys
        {"keys": ["loss"], "run_ids": " , "},                    # no run
        {"keys": ["loss"], "run_ids": ",".join(f"r{i}" for i in range(101))},
        {"keys": ["loss"], "run_ids": "a", "n": 0},
        {"keys": ["loss"], "run_ids": "a", "x": "epoch"},
        {"keys": ["loss"], "run_ids": "a", "time_min": "nan"},
        {"keys": ["loss"], "run_ids": "a", "step_min": 2**63},
    ):
        error(await client.get(MANY, params=params), 422, "invalid_input")
    # keys x runs x n beyond what one compare may read
    big = {"keys": [f"k{i}" for i in range(101)], "run_ids": ",".join(f"r{i}" for i in range(100)),
           "n": 1000}
    assert "at most" in error(await client.get(MANY, params=big), 422, "invalid_input")
