"""The batch route's body is in the OpenAPI document, written from the wire format's own
declarations, and agrees with the checks the server runs (``batch_wire.check_batch``).

Issue 9 review: the route reads a raw body, so its body had no schema at all.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest

from traindeck.server import Settings, create_app
from traindeck.server.batch_openapi import BATCH, BODY, RUNS_BODY
from traindeck.store import InvalidInput
from traindeck.store.batch_wire import (
    BATCH_FIELDS,
    RUN_FIELDS,
    check_batches,
    parse_body,
    parse_runs,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()

FULL: dict[str, Any] = {
    "batch_id": "b1",
    "run": {"project": "mnist", "name": None, "config": {"lr": 0.1}, "tags": ["a"],
            "notes": "n", "started_at": 1.5, "heartbeat_timeout": 30, "host": None,
            "pid": 12, "command": "python t.py", "git_commit": None, "git_dirty": False,
            "env": {}, "commands_offered": ["stop"]},
    "update": {"notes": "later", "tags": []},
    "metrics": {"loss": {"steps": [0, 1], "times": [1.0, 2], "values": [0.5, "NaN"]}},
    "summary": {"best": 1}, "heartbeat": 3.0,
    "events": [{"kind": "signal", "payload": {"x": 1}}, {"kind": "note"}],
    "command_results": [{"id": "c1", "ok": True, "result": {"v": 1}, "error": None}],
    "logs": [[1.0, "stdout", "hello"]],
    "media": [{"key": "samples", "step": 1, "filename": "1.png", "caption": None,
               "data": PNG}],
    "checkpoints": [{"id": "k1", "step": 3, "path": "checkpoints/a.pth", "kind": "regular",
                     "metrics": {}, "metadata": {}, "size": 1, "sha256": None,
                     "host": "h", "is_best": True}],
    "checkpoint_best": "k1",
    "checkpoints_deleted": [{"id": "k0", "reason": "retention"}],
    "status": "completed",
}


def body_schema_of_the_route(tmp_path: Path) -> dict[str, Any]:
    spec = create_app(Settings(dir=tmp_path)).openapi()
    op = spec["paths"]["/api/runs/{run_id}/batch"]["post"]
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_the_route_publishes_the_body_schema(tmp_path: Path) -> None:
    assert body_schema_of_the_route(tmp_path) == BODY
    assert set(BATCH["properties"]) == BATCH_FIELDS
    assert BATCH["required"] == ["batch_id"] and BATCH["additionalProperties"] is False
    for where in ("run", "update"):
        fields = BATCH["properties"][where]["anyOf"][0]
        assert set(fields["properties"]) == RUN_FIELDS
        assert all(f["description"] for f in fields["properties"].values())
    assert BATCH["properties"]["run"]["anyOf"][0]["required"] == ["project"]


def accepted_by_the_server(body: Any) -> bool:
    try:
        parse_body(orjson.dumps(body))
    except InvalidInput:
        return False
    return True


def with_(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(orjson.dumps(FULL))
    at = body
    for part in path[:-1]:
        at = at[part]
    at[path[-1]] = value
    return body


GOOD = [FULL, [FULL, {**FULL, "batch_id": "b2"}], {"batch_id": "x"},
        {"batch_id": "x", "update": {"config": {}}}, with_(("status",), None),
        with_(("metrics", "loss", "values"), ["Infinity", "-Infinity"])]
BAD = [
    # defect 17's bodies: the run fields' types
    {"batch_id": "x1", "update": {"notes": {"a": 1}}},
    {"batch_id": "x1", "update": {"tags": "x"}},
    {"batch_id": "x1", "update": {"config": 5}},
    {"batch_id": "x1", "update": {"config": [1]}},
    {"batch_id": "x1", "update": {"tags": [1]}},
    {"batch_id": "x1", "run": {"project": "p", "tags": "x"}},
    {"batch_id": "x1", "run": {"name": "no project"}},
    {"batch_id": "x1", "update": {"nope": 1}},
    {"batch_id": "x1", "nope": 1},
    {"update": {}},
    {"batch_id": ""},
    [],
    with_(("status",), "exploded"),
    with_(("heartbeat",), "soon"),
    with_(("logs",), [[1.0, "stdin", "x"]]),
    with_(("metrics", "loss", "steps"), [0.5, 1]),
    with_(("metrics", "loss", "values"), ["nan", 1]),
    with_(("checkpoints", 0, "step"), -1),
    with_(("media", 0, "step"), "1"),
    with_(("run", "heartbeat_timeout"), 0),
    with_(("run", "pid"), 1.5),
]


@pytest.mark.parametrize("body", GOOD)
def test_bodies_the_server_takes_match_the_schema(body: Any) -> None:
    assert accepted_by_the_server(body)
    assert jsonschema_rs.validator_for(BODY).is_valid(body)


@pytest.mark.parametrize("body", BAD)
def test_bodies_the_server_refuses_do_not_match_the_schema(body: Any) -> None:
    assert not accepted_by_the_server(body)
    assert not jsonschema_rs.validator_for(BODY).is_valid(body)


def runs_body_accepted(body: Any) -> bool:
    try:
        for _, batches in parse_runs(orjson.dumps(body)):
            check_batches(batches)
    except InvalidInput:
        return False
    return True


RUNS_GOOD = [[{"run_id": "a", "batches": [FULL]}],
             [{"run_id": "a", "batches": [FULL]},
              {"run_id": "b", "batches": [{"batch_id": "x"}]}]]
RUNS_BAD = [[], {}, [{"run_id": "a"}], [{"run_id": "a", "batches": []}],
            [{"run_id": "", "batches": [FULL]}], [{"run_id": 5, "batches": [FULL]}],
            [{"run_id": "a", "batches": [FULL], "more": 1}],
            [{"run_id": "a", "batches": [{"update": {}}]}],
            [{"run_id": f"r{i}", "batches": [{"batch_id": "x"}]} for i in range(1001)]]


def test_the_runs_route_publishes_its_body_schema(tmp_path: Path) -> None:
    spec = create_app(Settings(dir=tmp_path)).openapi()
    op = spec["paths"]["/api/batches"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == RUNS_BODY
    assert RUNS_BODY["items"]["properties"]["batches"]["items"] == BATCH
    validator = jsonschema_rs.validator_for(RUNS_BODY)
    for body in RUNS_GOOD:
        assert runs_body_accepted(body) and validator.is_valid(body), body
    for body in RUNS_BAD:
        assert not runs_body_accepted(body) and not validator.is_valid(body), body
