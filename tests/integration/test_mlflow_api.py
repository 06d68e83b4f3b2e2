"""MLflow's tracking API, drop-in: the real ``mlflow`` client, in a child process with
``MLFLOW_TRACKING_URI`` pointing at a real traindeck server on a free port, records runs
that traindeck shows (runs API, store, change feed), and reads back what it wrote. Auth
works with ``MLFLOW_TRACKING_TOKEN``; bad input answers MLflow's error shape, never 5xx.

Artifacts are tested in ``test_mlflow_artifacts.py``. Autologging is not exercised: every
``mlflow.<flavour>`` module imports pandas, which ``mlflow-skinny`` does not install.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import served
from support import require_module

from traindeck.server import Settings, create_app
from traindeck.store import Store

API = "/api/2.0/mlflow"
T0_MS = 1_700_000_000_000

#: What every child script starts with: mlflow, and ``report`` for its answer.
PRELUDE = """
import json, math, os, sys
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

def error_code(call):
    try:
        call()
    except MlflowException as exc:
        return exc.error_code
    return None
"""

SCRIPT = """
mlflow.set_experiment("mnist")
with mlflow.start_run(run_name="baseline", description="first try") as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_params({"batch_size": 32, "optimizer": "adam"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=T0 + step * 1000)
    mlflow.log_metrics({"acc": 0.75, "grad_norm": math.nan}, step=4, timestamp=T0 + 9000)
    mlflow.set_tag("team", "vision")
    mlflow.set_tags({"dataset": "mnist-v2"})
    first = run.info.run_id
with mlflow.start_run(run_name="worse") as run:
    mlflow.log_param("lr", 1.0)
    mlflow.log_metric("loss", 3.0, step=0)
    second = run.info.run_id
    changed = error_code(lambda: mlflow.log_param("lr", 2.0))
failed = mlflow.start_run(run_name="crashed").info.run_id
mlflow.end_run("FAILED")
client = MlflowClient()
exp = client.get_experiment_by_name("mnist")
history = client.get_metric_history(first, "loss")
got = client.get_run(first)
found = client.search_runs([exp.experiment_id], "metrics.loss < 2 and params.optimizer = 'adam'")
ordered = client.search_runs([exp.experiment_id], order_by=["metrics.loss DESC"])
named = client.search_runs([exp.experiment_id], "attributes.run_name LIKE 'cra%'")
failed_status = client.get_run(failed).info.status
client.delete_run(failed)
print(json.dumps({
    "experiment_id": exp.experiment_id, "experiment_name": exp.name,
    "first": first, "second": second, "failed": failed, "changed": changed,
    "history": [[m.step, m.timestamp, m.value] for m in history],
    "status": got.info.status, "run_name": got.info.run_name,
    "start_time": got.info.start_time, "end_time": got.info.end_time,
    "params": got.data.params, "tags": got.data.tags,
    "metrics": {k: (None if math.isnan(v) else v) for k, v in got.data.metrics.items()},
    "nan_metric": math.isnan(got.data.metrics["grad_norm"]),
    "found": [r.info.run_id for r in found],
    "ordered": [r.info.run_id for r in ordered],
    "named": [r.info.run_id for r in named], "failed_status": failed_status,
    "deleted": error_code(lambda: client.get_run(failed)),
    "unknown_run": error_code(lambda: client.log_metric("no-such-run", "x", 1.0)),
    "unknown_experiment": error_code(lambda: client.get_experiment("424242")),
    "default": client.get_experiment("0").name,
}))
"""


def run_mlflow(url: str, script: str, token: str | None = None) -> dict[str, Any]:
    """``script`` in a child process with the real mlflow client pointed at ``url``; the
    JSON object its last line prints."""
    require_module("mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env.pop("MLFLOW_TRACKING_TOKEN", None)
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    code = PRELUDE + f"T0 = {T0_MS}\n" + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def test_an_mlflow_script_records_runs_traindeck_shows_and_mlflow_reads_back(
        url: str, store: Store) -> None:
    seq0, event_seq0 = store.current_seq()
    out = run_mlflow(url, SCRIPT)
    first, second = out["first"], out["second"]

    # the traindeck side: project, name, config, notes, tags, status, times, points
    runs = httpx.get(f"{url}/api/runs", params={"project": "mnist"}).json()["runs"]
    assert {r["id"] for r in runs} == {first, second}  # the failed one was deleted
    run = httpx.get(f"{url}/api/runs/{first}").json()
    assert run["name"] == "baseline" and run["status"] == "completed"
    assert run["notes"] == "first try"
    config = run["config"]
    assert {k: config[k] for k in ("lr", "batch_size", "optimizer")} == \
        {"lr": "0.1", "batch_size": "32", "optimizer": "adam"}
    assert config["mlflow.tags"]["team"] == "vision"
    assert config["mlflow.tags"]["dataset"] == "mnist-v2"
    assert run["ended_at"] is not None and run["started_at"] <= run["ended_at"]
    loss = store.read_points(first, "loss")
    assert loss.steps.tolist() == [0, 1, 2, 3, 4]
    assert loss.times.tolist() == [(T0_MS + s * 1000) / 1000 for s in range(5)]
    assert loss.values.tolist() == [1.0 / (s + 1) for s in range(5)]
    grad = store.read_points(first, "grad_norm")
    assert grad.steps.tolist() == [4] and math.isnan(grad.values[0])
    assert grad.times.tolist() == [(T0_MS + 9000) / 1000]
    assert httpx.get(f"{url}/api/runs/{out['failed']}").status_code == 404

    # the change feed (what the dashboard's WebSocket follows) carried the writes
    changes = store.changes_since(seq0, event_seq0)
    assert {first, second} <= {r.id for r in changes.runs}
    assert {(first, "loss"), (first, "grad_norm")} <= {(s.run_id, s.key)
                                                       for s in changes.series}

    # the mlflow side: what the client reads back
    assert out["experiment_name"] == "mnist"
    assert store.find_project("mnist").id == int(out["experiment_id"])
    assert out["history"] == [[s, T0_MS + s * 1000, 1.0 / (s + 1)] for s in range(5)]
    assert out["status"] == "FINISHED" and out["run_name"] == "baseline"
    assert out["start_time"] == round(run["started_at"] * 1000)
    assert out["end_time"] == round(run["ended_at"] * 1000)
    assert out["params"] == {"lr": "0.1", "batch_size": "32", "optimizer": "adam"}
    assert out["tags"]["mlflow.runName"] == "baseline"
    assert out["tags"]["mlflow.note.content"] == "first try"
    assert out["tags"]["team"] == "vision" and "mlflow.source.name" in out["tags"]
    assert out["metrics"] == {"loss": 0.2, "acc": 0.75, "grad_norm": None}
    assert out["nan_metric"] is True
    assert out["found"] == [first]
    assert out["ordered"][:2] == [second, first]
    assert out["named"] == [out["failed"]] and out["failed_status"] == "FAILED"
    assert out["changed"] == "INVALID_PARAMETER_VALUE"  # a param is logged once
    assert store.get_run(second).config["lr"] == "1.0"
    assert out["deleted"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["unknown_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["unknown_experiment"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["default"] == "Default"


def test_a_run_made_by_the_sdk_reads_as_an_mlflow_run(url: str, store: Store) -> None:
    run = store.create_run(project="sdk", name="native", config={"model": {"depth": 4}},
                           notes="by hand")
    store.write_metrics(run.id, {"loss": ([7], [1_700_000_000.5], [0.5])})
    store.set_status(run.id, "interrupted")
    got = httpx.get(f"{url}{API}/runs/get", params={"run_id": run.id}).json()["run"]
    assert got["info"]["status"] == "FAILED"
    assert got["info"]["experiment_id"] == str(store.find_project("sdk").id)
    assert got["data"]["params"] == [{"key": "model.depth", "value": "4"}]
    assert got["data"]["metrics"] == [{"key": "loss", "value": 0.5,
                                       "timestamp": 1_700_000_000_500, "step": 7}]
    tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
    assert tags == {"mlflow.runName": "native", "mlflow.note.content": "by hand"}


def test_auth_takes_the_mlflow_tracking_token(tmp_path: Path, store: Store) -> None:
    _, writer = store.create_token("trainer", "write")
    _, reader = store.create_token("viewer", "read")
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web", auth=True),
                     store=store)
    script = """
    mlflow.set_experiment("secure")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, step=1)
    exp = MlflowClient().get_experiment_by_name("secure").experiment_id
    os.environ["MLFLOW_TRACKING_TOKEN"] = READER
    searched = [r.info.run_id for r in MlflowClient().search_runs([exp])]
    denied = error_code(lambda: MlflowClient().log_metric(run.info.run_id, "x", 1.0))
    del os.environ["MLFLOW_TRACKING_TOKEN"]
    anonymous = error_code(lambda: MlflowClient().get_run(run.info.run_id))
    os.environ["MLFLOW_TRACKING_TOKEN"] = "td_not-a-real-token"
    forged = error_code(lambda: MlflowClient().get_run(run.info.run_id))
    print(json.dumps({"run": run.info.run_id, "searched": searched, "denied": denied,
                      "anonymous": anonymous, "forged": forged}))
    """
    with served(app) as base:
        out = run_mlflow(base, f"READER = {reader!r}\n" + textwrap.dedent(script),
                         token=writer)
        no_token = httpx.post(f"{base}{API}/runs/search", json={})
    assert store.read_points(out["run"], "loss").values.tolist() == [0.5]
    assert out["searched"] == [out["run"]]  # a read token may search (a POST that reads)
    assert out["denied"] == "PERMISSION_DENIED"  # but not write
    assert out["anonymous"] == "UNAUTHENTICATED"
    assert out["forged"] == "UNAUTHENTICATED"
    assert no_token.status_code == 401 and no_token.json()["error_code"] == "UNAUTHENTICATED"


def mlflow_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    message: str = body["message"]
    return message


def test_bad_input_answers_mlflow_errors(url: str, store: Store) -> None:
    post = lambda path, body: httpx.post(f"{url}{API}/{path}", json=body)  # noqa: E731
    run = post("runs/create", {"experiment_id": "0", "run_name": "target"}).json()["run"]
    run_id = run["info"]["run_id"]
    assert store.get_run(run_id).project == "default"
    mlflow_error(post("runs/log-metric", {"run_id": "nope", "key": "x", "value": 1,
                                          "timestamp": 1}), 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(httpx.get(f"{url}{API}/runs/get", params={"run_id": "nope"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    for body in ({"run_id": run_id, "key": "x", "value": "high", "timestamp": 1},
                 {"run_id": run_id, "key": "x", "value": 1, "timestamp": 1, "step": 1.5},
                 {"run_id": run_id, "key": "x", "value": 1, "timestamp": 2**64},
                 {"run_id": run_id, "key": 3, "value": 1, "timestamp": 1},
                 {"run_id": run_id, "value": 1, "timestamp": 1},
                 {"run_id": run_id, "key": "x", "value": True, "timestamp": 1}):
        assert "x" not in {s.key for s in store.metric_keys(run_id)}
        mlflow_error(post("runs/log-metric", body), 400, "INVALID_PARAMETER_VALUE")
    # NaN and the infinities are values MLflow allows: kept as they are
    assert post("runs/log-metric", {"run_id": run_id, "key": "x", "value": "NaN",
                                    "timestamp": 1, "step": "3"}).status_code == 200
    assert post("runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "x", "value": "-Infinity", "timestamp": 2, "step": 4}]}).status_code == 200
    points = store.read_points(run_id, "x")
    assert points.steps.tolist() == [3, 4] and math.isnan(points.values[0])
    assert points.values[1] == -math.inf and points.times.tolist() == [0.001, 0.002]
    assert httpx.post(f"{url}{API}/runs/log-metric", content=b"{not json").json()[
        "error_code"] == "MALFORMED_REQUEST"
    mlflow_error(post("runs/log-batch", {"run_id": run_id, "params": "lr"}), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "m", "value": 1, "timestamp": 1}] * 1001}), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/update", {"run_id": run_id, "status": "DONE"}), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/create", {"experiment_id": "abc"}), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/create", {"experiment_id": "99"}), 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(post("experiments/create", {"name": "Default"}), 400,
                 "RESOURCE_ALREADY_EXISTS")
    mlflow_error(post("runs/search", {"experiment_ids": ["0"], "filter": "metrics.x <"}),
                 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/search", {"experiment_ids": ["0"], "filter": "bogus.x = 'a'"}),
                 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/delete", {"run_id": run_id}), 400, "INVALID_STATE")  # running
    mlflow_error(post("runs/restore", {"run_id": run_id}), 404, "ENDPOINT_NOT_FOUND")
    assert store.get_run(run_id).status == "running"


def test_the_other_calls_rename_untag_page_and_record_inputs(url: str, store: Store) -> None:
    post = lambda path, body: httpx.post(f"{url}{API}/{path}", json=body)  # noqa: E731
    exp = post("experiments/create", {"name": "paged"}).json()["experiment_id"]
    run_id = post("runs/create", {"experiment_id": exp, "start_time": T0_MS, "tags": [
        {"key": "keep", "value": "1"}, {"key": "drop", "value": "2"}]}).json()["run"][
        "info"]["run_id"]
    run = store.get_run(run_id)
    assert run.started_at == T0_MS / 1000 and run.project == "paged"
    assert run.heartbeat_at is None  # no heartbeat: the reaper never interrupts it
    assert post("runs/update", {"run_id": run_id, "run_name": "renamed"}).json()[
        "run_info"]["run_name"] == "renamed"
    assert store.get_run(run_id).name == "renamed"
    assert post("runs/delete-tag", {"run_id": run_id, "key": "drop"}).status_code == 200
    assert store.get_run(run_id).config["mlflow.tags"] == {"keep": "1"}
    mlflow_error(post("runs/delete-tag", {"run_id": run_id, "key": "drop"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert post("runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "loss", "value": s / 10, "timestamp": T0_MS + s, "step": s}
        for s in range(5)]}).status_code == 200
    pages, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": "loss", "max_results": "2",
                  **({"page_token": token} if token else {})}
        page = httpx.get(f"{url}{API}/metrics/get-history", params=params).json()
        pages.append([p["step"] for p in page["metrics"]])
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == [[0, 1], [2, 3], [4]]
    assert post("runs/log-inputs", {"run_id": run_id, "datasets": [{
        "dataset": {"name": "mnist", "digest": "abc", "source_type": "local"},
        "tags": [{"key": "mlflow.data.context", "value": "train"}]}]}).status_code == 200
    events = store.list_events(run_id, kind="mlflow_inputs")
    assert [e.payload for e in events] == [{"datasets": [
        {"name": "mnist", "digest": "abc", "source_type": "local", "context": "train"}]}]
    found = post("experiments/search", {"filter": "name LIKE 'pag%'"}).json()
    assert [e["experiment_id"] for e in found["experiments"]] == [exp]
    assert post("runs/update", {"run_id": run_id, "status": "KILLED",
                                "end_time": T0_MS + 60_000}).status_code == 200
    ended = store.get_run(run_id)
    assert ended.status == "cancelled" and ended.ended_at == (T0_MS + 60_000) / 1000
