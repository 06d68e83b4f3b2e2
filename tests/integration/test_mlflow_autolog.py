"""MLflow autologging and ``log_model``, drop-in: a real Lightning script in a child process
runs ``mlflow.pytorch.autolog()`` (default arguments: models logged) against a real
traindeck server; its params, per-epoch metrics and logged model land in traindeck, and
the model loads back through the client (``models:/<id>`` and ``runs:/<run>/model``).
The logged-model routes answer bad input in MLflow's error shape, never 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import served
from support import require_module
from test_mlflow_api import mlflow_error, run_mlflow

from traindeck.server import Settings, create_app
from traindeck.store import Store

API = "/api/2.0/mlflow"

AUTOLOG = """
import logging, tempfile
import mlflow.pytorch
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset

warnings_seen = []
class Keep(logging.Handler):
    def emit(self, record):
        warnings_seen.append(record.getMessage())
keep = Keep(logging.WARNING)
logging.getLogger("mlflow").addHandler(keep)

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
    def forward(self, x):
        return self.layer(x)
    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

torch.manual_seed(0)
x = torch.randn(16, 4)
y = x.sum(1, keepdim=True)
tmp = tempfile.mkdtemp()
mlflow.set_experiment("auto")
mlflow.pytorch.autolog()
model = Tiny()
trainer = pl.Trainer(max_epochs=2, default_root_dir=tmp, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, accelerator="cpu")
trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8))
run_id = mlflow.last_active_run().info.run_id
client = MlflowClient()
models = client.search_logged_models(experiment_ids=[mlflow.get_experiment_by_name(
    "auto").experiment_id])
model_id = models[0].model_id
probe = torch.ones(2, 4)
want = model(probe).detach().tolist()
by_id = mlflow.pytorch.load_model(f"models:/{model_id}")(probe).detach().tolist()
by_run = mlflow.pytorch.load_model(f"runs:/{run_id}/model")(probe).detach().tolist()
print(json.dumps({
    "run_id": run_id, "model_id": model_id, "n_models": len(models),
    "status": str(models[0].status), "source": models[0].source_run_id,
    "name": models[0].name, "uri": models[0].artifact_location,
    "same_by_id": by_id == want, "same_by_run": by_run == want,
    "failures": [w for w in warnings_seen
                 if any(s in w for s in ("ailed to log", "nexpected error", "Traceback",
                                          "ENDPOINT_NOT_FOUND", "MlflowException"))],
}))
"""

LOG_MODEL = """
import mlflow.pytorch
import torch

torch.manual_seed(1)
net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
probe = torch.ones(1, 3)
with mlflow.start_run(run_name="direct") as run:
    # pickle, as autologging does: the default pt2 format infers a signature with scipy,
    # which mlflow-skinny does not install
    info = mlflow.pytorch.log_model(net, name="m", serialization_format="pickle")
    mlflow.set_logged_model_tags(info.model_id, {"stage": "candidate"})
back = mlflow.pytorch.load_model(info.model_uri)
model = MlflowClient().get_logged_model(info.model_id)
no_run = error_code(lambda: mlflow.pytorch.log_model(net, name="loose",
                                                     serialization_format="pickle"))
print(json.dumps({
    "run_id": run.info.run_id, "model_id": info.model_id, "uri": info.model_uri,
    "same": back(probe).tolist() == net(probe).tolist(), "tags": model.tags,
    "status": str(model.status), "no_run": no_run,
}))
"""


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def _files(url: str, run_id: str) -> dict[str, dict[str, object]]:
    listed = httpx.get(f"{url}/api/runs/{run_id}/artifacts").json()["files"]
    return {f["path"]: f for f in listed}


def test_lightning_autolog_records_params_metrics_and_a_model_that_loads_back(
        url: str, store: Store) -> None:
    require_module("lightning")
    require_module("pandas")  # mlflow.pytorch imports it
    out = run_mlflow(url, AUTOLOG)
    run_id, model_id = out["run_id"], out["model_id"]
    assert out["failures"] == []
    run = httpx.get(f"{url}/api/runs/{run_id}").json()
    assert run["status"] == "completed" and run["project"] == "auto"
    config = run["config"]
    assert {k: config[k] for k in ("epochs", "optimizer_name", "lr")} == \
        {"epochs": "2", "optimizer_name": "SGD", "lr": "0.05"}
    points = store.read_points(run_id, "train_loss")
    assert points.steps.tolist() == [0, 1]  # one point per epoch
    assert points.values[1] < points.values[0]

    # the model: one record, ready, of this run; its files in the run's artifacts
    assert out["n_models"] == 1 and out["source"] == run_id and out["name"] == "model"
    assert out["status"] == "READY"
    assert out["uri"].endswith(f"/{run_id}/artifacts/models/{model_id}")
    events = store.list_events(run_id, kind="model_logged")
    assert [e.payload for e in events] == [{
        "id": model_id, "name": "model", "path": f"artifacts/models/{model_id}",
        "model_type": None}]
    files = _files(url, run_id)
    for name in ("MLmodel", "data/model.pth", "requirements.txt"):
        assert not files[f"artifacts/models/{model_id}/{name}"]["dir"], name
    assert "artifacts/model_summary.txt" in files
    mlmodel = httpx.get(f"{url}/api/runs/{run_id}/artifacts/artifacts/models/{model_id}/MLmodel")
    assert f"model_id: {model_id}" in mlmodel.text and "pytorch" in mlmodel.text

    # the client loads the same weights back, by model id and by the run's URI
    assert out["same_by_id"] and out["same_by_run"]


def test_log_model_called_directly_and_without_a_run(url: str, store: Store) -> None:
    require_module("pandas")
    require_module("torch")
    out = run_mlflow(url, LOG_MODEL)
    run_id, model_id = out["run_id"], out["model_id"]
    assert out["uri"] == f"models:/{model_id}" and out["same"]
    assert out["status"] == "READY" and out["tags"]["stage"] == "candidate"
    assert store.get_logged_model(model_id).run_id == run_id
    assert [e.payload["name"] for e in store.list_events(run_id, kind="model_logged")] == ["m"]
    assert f"artifacts/models/{model_id}/MLmodel" in _files(url, run_id)
    # no run active: refused (traindeck keeps a model's files in its run)
    assert out["no_run"] == "INVALID_PARAMETER_VALUE"


def test_logged_model_routes_answer_bad_input_in_mlflow_shape(url: str, store: Store) -> None:
    post = lambda path, body: httpx.post(f"{url}{API}/{path}", json=body)  # noqa: E731
    run_id = post("runs/create", {"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    created = post("logged-models", {"experiment_id": "0", "source_run_id": run_id,
                                     "name": "net", "params": [{"key": "lr", "value": "1"}]})
    model = created.json()["model"]
    model_id = model["info"]["model_id"]
    assert model["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert model["data"]["params"] == [{"key": "lr", "value": "1"}]
    base = f"{url}{API}/logged-models/{model_id}"

    for body in ({"experiment_id": "x", "source_run_id": run_id},
                 {"experiment_id": "0"},  # no source run
                 {"source_run_id": run_id},
                 {"experiment_id": "0", "source_run_id": run_id, "params": "lr"},
                 {"experiment_id": "0", "source_run_id": run_id, "name": "a/b"},
                 {"experiment_id": "0", "source_run_id": run_id,
                  "tags": [{"key": "k", "value": 3}]}):
        mlflow_error(post("logged-models", body), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(post("logged-models", {"experiment_id": "0", "source_run_id": "nope"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(post("logged-models", {"experiment_id": "77", "source_run_id": run_id}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(httpx.get(f"{url}{API}/logged-models/m-{'0' * 32}"), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(httpx.get(f"{url}{API}/logged-models/m-%20..%5Cx"), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(httpx.get(f"{url}{API}/logged-models/..%2F..%2Fetc"), 404,
                 "ENDPOINT_NOT_FOUND")
    for status in ("DONE", 7, None, True):
        mlflow_error(httpx.patch(base, json={"status": status}), 400, "INVALID_PARAMETER_VALUE")
    assert httpx.patch(base, content=b"{no").json()["error_code"] == "MALFORMED_REQUEST"
    mlflow_error(httpx.patch(f"{base}/tags", json={"tags": [{"value": "v"}]}), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(httpx.delete(f"{base}/tags/absent"), 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(post(f"logged-models/{model_id}/params",
                      {"params": [{"key": "k", "value": "v"}] * 101}), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(post("runs/outputs", {"run_id": run_id, "models": [{"model_id": "m-x"}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(post("runs/outputs", {"run_id": "nope", "models": []}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    for body in ({"filter": "name = "}, {"filter": "bogus = 'x'"}, {"max_results": -1},
                 {"page_token": "abc"}, {"order_by": [{"field_name": "name", "ascending": 1}]},
                 {"experiment_ids": ["x"]}):
        mlflow_error(post("logged-models/search", body), 400, "INVALID_PARAMETER_VALUE")
    assert store.get_logged_model(model_id).status == "pending"  # nothing changed it

    # what works: tags, params, ready (one event), search, delete with the files
    assert httpx.patch(f"{base}/tags", json={"tags": [{"key": "k", "value": "v"}]}).is_success
    assert post(f"logged-models/{model_id}/params",
                {"params": [{"key": "depth", "value": "2"}]}).is_success
    put = f"{url}/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/models/{model_id}/w"
    assert httpx.put(put, content=b"weights").is_success
    for _ in range(2):
        ready = httpx.patch(base, json={"status": "LOGGED_MODEL_READY"}).json()["model"]
    assert ready["info"]["status"] == "LOGGED_MODEL_READY"
    assert len(store.list_events(run_id, kind="model_logged")) == 1
    found = post("logged-models/search", {"experiment_ids": ["0"],
                                          "filter": "name = 'net' AND params.depth = '2'"})
    assert [m["info"]["model_id"] for m in found.json()["models"]] == [model_id]
    assert post("logged-models/search", {"experiment_ids": ["0"],
                                         "filter": "tags.k = 'other'"}).json()["models"] == []
    assert httpx.delete(f"{base}/tags/k").is_success
    assert httpx.delete(base).is_success
    mlflow_error(httpx.get(base), 404, "RESOURCE_DOES_NOT_EXIST")
    assert not any("models/" in p for p in _files(url, run_id))
