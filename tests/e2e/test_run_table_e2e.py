"""Issue 12 §2, in a real browser: the run table.

Four finished runs logged by the real SDK in a child process, each with a nested config
(``lr``, ``optim.name``, ``layers``) and metrics (``loss``, ``val/acc``); ``traindeck
serve`` in another. The test widens the run list into the table and: chooses a metric
column (remembered after a reload), sorts by it (the server's order, both ways), filters
with the query language and a column filter, groups by a config key (counts and means per
group; a click filters to a group), draws the parallel coordinates, sees a rename pushed
live, downloads the table, and selects two runs to compare in the charts.

Skipped without playwright or Chromium unless ``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, free_port, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# name, lr, optimizer, layers, final val/acc
RUNS = [("r-a", 0.1, "sgd", 2, 0.6), ("r-b", 0.01, "adam", 4, 0.8),
        ("r-c", 0.001, "adam", 8, 0.9), ("r-d", 0.0001, "sgd", 4, 0.7)]
CHILD = """
import json, sys, traindeck as td
for name, lr, opt, layers, acc in json.loads(sys.argv[2]):
    with td.init(project="tbl", name=name, dir=sys.argv[1], system_interval=None, strict=True,
                 config={"lr": lr, "optim": {"name": opt}, "layers": layers}) as run:
        for s in range(20):
            run.log({"loss": lr * 10 + 1.0 / (s + 1), "val/acc": acc * (s + 1) / 20}, step=s)
    print(run.id)
"""
ACC = "metric:val/acc:last"


class Served:
    def __init__(self, url: str, ids: dict[str, str]) -> None:
        self.url, self.ids = url, ids


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    import json

    tmp = tmp_path_factory.mktemp("table")
    folder = tmp / "data"
    env = clean_env()
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), json.dumps(RUNS)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    ids = dict(zip([r[0] for r in RUNS], out.stdout.strip().splitlines()[-4:], strict=True))
    port = free_port()
    proc = start_server(folder, port, tmp / "server.log")
    try:
        yield Served(f"http://127.0.0.1:{port}", ids)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_table(page: Any, served: Served, query: str = "") -> Any:
    """The dashboard with the run list widened into the table; the table's locator."""
    page.goto(f"{served.url}/{query}")
    page.get_by_test_id("runs-widen").click()
    table = page.get_by_test_id("table-wide")
    table.get_by_test_id("run-table").wait_for()
    return table


def names(page: Any) -> list[str]:
    """The names of the table's rows, top to bottom (rows are placed by their offset)."""
    return list(page.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="table-wide"] .rt-row[data-run-id]')]
        .sort((a, b) => a.offsetTop - b.offsetTop)
        .map((r) => r.querySelector('[data-col="name"]').textContent)"""))


def wait_names(page: Any, want: list[str]) -> None:
    page.wait_for_function(
        """(want) => JSON.stringify([...document.querySelectorAll(
            '[data-testid="table-wide"] .rt-row[data-run-id]')]
            .sort((a, b) => a.offsetTop - b.offsetTop)
            .map((r) => r.querySelector('[data-col="name"]').textContent))
            === JSON.stringify(want)""",
        arg=want)


def choose(table: Any, col: str, find: str) -> None:
    table.get_by_test_id("table-columns").click()
    chooser = table.get_by_test_id("column-chooser")
    chooser.get_by_test_id("column-find").fill(find)
    chooser.locator(f'[data-testid="column-option"][data-col="{col}"]').check()
    chooser.get_by_role("button", name="✕").first.click()


def header(table: Any, col: str) -> Any:
    return table.locator(f'.rt-head [data-col="{col}"]')


def test_a_metric_column_is_chosen_remembered_and_sorts_on_the_server(page: Any,
                                                                       served: Served) -> None:
    from playwright.sync_api import expect

    table = open_table(page, served)
    choose(table, ACC, "val/")
    expect(header(table, ACC)).to_have_text("val/acc")
    # the cell shows the run's last val/acc
    row_c = table.locator(f'.rt-row[data-run-id="{served.ids["r-c"]}"]')
    expect(row_c.locator(f'[data-col="{ACC}"]')).to_have_text("0.9")

    header(table, ACC).click()
    expect(table.get_by_test_id("table-body")).to_have_attribute("data-sort-shown", ACC)
    wait_names(page, ["r-a", "r-d", "r-b", "r-c"])
    header(table, ACC).click()
    expect(table.get_by_test_id("table-body")).to_have_attribute("data-sort-shown", f"-{ACC}")
    wait_names(page, ["r-c", "r-b", "r-d", "r-a"])

    # a config column sorts too (the server reads the nested key)
    choose(table, "config:optim.name", "optim")
    header(table, "config:optim.name").click(modifiers=["Shift"])  # a second sort key
    expect(table.get_by_test_id("table-body")).to_have_attribute(
        "data-sort-shown", f"-{ACC},config:optim.name")

    page.reload()
    page.get_by_test_id("runs-widen").click()
    table = page.get_by_test_id("table-wide")
    expect(header(table, ACC)).to_be_visible()  # remembered (localStorage)
    expect(header(table, "config:optim.name")).to_be_visible()
    wait_names(page, ["r-c", "r-b", "r-d", "r-a"])  # and the sort with them


def test_the_query_language_and_column_filters(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    table = open_table(page, served)
    choose(table, "config:layers", "layers")
    box = table.get_by_test_id("table-query")
    box.fill("lr<0.01 val/acc>0.75")
    box.press("Enter")
    wait_names(page, ["r-c"])
    expect(table.get_by_test_id("table-count")).to_have_text("1 runs")

    box.fill("")
    box.press("Enter")
    flt = table.locator('[data-testid="column-filter"][data-col="config:layers"]')
    flt.fill("3..5")
    flt.press("Enter")
    page.wait_for_function("""() => [...document.querySelectorAll(
        '[data-testid="table-wide"] .rt-row[data-run-id]')].length === 2""")
    assert sorted(names(page)) == ["r-b", "r-d"]


def test_a_query_the_server_refuses_shows_its_message_and_keeps_the_rows(
        chromium: Any, served: Served) -> None:
    from playwright.sync_api import expect

    # its own page: Chromium logs the 422 answer as a console error, which is expected here
    ctx = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning")
            and "status of 422" not in m.text else None)
    try:
        table = open_table(page, served)
        wait_names(page, ["r-d", "r-c", "r-b", "r-a"])
        box = table.get_by_test_id("table-query")
        box.fill("val/acc>")
        box.press("Enter")
        expect(table.get_by_test_id("table-error")).to_contain_text("position 8")
        assert names(page) == ["r-d", "r-c", "r-b", "r-a"]
        box.fill("val/acc>0.85")
        box.press("Enter")
        wait_names(page, ["r-c"])
        expect(table.get_by_test_id("table-error")).to_have_count(0)
    finally:
        ctx.close()
    assert problems == [], problems


def test_group_by_a_config_key_then_parallel_coordinates(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    table = open_table(page, served)
    choose(table, ACC, "val/")
    table.get_by_test_id("table-group").select_option("config:optim.name")
    groups = table.get_by_test_id("table-group-row")
    expect(groups).to_have_count(2)
    adam = table.locator('[data-testid="table-group-row"][data-value="adam"]')
    expect(adam.get_by_test_id("group-count")).to_have_text("2")
    expect(adam.locator(f'[data-col="{ACC}"]')).to_contain_text("0.85")  # mean of 0.8, 0.9
    sgd = table.locator('[data-testid="table-group-row"][data-value="sgd"]')
    expect(sgd.locator(f'[data-col="{ACC}"]')).to_contain_text("0.65")
    adam.click()  # filters to the group
    expect(table.get_by_test_id("table-query")).to_have_value("config:optim.name=adam")
    page.wait_for_function("""() => [...document.querySelectorAll(
        '[data-testid="table-wide"] .rt-row[data-run-id]')].length === 2""")
    assert sorted(names(page)) == ["r-b", "r-c"]

    table.get_by_test_id("table-pc").click()
    canvas = table.locator('[data-testid="parcoords"] canvas')
    expect(canvas).to_have_attribute("data-lines", "2")
    axes = canvas.get_attribute("data-axes") or ""
    assert axes.endswith(ACC) and "config:" in axes, axes
    table.get_by_test_id("table-pc").click()


def test_rows_update_live_and_the_table_downloads(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    table = open_table(page, served)
    rid = served.ids["r-d"]
    r = httpx.patch(f"{served.url}/api/runs/{rid}", json={"name": "r-d2"}, timeout=10)
    assert r.status_code == 200, r.text
    cell = table.locator(f'.rt-row[data-run-id="{rid}"] [data-col="name"]')
    try:
        expect(cell).to_have_text("r-d2")
    finally:
        httpx.patch(f"{served.url}/api/runs/{rid}", json={"name": "r-d"}, timeout=10)
    expect(cell).to_have_text("r-d")

    table.get_by_test_id("table-dl-toggle").click()
    with page.expect_download() as info:
        table.get_by_test_id("table-dl-table").click()
    path = info.value.path()
    assert path is not None
    rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    assert rows[0][0] == "id" and "name" in rows[0]
    col = rows[0].index("name")
    assert sorted(r[col] for r in rows[1:]) == ["r-a", "r-b", "r-c", "r-d"]


def test_select_two_then_compare_in_the_charts(page: Any, served: Served) -> None:
    from playwright.sync_api import expect

    table = open_table(page, served)
    b, c = served.ids["r-b"], served.ids["r-c"]
    for rid in (b, c):
        table.locator(f'.rt-row[data-run-id="{rid}"] [data-testid="table-select"]').click()
    expect(table.get_by_test_id("table-compare")).to_have_text("compare 2")
    table.get_by_test_id("table-compare").click()
    expect(page.get_by_test_id("table-wide")).to_have_count(0)
    chart = page.locator('[data-panel="chartA"] [data-testid="chart"]')
    expect(chart).to_have_attribute("data-runs", f"{b},{c}")
