"""MLflow's artifacts service, drop-in: the real ``mlflow`` client, in a child process
pointed at a real traindeck server, logs files and folders into a run, lists and downloads
them back, and traindeck shows them under the run's ``artifacts/``. Paths that would leave
the run's folder, links, unknown runs and bodies over the limit answer MLflow's error
shape, never 5xx; uploads need the ``write`` scope.

Autologging and ``log_model`` (which upload through this service) are tested in
``test_mlflow_autolog.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import served
from test_mlflow_api import mlflow_error, run_mlflow

from traindeck.server import Settings, create_app
from traindeck.store import Store

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"
LIMIT = 64 * 1024

SCRIPT = """
import tempfile
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "weights.bin"), "wb") as f:
    f.write(bytes(range(256)) * 40)
os.makedirs(os.path.join(tmp, "data", "sub"))
with open(os.path.join(tmp, "data", "a.csv"), "w") as f:
    f.write("x,y\\n1,2\\n")
with open(os.path.join(tmp, "data", "sub", "b.txt"), "w") as f:
    f.write("deep")
mlflow.set_experiment("files")
with mlflow.start_run(run_name="with-files") as run:
    run_id = run.info.run_id
    uri = run.info.artifact_uri
    mlflow.log_artifact(os.path.join(tmp, "weights.bin"))
    mlflow.log_artifact(os.path.join(tmp, "weights.bin"), artifact_path="copies/v1")
    mlflow.log_artifacts(os.path.join(tmp, "data"), artifact_path="data")
    mlflow.log_text("hello traindeck", "notes/readme.txt")
    mlflow.log_dict({"lr": 0.1, "layers": [4, 2]}, "config.json")
client = MlflowClient()
top = client.list_artifacts(run_id)
data = client.list_artifacts(run_id, "data")
one_file = client.list_artifacts(run_id, "config.json")
missing = client.list_artifacts(run_id, "nothing/here")
out = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=tmp + "/dl")
got = {}
for root, _, names in os.walk(out):
    for name in names:
        path = os.path.join(root, name)
        got[os.path.relpath(path, out)] = open(path).read()
text = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt")
loaded = mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json")
weights = open(mlflow.artifacts.download_artifacts(
    f"runs:/{run_id}/weights.bin", dst_path=tmp + "/w"), "rb").read()
repo = get_artifact_repository(uri)
repo.delete_artifacts("copies")
after = [f.path for f in client.list_artifacts(run_id)]
print(json.dumps({
    "run_id": run_id, "uri": uri,
    "top": [[f.path, f.is_dir, f.file_size] for f in top],
    "data": [[f.path, f.is_dir] for f in data], "one_file": len(one_file),
    "missing": len(missing), "got": got, "text": text, "loaded": loaded,
    "weights_ok": weights == bytes(range(256)) * 40, "after": after,
}))
"""


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web",
                              max_artifact_bytes=LIMIT), store=store)
    with served(app) as base:
        yield base


def test_mlflow_logs_lists_and_downloads_artifacts_that_traindeck_shows(
        url: str, store: Store) -> None:
    out = run_mlflow(url, SCRIPT)
    run_id = out["run_id"]
    assert out["uri"].endswith(f"/{run_id}/artifacts")
    assert [f[:2] for f in out["top"]] == [["config.json", False], ["copies", True],
                                           ["data", True], ["notes", True],
                                           ["weights.bin", False]]
    assert out["top"][-1][2] == 10240 and out["top"][1][2] is None  # sizes of files only
    assert out["data"] == [["data/a.csv", False], ["data/sub", True]]
    assert out["one_file"] == 0 and out["missing"] == 0  # as MLflow answers
    assert out["got"] == {"a.csv": "x,y\n1,2\n", os.path.join("sub", "b.txt"): "deep"}
    assert out["text"] == "hello traindeck"
    assert out["loaded"] == {"lr": 0.1, "layers": [4, 2]}
    assert out["weights_ok"]
    assert "copies" not in out["after"]

    # traindeck's side: the run's artifacts API lists and serves the same files
    listed = httpx.get(f"{url}/api/runs/{run_id}/artifacts").json()["files"]
    paths = {f["path"]: f for f in listed}
    for path in ("artifacts/weights.bin", "artifacts/data/a.csv", "artifacts/data/sub/b.txt",
                 "artifacts/notes/readme.txt", "artifacts/config.json"):
        assert not paths[path]["dir"], path
    assert paths["artifacts/weights.bin"]["size"] == 10240
    assert not any(p.startswith("artifacts/copies") for p in paths)
    assert not any(p.endswith(".part") for p in paths)  # no upload left half-written
    served_text = httpx.get(f"{url}/api/runs/{run_id}/artifacts/artifacts/notes/readme.txt")
    assert served_text.content == b"hello traindeck"


def _run(url: str) -> tuple[str, str]:
    run = httpx.post(f"{url}{API}/runs/create", json={"experiment_id": "0"}).json()["run"]
    return run["info"]["run_id"], f"{url}{ART}/0/{run['info']['run_id']}/artifacts"


def test_paths_that_leave_the_run_links_and_bad_input_answer_mlflow_errors(
        url: str, store: Store, tmp_path: Path) -> None:
    run_id, base = _run(url)
    assert httpx.put(f"{base}/ok.txt", content=b"fine").status_code == 200
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("do not serve")
    run_art = Path(store.files_root) / "runs" / run_id / "artifacts"
    (run_art / "escape").symlink_to(secret)
    (run_art / "key-link").symlink_to(secret / "key.txt")

    for raw in ("%2E%2E/%2E%2E/%2E%2E/etc/passwd", "sub/%2E%2E/%2E%2E/x", "a%00b",
                "a%5Cb", "a//b"):
        mlflow_error(httpx.put(f"{base}/{raw}", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
        mlflow_error(httpx.get(f"{base}/{raw}"), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(httpx.get(f"{url}{ART}", params={"path": f"0/{run_id}/artifacts/../.."}),
                 400, "INVALID_PARAMETER_VALUE")
    # links are never followed: not read through, not written through, not listed
    mlflow_error(httpx.get(f"{base}/escape/key.txt"), 403, "PERMISSION_DENIED")
    mlflow_error(httpx.get(f"{base}/key-link"), 403, "PERMISSION_DENIED")
    mlflow_error(httpx.put(f"{base}/escape/new.txt", content=b"x"), 403, "PERMISSION_DENIED")
    assert not (secret / "new.txt").exists()
    listed = httpx.get(f"{url}{ART}", params={"path": f"0/{run_id}/artifacts"}).json()
    assert listed["files"] == [{"path": "ok.txt", "is_dir": False, "file_size": 4}]
    assert httpx.get(f"{url}{ART}", params={"path": f"0/{run_id}/artifacts/escape"}
                     ).json()["files"] == []
    assert httpx.delete(f"{base}/escape").status_code == 200  # removes the link only
    assert (secret / "key.txt").read_text() == "do not serve"
    # unknown runs, other folders of a run, folders as files
    mlflow_error(httpx.put(f"{url}{ART}/0/no-such-run/artifacts/x", content=b"x"), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    mlflow_error(httpx.get(f"{url}{ART}/0/{run_id}/checkpoints/x"), 400,
                 "INVALID_PARAMETER_VALUE")
    mlflow_error(httpx.get(f"{base}/nothing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert httpx.put(f"{base}/dir/inner.txt", content=b"x").status_code == 200
    mlflow_error(httpx.get(f"{base}/dir"), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(httpx.put(f"{base}/dir", content=b"x"), 400, "INVALID_PARAMETER_VALUE")
    mlflow_error(httpx.post(f"{url}/api/2.0/mlflow-artifacts/mpu/create/0/{run_id}/artifacts/x",
                            json={}), 404, "ENDPOINT_NOT_FOUND")


def test_bodies_over_the_limit_answer_413_and_leave_nothing(url: str, store: Store) -> None:
    run_id, base = _run(url)
    big = b"x" * (LIMIT + 1)
    mlflow_error(httpx.put(f"{base}/big.bin", content=big), 413, "REQUEST_LIMIT_EXCEEDED")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield b"y" * (LIMIT // 2)

    mlflow_error(httpx.put(f"{base}/chunked.bin", content=chunks()), 413,
                 "REQUEST_LIMIT_EXCEEDED")
    assert httpx.put(f"{base}/fits.bin", content=b"z" * LIMIT).status_code == 200
    folder = Path(store.files_root) / "runs" / run_id / "artifacts"
    assert sorted(p.name for p in folder.iterdir()) == ["fits.bin"]


def test_uploads_and_deletes_need_the_write_scope(tmp_path: Path, store: Store) -> None:
    _reader, read_secret = store.create_token("reader", "read")
    _writer, write_secret = store.create_token("writer", "write")
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as url:
        writer = {"Authorization": f"Bearer {write_secret}"}
        reader = {"Authorization": f"Bearer {read_secret}"}
        run = httpx.post(f"{url}{API}/runs/create", json={"experiment_id": "0"},
                         headers=writer).json()["run"]
        base = f"{url}{ART}/0/{run['info']['run_id']}/artifacts"
        mlflow_error(httpx.put(f"{base}/a.txt", content=b"a"), 401, "UNAUTHENTICATED")
        mlflow_error(httpx.put(f"{base}/a.txt", content=b"a", headers=reader), 403,
                     "PERMISSION_DENIED")
        assert httpx.put(f"{base}/a.txt", content=b"a", headers=writer).status_code == 200
        assert httpx.get(f"{base}/a.txt", headers=reader).content == b"a"
        mlflow_error(httpx.delete(f"{base}/a.txt", headers=reader), 403, "PERMISSION_DENIED")
        assert httpx.delete(f"{base}/a.txt", headers=writer).status_code == 200
        mlflow_error(httpx.get(f"{base}/a.txt", headers=reader), 404,
                     "RESOURCE_DOES_NOT_EXIST")
