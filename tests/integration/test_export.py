"""``traindeck export`` and ``GET /api/runs/{id}/export`` as a user runs them: real store,
the CLI through typer's runner (and the installed command on a real terminal for the
progress bar), a real server on a real port; files read back by ``csv``/``float()`` and by
pyarrow."""

from __future__ import annotations

import csv
import io
import math
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving import served
from support import clean_env, require_module
from typer.testing import CliRunner

from traindeck.cli import app as cli_app
from traindeck.server import Settings, create_app
from traindeck.store import Store

SPECIAL = [1.5, math.nan, math.inf, -math.inf, -0.0, 1e-300, 0.1 + 0.2, 123456789.123456789]


def log(store: Store, run_id: str, series: dict[str, list[float] | np.ndarray],
        batch: int = 100_000) -> None:
    """Create ``run_id`` and write each series at steps 0, 1, … (times 1e9 + step / 10)."""
    store.create_run(project="p", id=run_id, status="completed")
    for key, values in series.items():
        v = np.asarray(values, dtype=np.float64)
        steps = np.arange(len(v), dtype=np.int64)
        for i in range(0, len(v), batch):
            sl = slice(i, i + batch)
            store.write_metrics(run_id, {key: (steps[sl], 1e9 + steps[sl] / 10, v[sl])})


def export_cli(store: Store, *args: str) -> Any:
    result = CliRunner().invoke(cli_app, ["export", *args, "--dir", str(store.files_root)],
                                env={"TERM": "dumb"})
    return result


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                 math.copysign(1, b))


@pytest.fixture
def url(tmp_path: Path, store: Store) -> Iterator[str]:
    app = create_app(Settings(dir=store.files_root, web_dir=tmp_path / "no-web"), store=store)
    with served(app) as base:
        yield base


def test_csv_round_trips_every_value_nan_and_infinities_included(
        store: Store, tmp_path: Path) -> None:
    log(store, "r1", {"loss": SPECIAL, "val/a,b": [2.0, 3.0]})
    out = tmp_path / "r1.csv"
    result = export_cli(store, "r1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 10 points of 2 series" in result.output
    text = out.read_text()
    assert "nan" in text and ",inf\n" in text and ",-inf\n" in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["run_id", "key", "step", "time", "value"]
    loss = [r for r in rows if r["key"] == "loss"]
    assert [int(r["step"]) for r in loss] == list(range(len(SPECIAL)))
    assert all(same(float(r["value"]), v) for r, v in zip(loss, SPECIAL, strict=True))
    assert [float(r["time"]) for r in loss] == [1e9 + s / 10 for s in range(len(SPECIAL))]
    # a key with a comma is quoted, and reads back whole
    assert [(r["run_id"], r["key"], r["value"]) for r in rows if r["key"] != "loss"] == [
        ("r1", "val/a,b", "2.0"), ("r1", "val/a,b", "3.0")]
    assert not list(tmp_path.glob("*.part"))


def test_default_name_and_stdout(store: Store, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    log(store, "r1", {"loss": [1.0, 2.0]})
    monkeypatch.chdir(tmp_path)
    assert export_cli(store, "r1").exit_code == 0
    assert (tmp_path / "r1.csv").read_text().splitlines()[1:] == [
        "r1,loss,0,1000000000.0,1.0", "r1,loss,1,1000000000.1,2.0"]
    piped = export_cli(store, "r1", "--out", "-")
    assert piped.exit_code == 0 and piped.stdout.splitlines()[1] == "r1,loss,0,1000000000.0,1.0"


def test_parquet_is_read_back_by_pyarrow_with_its_types_and_rows(
        store: Store, tmp_path: Path) -> None:
    pq = require_module("pyarrow.parquet")
    pa = require_module("pyarrow")
    log(store, "r1", {"loss": SPECIAL})
    log(store, "r2", {"loss": [5.0, 6.0], "acc": [0.5]})
    out = tmp_path / "both.parquet"
    result = export_cli(store, "r1", "r2", "--format", "parquet", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.names == ["run_id", "key", "step", "time", "value"]
    assert [table.schema.field(n).type for n in table.schema.names] == [
        pa.string(), pa.string(), pa.int64(), pa.float64(), pa.float64()]
    rows = table.to_pylist()
    assert [(r["run_id"], r["key"], r["step"]) for r in rows] == (
        [("r1", "loss", s) for s in range(len(SPECIAL))]
        + [("r2", "acc", 0), ("r2", "loss", 0), ("r2", "loss", 1)])
    assert all(same(r["value"], v) for r, v in zip(rows, SPECIAL, strict=False))
    assert rows[-1]["time"] == 1e9 + 0.1


def test_keys_take_exact_keys_and_globs(store: Store, tmp_path: Path) -> None:
    log(store, "r1", {"loss": [1.0], "val/loss": [2.0], "val/acc": [3.0], "sys/cpu": [4.0],
                      "lr": [5.0]})
    out = tmp_path / "k.csv"

    def keys(*args: str) -> list[str]:
        result = export_cli(store, "r1", "--out", str(out), *args)
        assert result.exit_code == 0, result.output
        return sorted({r["key"] for r in csv.DictReader(io.StringIO(out.read_text()))})

    assert keys("--keys", "loss") == ["loss"]
    assert keys("--keys", "val/*") == ["val/acc", "val/loss"]
    assert keys("--keys", "lr,sys/*", "-k", "*acc") == ["lr", "sys/cpu", "val/acc"]
    assert keys() == ["loss", "lr", "sys/cpu", "val/acc", "val/loss"]
    none = export_cli(store, "r1", "--keys", "nothing*", "--out", str(out))
    assert none.exit_code == 1 and "no metric series" in none.output


def test_buckets_are_the_stores_exact_buckets(store: Store, tmp_path: Path) -> None:
    pq = require_module("pyarrow.parquet")
    values = np.arange(1000, dtype=np.float64)
    values[300:800] = np.nan  # whole buckets without a finite value
    log(store, "r1", {"loss": values})
    expected = store.read_buckets("r1", "loss", n=10).columns()
    out = tmp_path / "b.csv"
    assert export_cli(store, "r1", "--buckets", "10", "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert 5 <= len(rows) == len(expected["count"]) <= 10  # at most n; sub-blocks whole
    assert [int(r["count"]) for r in rows] == expected["count"]
    assert [int(r["first_step"]) for r in rows] == expected["first_step"]
    assert [float(r["min"]) for r in rows if r["min"]] == [
        m for m in expected["min"] if m is not None]
    assert [float(r["mean"]) for r in rows if r["mean"]] == [
        m for m in expected["mean"] if m is not None]
    empty = [r for r in rows if r["nan"] == r["count"]]
    assert empty and all((r["min"], r["max"], r["mean"]) == ("", "", "") for r in empty)
    assert all(math.isnan(float(r["last"])) for r in empty)
    pout = tmp_path / "b.parquet"
    assert export_cli(store, "r1", "-b", "10", "-f", "parquet", "-o", str(pout)).exit_code == 0
    table = pq.read_table(pout)
    assert table.column("max").to_pylist() == expected["max"]  # None where no finite value
    assert table.column("count").to_pylist() == expected["count"]


def test_a_million_point_run_exports_whole_and_in_order(store: Store, tmp_path: Path) -> None:
    pq = require_module("pyarrow.parquet")
    n = 1_000_000
    values = np.sin(np.arange(n) / 1000.0)
    values[::99_991] = np.inf
    log(store, "big", {"loss": values})
    out = tmp_path / "big.parquet"
    result = export_cli(store, "big", "-f", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 1000000 points of 1 series" in result.output
    table = pq.read_table(out, columns=["step", "value"])
    assert table.num_rows == n
    assert np.array_equal(table.column("step").to_numpy(), np.arange(n))
    assert np.array_equal(table.column("value").to_numpy(), values)
    csv_out = tmp_path / "big.csv"
    assert export_cli(store, "big", "-o", str(csv_out)).exit_code == 0
    with csv_out.open() as f:
        next(f)
        got = np.fromiter((float(line.rsplit(",", 1)[1]) for line in f), np.float64, n)
    assert np.array_equal(got, values)


def test_the_rest_route_streams_the_same_file(store: Store, url: str, tmp_path: Path) -> None:
    pq = require_module("pyarrow.parquet")
    log(store, "r1", {"loss": np.linspace(0, 1, 300_000), "acc": SPECIAL})
    with httpx.stream("GET", f"{url}/api/runs/r1/export", params={"format": "csv"},
                      timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"].startswith('attachment; filename="r1.csv"')
        assert "content-length" not in r.headers  # streamed, not built whole first
        assert r.headers.get("transfer-encoding") == "chunked"
        parts = list(r.iter_raw())
    assert len(parts) > 1
    body = b"".join(parts)
    cli_out = tmp_path / "cli.csv"
    assert export_cli(store, "r1", "-o", str(cli_out)).exit_code == 0
    assert body == cli_out.read_bytes()

    r = httpx.get(f"{url}/api/runs/r1/export",
                  params={"format": "parquet", "keys": "acc", "buckets": "3"}, timeout=60)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="r1-buckets.parquet"' in r.headers["content-disposition"]
    (tmp_path / "b.parquet").write_bytes(r.content)
    table = pq.read_table(tmp_path / "b.parquet")
    assert set(table.column("key").to_pylist()) == {"acc"}
    assert sum(table.column("count").to_pylist()) == len(SPECIAL)
    assert sum(table.column("nan").to_pylist()) == 1

    globbed = httpx.get(f"{url}/api/runs/r1/export?keys=a*&keys=nothing").text
    assert {line.split(",")[1] for line in globbed.splitlines()[1:]} == {"acc"}


def test_key_takes_a_name_with_a_comma_or_glob_characters_literally(
        store: Store, url: str) -> None:
    log(store, "r1", {"a,b": [1.0], "a*": [2.0], "ab": [3.0], "a": [4.0]})

    def keys(query: str) -> set[str]:
        r = httpx.get(f"{url}/api/runs/r1/export?{query}")
        assert r.status_code == 200
        return {next(csv.reader([line]))[1] for line in r.text.splitlines()[1:]}

    assert keys("key=a%2Cb") == {"a,b"}  # keys=a,b would mean "a" and "b"
    assert keys("key=a*") == {"a*"}      # keys=a* would be every key starting with a
    assert keys("keys=a,b") == {"a"}
    assert keys("key=a*&keys=ab") == {"a*", "ab"}


def test_the_rest_route_refuses_unknown_runs_and_bad_requests(store: Store, url: str) -> None:
    log(store, "r1", {"loss": [1.0]})
    missing = httpx.get(f"{url}/api/runs/nope/export")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for params in ({"format": "xlsx"}, {"buckets": "0"}, {"buckets": "100001"}):
        bad = httpx.get(f"{url}/api/runs/r1/export", params=params)
        assert bad.status_code == 422, params
        assert bad.json()["error"]["code"] == "invalid_input"


def test_unknown_runs_and_formats_fail_in_one_line(store: Store) -> None:
    log(store, "r1", {"loss": [1.0]})
    unknown = export_cli(store, "nope")
    assert unknown.exit_code == 1 and "no run 'nope'" in unknown.output
    bad = export_cli(store, "r1", "--format", "xlsx")
    assert bad.exit_code == 1 and "unknown format 'xlsx'" in bad.output


def test_a_terminal_shows_a_progress_bar(store: Store, tmp_path: Path) -> None:
    log(store, "r1", {"loss": np.zeros(300_000)})
    script = Path(sys.executable).parent / "traindeck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "traindeck.cli"]
    master, slave = pty.openpty()
    env = clean_env()
    env.update(TERM="xterm", COLUMNS="120", NO_COLOR="1")
    proc = subprocess.Popen(
        [*command, "export", "r1", "--dir", str(store.files_root), "-o",
         str(tmp_path / "t.csv")], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            screen += data
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=60) == 0, screen.decode(errors="replace")
    text = screen.decode(errors="replace")
    assert "exporting" in text and "/300000" in text.replace(",", "")
    assert "wrote 300000 points of 1 series" in text
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 300_001
