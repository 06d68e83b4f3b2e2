"""``GET /api/metrics/keys`` (the keys of several runs in one answer, each key named once)
and ``compare/many``'s ``fields`` (only the columns asked for), over a real server on a free
port and a real SQLite store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import served
from support import api_error as error

from traindeck.server import Settings, create_app
from traindeck.server.schemas import CompareManyOut, RunsKeysOut
from traindeck.store import Store

KEYS = "/api/metrics/keys"
MANY = "/api/metrics/compare/many"
STEP_FIELDS = "first_step,last_step,count,min,max,mean,last,nan,pinf,ninf"


def write(store: Store, run_id: str, key: str, values: list[float]) -> None:
    steps = list(range(len(values)))
    store.write_metrics(run_id, {key: (steps, [1000.0 + s for s in steps], values)})


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[httpx.Client]:
    for run_id in ("a", "b", "c", "empty"):
        store.create_run(project="p", id=run_id)
    write(store, "a", "loss", [1.0, math.nan, 3.0, math.inf] * 25)
    write(store, "a", "val/acc", [0.5] * 40)
    write(store, "b", "loss", [float(i) for i in range(200)])
    write(store, "b", "sys/cpu", [10.0, 20.0])
    write(store, "c", "val/acc", [-math.inf, 0.25])
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as url, httpx.Client(base_url=url, timeout=20) as c:
        yield c




def test_keys_of_several_runs_name_each_key_once(client: httpx.Client) -> None:
    r = client.get(KEYS, params={"run_ids": "b,a,empty,c"})
    assert r.status_code == 200, r.text
    body = r.json()
    RunsKeysOut.model_validate(body)
    assert body["keys"] == ["loss", "sys/cpu", "val/acc"]
    per_run = {s["run_id"]: [body["keys"][i] for i in s["keys"]] for s in body["runs"]}
    assert [s["run_id"] for s in body["runs"]] == ["b", "a", "empty", "c"]
    # each run's keys: what GET /api/runs/{id}/metrics lists for it
    for run_id, keys in per_run.items():
        one = client.get(f"/api/runs/{run_id}/metrics").json()
        assert keys == [m["key"] for m in one["metrics"]]
    assert per_run == {"b": ["loss", "sys/cpu"], "a": ["loss", "val/acc"], "empty": [],
                       "c": ["val/acc"]}
    # a run named twice is answered once
    twice = client.get(KEYS, params={"run_ids": "a, a ,"}).json()
    assert [s["run_id"] for s in twice["runs"]] == ["a"]


def test_keys_bad_input_is_a_clear_error(client: httpx.Client) -> None:
    assert "run 'zz'" in error(client.get(KEYS, params={"run_ids": "a,zz"}), 404, "not_found")
    for params in ({}, {"run_ids": ""}, {"run_ids": " , "},
                   {"run_ids": ",".join(f"r{i}" for i in range(101))}):
        error(client.get(KEYS, params=params), 422, "invalid_input")


def test_fields_answer_only_the_columns_asked_for(client: httpx.Client) -> None:
    params: dict[str, Any] = {"keys": ["loss", "val/acc"], "run_ids": "a,b,c", "n": 7}
    full = client.get(MANY, params=params).json()
    r = client.get(MANY, params={**params, "fields": STEP_FIELDS})
    assert r.status_code == 200, r.text
    some = r.json()
    CompareManyOut.model_validate(some)
    wanted = STEP_FIELDS.split(",")
    for got, whole in zip(some["results"], full["results"], strict=True):
        assert got["key"] == whole["key"]
        for s, w in zip(got["runs"], whole["runs"], strict=True):
            assert s["count"] == w["count"]
            if w["buckets"] is None:  # the run has no such key
                assert s["buckets"] is None
                continue
            assert list(s["buckets"]) == wanted
            assert s["buckets"] == {f: w["buckets"][f] for f in wanted}
    # names in any order and with spaces: the usual column order
    two = client.get(MANY, params={**params, "fields": " max , min"}).json()
    assert list(two["results"][0]["runs"][0]["buckets"]) == ["min", "max"]
    assert len(r.content) < len(client.get(MANY, params=params).content)


def test_fields_bad_input_is_a_clear_error(client: httpx.Client) -> None:
    base: dict[str, Any] = {"keys": ["loss"], "run_ids": "a"}
    assert "unknown column 'when'" in error(
        client.get(MANY, params={**base, "fields": "min,when"}), 422, "invalid_input")
    for fields in ("", " , ", "MIN"):
        error(client.get(MANY, params={**base, "fields": fields}), 422, "invalid_input")
