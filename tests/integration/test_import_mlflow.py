"""``traindeck import mlflow`` as a user runs it: an MLflow store written by the real MLflow
client in a child process (two experiments; params, tags, metrics with steps, timestamps,
NaN and ±Inf; a FAILED and a KILLED run), imported by the installed CLI in a child process
into a real store, and read back from the store."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import free_port, require_module

from traindeck.importing import run_id_for
from traindeck.store import Store

T0 = 1_600_000_000_000  # ms
LOSS = [1.0 / (s + 1) for s in range(10)]
LOSS[3], LOSS[4], LOSS[5] = math.nan, math.inf, -math.inf

#: Run in a child process with the MLflow client ``c`` of the store at sys.argv[1] (and T0
#: and LOSS); what the code leaves in ``out`` is printed as JSON.
PRELUDE = """
import json, math, sys
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
c = MlflowClient(tracking_uri=sys.argv[1])
T0, LOSS = json.loads(sys.argv[2])
out = {}
def points(key, values, steps=None, t0=T0, dt=500):
    steps = list(range(len(values))) if steps is None else steps
    return [Metric(key, v, t0 + i * dt, s) for i, (s, v) in enumerate(zip(steps, values))]
"""

WRITE = """
vision = c.create_experiment("vision")
nlp = c.create_experiment("nlp")
r = c.create_run(vision, run_name="resnet", start_time=T0,
                 tags={"team": "cv", "baseline": "", "mlflow.source.git.commit": "abc123",
                       "mlflow.note.content": "the first try"})
c.log_batch(r.info.run_id, metrics=points("loss", LOSS) + points("lr", [0.1] * 10),
            params=[Param("lr", "0.001"), Param("layers", "3"), Param("optimizer", "adam"),
                    Param("amp", "True"), Param("seed", "007"), Param("decay", "1e-4")])
c.set_terminated(r.info.run_id, "FINISHED", end_time=T0 + 60_000)
out["resnet"] = r.info.run_id
r = c.create_run(vision, run_name="broken", start_time=T0 + 100_000)
c.log_batch(r.info.run_id, metrics=points("loss", [2.0, 3.0], steps=[0, 5], t0=T0 + 100_000))
c.set_terminated(r.info.run_id, "FAILED", end_time=T0 + 130_000)
out["broken"] = r.info.run_id
r = c.create_run(vision, run_name="deleted")
c.log_metric(r.info.run_id, "loss", 1.0)
c.delete_run(r.info.run_id)
r = c.create_run(nlp, run_name="bert [base]", start_time=T0)
c.log_param(r.info.run_id, "heads", 12)
c.log_metric(r.info.run_id, "acc", 0.5, timestamp=T0 + 1234, step=7)
c.set_terminated(r.info.run_id, "KILLED", end_time=T0 + 5_000)
out["bert"] = r.info.run_id
"""


def env() -> dict[str, str]:
    return {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def mlflow_do(uri: str, code: str) -> dict[str, str]:
    """Run ``code`` with the real MLflow client in a child process."""
    require_module("mlflow")
    proc = subprocess.run([sys.executable, "-c", PRELUDE + code + "\nprint(json.dumps(out))",
                           uri, json.dumps([T0, LOSS])], capture_output=True, text=True,
                          timeout=120, env=env())
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_cli(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traindeck.cli", "import", "mlflow", *args,
         "--dir", str(store.files_root)], capture_output=True, text=True, timeout=120,
        env=env())


def cli(store: Store, *args: str) -> str:
    proc = run_cli(store, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y
                                    for x, y in zip(a, b, strict=True))


@pytest.fixture
def mlruns(tmp_path: Path) -> tuple[str, dict[str, str]]:
    uri = (tmp_path / "mlruns").resolve().as_uri()
    return uri, mlflow_do(uri, WRITE)


def test_import_keeps_experiments_params_tags_status_and_metric_histories(
        store: Store, mlruns: tuple[str, dict[str, str]]) -> None:
    uri, ids = mlruns
    out = cli(store, uri, "--tag", "from-mlflow")
    (line,) = [x for x in out.splitlines() if x.startswith("vision/resnet")]
    assert line.startswith(f"vision/resnet [{ids['resnet'][:8]}]: imported as run")
    assert line.endswith("(20 points)"), line
    assert "vision/broken" in out and "(failed)" in out
    assert f"nlp/bert [base] [{ids['bert'][:8]}]: imported as run" in out  # printed as is
    assert "deleted" not in out
    assert set(store.projects()) >= {"vision", "nlp"}

    vision, total = store.list_runs(project="vision")
    assert total == 2  # the deleted run is not imported
    by_name = {r.name: r for r in vision}
    resnet = by_name["resnet"]
    assert resnet.id == run_id_for(f"mlflow:{uri}:{ids['resnet']}")
    assert resnet.status == "completed"
    assert (resnet.started_at, resnet.ended_at) == (T0 / 1000, T0 / 1000 + 60)
    assert sorted(resnet.tags) == ["baseline", "from-mlflow", "team:cv"]
    assert resnet.notes == "the first try" and resnet.git_commit == "abc123"
    # Params are strings in MLflow; those that read back exactly become numbers and bools.
    assert {k: resnet.config[k] for k in ("lr", "layers", "optimizer", "amp", "seed",
                                          "decay")} == {
        "lr": 0.001, "layers": 3, "optimizer": "adam", "amp": True, "seed": "007",
        "decay": "1e-4"}
    assert resnet.config["mlflow.tags"] == {"team": "cv", "baseline": "",
                                            "mlflow.source.git.commit": "abc123"}
    assert resnet.config["mlflow.status"] == "FINISHED"

    p = store.read_points(resnet.id, "loss")
    assert p.steps.tolist() == list(range(10))
    assert p.times.tolist() == [(T0 + i * 500) / 1000 for i in range(10)]  # ms -> s
    assert same(p.values.tolist(), LOSS)
    assert store.read_points(resnet.id, "lr").values.tolist() == [0.1] * 10

    broken = by_name["broken"]
    assert broken.status == "failed" and broken.ended_at == T0 / 1000 + 130
    p = store.read_points(broken.id, "loss")
    assert (p.steps.tolist(), p.values.tolist()) == ([0, 5], [2.0, 3.0])

    (bert,), _ = store.list_runs(project="nlp")
    assert bert.name == "bert [base]" and bert.status == "cancelled"
    assert bert.tags == ["from-mlflow"]
    assert bert.config["heads"] == 12
    p = store.read_points(bert.id, "acc")
    assert (p.steps.tolist(), p.times.tolist(), p.values.tolist()) == (
        [7], [(T0 + 1234) / 1000], [0.5])


def test_project_and_experiment_options(store: Store,
                                        mlruns: tuple[str, dict[str, str]]) -> None:
    uri, _ = mlruns
    out = cli(store, uri, "--experiment", "nlp", "--project", "imported")
    assert "nlp/bert" in out and "vision/" not in out
    runs, total = store.list_runs(project="imported")
    assert total == 1 and runs[0].name == "bert [base]"
    assert store.list_runs(project="nlp")[1] == 0


def test_importing_twice_adds_nothing_and_a_run_that_grew_adds_only_new_points(
        store: Store, mlruns: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, ids = mlruns
    cli(store, uri)
    runs, _ = store.list_runs()
    events = {r.id: len(store.list_events(r.id)) for r in runs}

    again = cli(store, str(tmp_path / "mlruns"))  # the same store, by its path

    assert again.count("already imported") == 3, again
    assert {r.id: len(store.list_events(r.id)) for r in store.list_runs()[0]} == events

    # The resnet run gets two more loss points, a new key and one point logged with an
    # older timestamp at a new step; bert gets a param.
    mlflow_do(uri, f"""
rid = {ids['resnet']!r}
c.log_batch(rid, metrics=points("loss", [0.05, 0.04], steps=[10, 11], t0=T0 + 5000)
            + points("val", [0.7]) + [Metric("lr", 0.01, T0 - 1000, 20)])
c.log_param({ids['bert']!r}, "layers", 6)
""")
    grown = cli(store, uri)
    assert "vision/resnet" in grown and "added 4 new points" in grown, grown
    assert "vision/broken" in grown and grown.count("already imported") == 1
    resnet = next(r for r in store.list_runs(project="vision")[0] if r.name == "resnet")
    p = store.read_points(resnet.id, "loss")
    assert p.steps.tolist() == list(range(12))
    assert p.times.tolist()[-2:] == [(T0 + 5000) / 1000, (T0 + 5500) / 1000]
    assert same(p.values.tolist(), [*LOSS, 0.05, 0.04])
    lr = store.read_points(resnet.id, "lr")
    assert lr.steps.tolist() == [*range(10), 20] and lr.values.tolist()[-1] == 0.01
    assert store.read_points(resnet.id, "val").values.tolist() == [0.7]
    # What was written: loss's 2 new points and val's 1; lr's whole history (11), as its new
    # point is older than its last, so the tail cannot be told apart.
    assert store.list_events(resnet.id, kind="import")[-1].payload["points"] == 2 + 1 + 11
    (bert,), _ = store.list_runs(project="nlp")
    assert bert.config["layers"] == 6 and bert.config["heads"] == 12
    assert store.list_runs()[1] == 3
    assert cli(store, uri).count("already imported") == 3


def test_a_run_that_ends_after_an_import_gets_its_status(
        store: Store, tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    ids = mlflow_do(uri, """
e = c.create_experiment("live")
r = c.create_run(e, run_name="training")
c.log_metric(r.info.run_id, "loss", 1.0, step=0)
out["run"] = r.info.run_id
""")
    cli(store, uri)
    (run,), _ = store.list_runs(project="live")
    assert run.config["mlflow.status"] == "RUNNING"
    mlflow_do(uri, f"c.set_terminated({ids['run']!r}, 'FAILED')")
    out = cli(store, uri)
    assert "; now failed" in out, out
    run = store.get_run(run.id)
    assert run.status == "failed" and run.config["mlflow.status"] == "FAILED"


def test_bad_stores_are_clear_errors(store: Store, tmp_path: Path) -> None:
    require_module("mlflow")
    (tmp_path / "empty").mkdir()
    cases = {
        (tmp_path / "nothere").as_uri(): "no MLflow store at",
        str(tmp_path / "empty"): "no MLflow store at",
        f"http://127.0.0.1:{free_port()}": "cannot read the MLflow store at http://127.0.0.1",
        "foo://bar": "cannot read the MLflow store at foo://bar",
    }
    for uri, message in cases.items():
        proc = run_cli(store, uri)
        assert proc.returncode == 1, (uri, proc.stdout, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "nothere").exists()  # MLflow's client would have made one
    assert store.list_runs()[1] == 0


def test_an_unknown_experiment_is_a_clear_error(
        store: Store, mlruns: tuple[str, dict[str, str]]) -> None:
    uri, _ = mlruns
    proc = run_cli(store, uri, "--experiment", "nope")
    assert proc.returncode == 1 and "no MLflow experiment 'nope'" in proc.stderr
    assert store.list_runs()[1] == 0


def test_without_mlflow_the_command_names_the_extra(store: Store, tmp_path: Path) -> None:
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "from traindeck.cli import app; app()")
    proc = subprocess.run(
        [sys.executable, "-c", code, "import", "mlflow", str(tmp_path),
         "--dir", str(store.files_root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "pip install 'traindeck[mlflow]'" in proc.stderr and "Traceback" not in proc.stderr
