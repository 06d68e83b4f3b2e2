"""``traindeck export --format tensorboard`` and ``GET /api/runs/{id}/export?format=
tensorboard``: the event files read back by TensorBoard's own reader (EventAccumulator)."""

from __future__ import annotations

import io
import math
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from serving import served
from support import MakeStore, cli_store_args, require_module
from typer.testing import CliRunner

from traindeck.cli import app as cli_app
from traindeck.server import Settings, create_app
from traindeck.store import Store

SPECIAL = [1.5, math.nan, math.inf, -math.inf, -0.0, 1e300, 0.1, -7.25]
T0 = 1e9


def log(store: Store, run_id: str, name: str, series: dict[str, list[float]]) -> None:
    store.create_run(project="p", id=run_id, name=name, status="completed")
    for key, values in series.items():
        steps = np.arange(len(values), dtype=np.int64) * 3
        store.write_metrics(run_id, {key: (steps, T0 + steps / 10,
                                           np.asarray(values, dtype=np.float64))})


def scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    ea_mod = require_module("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(folder), size_guidance={ea_mod.SCALARS: 0})
    ea.Reload()
    return {tag: [(e.step, e.wall_time, e.value) for e in ea.Scalars(tag)]
            for tag in ea.Tags()["scalars"]}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def check(got: dict[str, list[tuple[int, float, float]]], series: dict[str, list[float]]) -> None:
    assert sorted(got) == sorted(series)
    for key, values in series.items():
        steps = [3 * i for i in range(len(values))]
        assert [s for s, _, _ in got[key]] == steps
        assert [t for _, t, _ in got[key]] == [T0 + s / 10 for s in steps]
        with np.errstate(over="ignore"):
            want = np.asarray(values, dtype=np.float32).astype(np.float64).tolist()
        assert all(same(v, w) for (_, _, v), w in zip(got[key], want, strict=True))


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def test_cli_writes_a_log_directory_tensorboard_reads(store: Store, tmp_path: Path) -> None:
    a = {"loss": SPECIAL, "val/acc": [0.5, 0.75]}
    b = {"loss": [3.0, 2.0, 1.0]}
    log(store, "r1", "baseline", a)
    log(store, "r2", "wide net", b)
    out = tmp_path / "tb"
    result = CliRunner().invoke(cli_app, ["export", "r1", "r2", "--format", "tensorboard",
                                          "--out", str(out), "--dir", str(store.files_root)])
    assert result.exit_code == 0, result.output
    assert "wrote 13 points of 3 series" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["baseline", "wide_net"]
    check(scalars(out / "baseline"), a)
    check(scalars(out / "wide_net"), b)


def test_runs_sharing_a_name_get_their_ids_and_a_tar_goes_to_a_file(
        store: Store, tmp_path: Path) -> None:
    log(store, "r1", "same", {"x": [1.0]})
    log(store, "r2", "same", {"x": [2.0]})
    out = tmp_path / "runs.tar"
    result = CliRunner().invoke(cli_app, ["export", "r1", "r2", "-f", "tensorboard", "-o",
                                          str(out), "--dir", str(store.files_root)])
    assert result.exit_code == 0, result.output
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    check(scalars(tmp_path / "x" / "same-r1"), {"x": [1.0]})
    check(scalars(tmp_path / "x" / "same-r2"), {"x": [2.0]})


def test_rest_streams_a_tar_of_the_run_folder(store: Store, url: str, tmp_path: Path) -> None:
    a = {"loss": SPECIAL * 20_000, "lr": [0.1] * 5}
    log(store, "r1", "baseline", a)
    r = httpx.get(f"{url}/api/runs/r1/export", params={"format": "tensorboard"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    assert 'filename="r1.tar"' in r.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "x", filter="data")
    assert len(names) == 1 and names[0].startswith("baseline/events.out.tfevents.")
    check(scalars(tmp_path / "x" / "baseline"), a)
    bad = httpx.get(f"{url}/api/runs/r1/export",
                    params={"format": "tensorboard", "buckets": 10}, timeout=60)
    assert bad.status_code == 422 and "raw points" in bad.text


def test_an_export_imports_back_the_same(store: Store, make_store: MakeStore,
                                         tmp_path: Path) -> None:
    a = {"loss": [0.5, 0.25, math.nan], "acc": [1.0, 2.0, 3.0]}
    log(store, "r1", "baseline", a)
    out = tmp_path / "tb"
    runner = CliRunner()
    assert runner.invoke(cli_app, ["export", "r1", "-f", "tensorboard", "-o", str(out),
                                   "--dir", str(store.files_root)]).exit_code == 0
    again = make_store(name="other")  # another store
    result = runner.invoke(cli_app, ["import", "tensorboard", str(out),
                                     *cli_store_args(again)])
    assert result.exit_code == 0, result.output
    (run,), _ = again.list_runs()
    assert run.name == "baseline"
    for key, values in a.items():
        p = again.read_points(run.id, key)
        assert p.steps.tolist() == [0, 3, 6]
        assert p.times.tolist() == [T0, T0 + 0.3, T0 + 0.6]
        assert all(same(x, y) for x, y in zip(p.values.tolist(), values, strict=True))
