"""Issue 13, in a real browser: a chart's download menu and the run list's download menu.

Two finished runs logged by the real SDK in a child process (one named with a comma and
quotes, tagged with a comma, whose last ``loss`` is NaN), ``traindeck serve`` in another;
the test clicks the menus and reads the files the browser saved: the chart's metric from
the export route (CSV and Parquet, every point or buckets, one file per run), the run
table built in the browser (as shown: filtered, in order, escaped, ``nan``), and the
selected runs' metrics.

Skipped without playwright or Chromium unless ``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import csv
import io
import math
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import clean_env, free_port, require_module, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NAME_A = 'net, "wide"'
CHILD = """
import sys, traindeck as td
with td.init(project="dl", name=sys.argv[2], tags=["a,b", "c"], dir=sys.argv[1],
             system_interval=None, strict=True) as run:
    for s in range(40):
        run.log({"loss": 1.0 / (s + 1), "lr": 0.1}, step=s)
    run.log({"loss": float("nan")}, step=40)
print(run.id)
with td.init(project="dl", name="plain", dir=sys.argv[1], system_interval=None,
             strict=True) as run:
    for s in range(60):
        run.log({"loss": 0.25 if s == 59 else 2.0 - s / 100}, step=s)
print(run.id)
"""


class Served:
    def __init__(self, url: str, a: str, b: str) -> None:
        self.url, self.a, self.b = url, a, b


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    tmp = tmp_path_factory.mktemp("downloads")
    folder = tmp / "data"
    env = clean_env()
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), NAME_A], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    a, b = out.stdout.strip().splitlines()[-2:]
    port = free_port()
    proc = start_server(folder, port, tmp / "server.log")
    try:
        yield Served(f"http://127.0.0.1:{port}", a, b)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def saved(info: Any) -> tuple[str, bytes]:
    """The suggested name and the bytes of a finished download."""
    download = info.value
    path = download.path()
    assert path is not None, download.failure()
    return download.suggested_filename, Path(path).read_bytes()


def parquet_rows(data: bytes) -> list[dict[str, Any]]:
    pq = require_module("pyarrow.parquet")
    rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(data)).to_pylist()
    return rows


def chart_menu(page: Any, served: Served, runs: str) -> Any:
    """Open ``runs`` (``?run=`` or ``?compare=``) and chart A's download menu."""
    page.goto(f"{served.url}/?{runs}")
    chart = page.locator('[data-panel="chartA"] [data-testid="chart"]')
    chart.locator("[data-legend-run]").first.wait_for()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-panel=\"chartA\"] [data-testid=\"chart\"]')"
        "?.dataset.points || 0) > 0")
    assert chart.get_attribute("data-key") == "loss"
    chart.get_by_test_id("chart-dl-toggle").click()
    menu = page.get_by_test_id("chart-dl-menu")
    menu.wait_for()
    return menu


def test_a_charts_menu_downloads_each_runs_metric_as_csv_or_parquet(page: Any,
                                                                   served: Served) -> None:
    menu = chart_menu(page, served, f"run={served.a}")
    # CSV, every point, this key: the run's loss as the export route writes it
    with page.expect_download() as info:
        menu.locator(f'[data-testid="chart-dl-run"][data-run="{served.a}"]').click()
    name, data = saved(info)
    assert name == f"{served.a}.csv"
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == ["run_id", "key", "step", "time", "value"]
    assert [r[1] for r in rows[1:]] == ["loss"] * 41
    assert [int(r[2]) for r in rows[1:]] == list(range(41))
    assert float(rows[1][4]) == 1.0 and rows[-1][4] == "nan"

    # Parquet, the chart's buckets, every key: lr too, and bucket columns
    menu.locator('[data-choice="parquet"]').click()
    menu.locator('[data-choice="buckets"]').click()
    menu.locator('[data-choice="all"]').click()
    with page.expect_download() as info:
        menu.locator(f'[data-testid="chart-dl-run"][data-run="{served.a}"]').click()
    name, data = saved(info)
    assert name == f"{served.a}-buckets.parquet"
    buckets = parquet_rows(data)
    assert {r["key"] for r in buckets} == {"loss", "lr"}
    assert {r["run_id"] for r in buckets} == {served.a}
    loss = [r for r in buckets if r["key"] == "loss"]
    assert sum(r["count"] for r in loss) == 41 and sum(r["nan"] for r in loss) == 1
    assert max(r["last_step"] for r in loss) == 40

    # Esc closes the menu and gives the toggle back the keyboard
    from playwright.sync_api import expect

    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    assert page.evaluate("document.activeElement.dataset.testid") == "chart-dl-toggle"


def test_a_charts_menu_downloads_one_file_per_compared_run(page: Any, served: Served) -> None:
    menu = chart_menu(page, served, f"compare={served.a},{served.b}")
    assert menu.get_by_test_id("chart-dl-run").count() == 2
    downloads: list[Any] = []
    page.on("download", lambda d: downloads.append(d))
    menu.get_by_test_id("chart-dl-all").click()
    for _ in range(300):  # the files start one after another; up to 30 s
        if len(downloads) >= 2:
            break
        page.wait_for_timeout(100)
    assert sorted(d.suggested_filename for d in downloads) == sorted(
        [f"{served.a}.csv", f"{served.b}.csv"])
    for d in downloads:
        rows = list(csv.reader(io.StringIO(Path(d.path()).read_text())))
        run_id = d.suggested_filename.removesuffix(".csv")
        assert {r[0] for r in rows[1:]} == {run_id} and {r[1] for r in rows[1:]} == {"loss"}
        assert len(rows) - 1 == (41 if run_id == served.a else 60)


def test_the_run_table_downloads_as_shown_and_the_selected_runs_metrics(
        page: Any, served: Served) -> None:
    page.goto(served.url + "/")
    for run_id in (served.a, served.b):
        page.locator(f'[data-run-id="{run_id}"]').wait_for()
    page.get_by_test_id("runs-dl-toggle").click()
    with page.expect_download() as info:
        page.get_by_test_id("runs-dl-table").click()
    name, data = saved(info)
    assert name.startswith("runs-") and name.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    # newest first, as the list sorts by default
    assert [r["id"] for r in table] == [served.b, served.a]
    b, a = table
    assert a["name"] == NAME_A and a["project"] == "dl" and a["status"] == "completed"
    assert a["tags"] == "a,b;c" and a["step"] == "40" and a["loss"] == "nan"
    assert math.isnan(float(a["loss"]))
    assert b["name"] == "plain" and b["step"] == "59" and float(b["loss"]) == 0.25
    assert float(a["duration_s"]) >= 0 and a["created"].endswith("Z")

    # filtered: only the rows shown
    page.keyboard.press("Escape")
    page.get_by_test_id("run-filter").fill("plain")
    page.locator(f'[data-run-id="{served.a}"]').wait_for(state="detached")
    page.get_by_test_id("runs-dl-toggle").click()
    with page.expect_download() as info:
        page.get_by_test_id("runs-dl-table").click()
    _, data = saved(info)
    assert [r["id"] for r in csv.DictReader(io.StringIO(data.decode(), newline=""))] == [
        served.b]

    # the selected (compared) runs' metrics, Parquet, one file per run
    page.keyboard.press("Escape")
    page.get_by_test_id("run-filter").fill("")
    for run_id in (served.a, served.b):
        page.locator(f'[data-run-id="{run_id}"] [data-testid="compare-toggle"]').check()
    page.get_by_test_id("runs-dl-toggle").click()
    menu = page.get_by_test_id("runs-dl-menu")
    menu.locator('[data-choice="parquet"]').click()
    assert menu.get_by_test_id("runs-dl-run").count() == 2
    with page.expect_download() as info:
        menu.locator(f'[data-testid="runs-dl-run"][data-run="{served.b}"]').click()
    name, data = saved(info)
    assert name == f"{served.b}.parquet"
    rows = parquet_rows(data)
    assert {r["key"] for r in rows} == {"loss"} and len(rows) == 60
    assert rows[-1]["value"] == 0.25
