"""The metrics grid and the images panel in a real browser, against a real server and a
real training script (the SDK in a child process) logging into the server's store.

The script logs twenty-odd keys under several prefixes (and two image keys) step after
step while the tests run: the grid shows every key in its section, the filter narrows it,
a pushed point reaches a chart, a chart is enlarged in place, a zoom in one chart is
followed by the others, and an image key's slider changes the image shown.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port, start_server, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

KEYS = (["loss", "lr"] + [f"train/{k}" for k in ("loss", "acc", "grad_norm", "lr")]
        + [f"val/{k}" for k in ("loss", "acc", "f1")]
        + [f"sys/gpu{i}/util" for i in range(12)] + ["sys/step_time_ms"])

SCRIPT = textwrap.dedent("""
    import math, sys, time
    import numpy as np
    import traindeck
    keys = sys.argv[2].split(",")
    run = traindeck.init(project="e2e", name="grid", dir=sys.argv[1],
                         system_interval=None, capture_console=False)
    print(run.id, flush=True)
    step = 0
    while True:
        run.log({k: 1.0 / (1 + step) + i * 0.01 + 0.001 * math.sin(step)
                 for i, k in enumerate(keys)}, step=step)
        if step % 10 == 0 and step <= 40:
            shade = np.full((8, 8, 3), (step * 6) % 256, dtype=np.uint8)
            run.log_image("samples", shade, step=step)
            run.log_image("masks", 255 - shade, step=step)
        step += 1
        time.sleep(0.05)
""")


class Live:
    def __init__(self, url: str, run_id: str) -> None:
        self.url = url
        self.run_id = run_id

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    tmp = tmp_path_factory.mktemp("grid")
    folder = tmp / "td"
    with (tmp / "child.log").open("wb") as sink:
        child = subprocess.Popen([sys.executable, "-c", SCRIPT, str(folder), ",".join(KEYS)],
                                 stdout=subprocess.PIPE, stderr=sink)
    port = free_port()
    server = None
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().decode().strip()
        assert run_id, (tmp / "child.log").read_text()
        server = start_server(folder, port, tmp / "server.log")
        live = Live(f"http://127.0.0.1:{port}", run_id)

        def ready() -> bool:
            media = live.get(f"/api/runs/{run_id}/media")["media"]
            keys = {m["key"] for m in live.get(f"/api/runs/{run_id}/metrics")["metrics"]}
            return len({m["step"] for m in media}) >= 3 and keys >= set(KEYS)

        wait_for(ready, 60, "the script to log its keys and three image steps")
        yield live
    finally:
        child.terminate()
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
        if server is not None:
            server.terminate()
            server.wait(30)


def open_metrics(page: Any, live: Live) -> Any:
    page.set_viewport_size({"width": 1920, "height": 1200})  # two charts a row in the cell
    page.goto(f"{live.url}/?run={live.run_id}")
    page.locator('[role="tab"]', has_text="METRICS").click()
    grid = page.get_by_test_id("metrics")
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"metrics\"]')?.dataset.runs === id",
        arg=live.run_id)
    return grid


def cell(page: Any, key: str) -> Any:
    return page.locator(f'[data-testid="metric-cell"][data-key="{key}"]')


def drawn(page: Any, key: str) -> bool:
    """Scrolls the key's chart into view: true once it drew a point."""
    cell(page, key).scroll_into_view_if_needed()
    return last_step(page, key) >= 0


def last_step(page: Any, key: str) -> int:
    value = cell(page, key).get_attribute("data-last-step")
    return int(value) if value not in (None, "") else -1


def test_every_key_grouped_filtered_live_and_enlarged(page: Any, trained: Live) -> None:
    from playwright.sync_api import expect

    grid = open_metrics(page, trained)
    # every key, each in its prefix's section (no prefix first, sys last)
    expect(grid.get_by_test_id("metric-cell")).to_have_count(len(KEYS))
    groups = grid.get_by_test_id("metrics-group")
    expect(groups).to_have_count(4)
    assert [groups.nth(i).get_attribute("data-prefix") for i in range(4)] == [
        "", "train", "val", "sys"]
    expect(grid.locator('[data-prefix="val"] [data-testid="metric-cell"]')).to_have_count(3)
    sys_cells = grid.locator('[data-prefix="sys"] [data-testid="metric-cell"]')
    # natural order: gpu2 before gpu10
    expect(sys_cells.nth(2)).to_have_attribute("data-key", "sys/gpu2/util")
    # the charts on screen draw
    wait_for(lambda: drawn(page, "train/loss"), 60, "train/loss drawn")
    # a pushed point reaches the chart: its last step grows while the script logs
    before = last_step(page, "train/loss")
    wait_for(lambda: last_step(page, "train/loss") >= before + 10, 60, "live points drawn")

    # the filter: fuzzy, then a regex, then a bad regex (nothing hidden, the box says so)
    flt = grid.get_by_test_id("metrics-filter")
    flt.fill("vacc")
    expect(grid.get_by_test_id("metric-cell")).to_have_count(1)
    expect(grid.get_by_test_id("metric-cell")).to_have_attribute("data-key", "val/acc")
    wait_for(lambda: drawn(page, "val/acc"), 60, "val/acc drawn")
    flt.fill("/^train\\/.*(loss|acc)$/")
    expect(grid.get_by_test_id("metric-cell")).to_have_count(2)
    expect(grid.get_by_test_id("metrics-count")).to_have_text(f"2/{len(KEYS)}")
    flt.fill("/gpu(/")
    expect(flt).to_have_class("td-metrics-filter bad")
    expect(grid.get_by_test_id("metric-cell")).to_have_count(len(KEYS))
    flt.fill("")
    # with the filter cleared, a chart's legend still follows the live points (legends
    # keep the elements they found: checked still in place at each draw)
    value = cell(page, "train/loss").locator(
        f'[data-legend-run="{trained.run_id}"] [data-legend-value]')
    wait_for(lambda: drawn(page, "train/loss") and value.inner_text() not in ("", "—"), 60,
             "train/loss drawn again, with its value")
    shown = value.inner_text()
    wait_for(lambda: value.inner_text() != shown, 30, "the legend's value to follow")

    # collapsing a section hides its charts
    grid.locator('[data-prefix="sys"] .td-mgroup-head').click()
    expect(grid.locator('[data-prefix="sys"] [data-testid="metric-cell"]')).to_have_count(0)
    grid.locator('[data-prefix="sys"] .td-mgroup-head').click()
    expect(grid.locator('[data-prefix="sys"] [data-testid="metric-cell"]')).to_have_count(13)

    # enlarge in place: the chart takes the grid's width, and shrinks back
    cell(page, "val/loss").scroll_into_view_if_needed()
    small = cell(page, "val/loss").bounding_box()
    canvas = cell(page, "val/loss").locator("canvas").first
    wait_for(lambda: drawn(page, "val/loss"), 60, "the chart drawn")
    small_plot = canvas.bounding_box()
    cell(page, "val/loss").get_by_test_id("metric-enlarge").click()
    expect(cell(page, "val/loss")).to_have_class("td-mcell td-mcell-big")
    big = cell(page, "val/loss").bounding_box()
    assert big["width"] > small["width"] * 1.5 and big["height"] > small["height"]
    wait_for(lambda: drawn(page, "val/loss"), 60, "the enlarged chart drawn")
    # ... and so does its plot, not only the cell around it
    wait_for(lambda: canvas.bounding_box()["width"] > small_plot["width"] * 1.5
             and canvas.bounding_box()["height"] > small_plot["height"], 30,
             "the plot redrawn at the enlarged size")
    cell(page, "val/loss").get_by_test_id("metric-enlarge").click()
    expect(cell(page, "val/loss")).to_have_class("td-mcell")


def test_zoom_and_cursor_follow_across_the_grid(page: Any, trained: Live) -> None:
    from playwright.sync_api import expect

    open_metrics(page, trained)
    wait_for(lambda: drawn(page, "train/acc") and drawn(page, "train/loss"), 60, "two charts drawn")
    over = cell(page, "train/loss").locator(".u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    # the cursor shows in another chart too: its legend names the same step (the step under
    # the mouse moves while the x axis grows with live points; the other chart follows)
    def same_step() -> bool:
        here = cell(page, "train/loss").locator("[data-legend-x]").inner_text()
        there = cell(page, "train/acc").locator("[data-legend-x]").inner_text()
        return here.startswith("step ") and here == there

    wait_for(same_step, 30, "the cursor's step shown on both charts")
    # drag-zoom one chart: the others show the same window; reset brings all back
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    expect(cell(page, "train/acc")).to_have_class("td-mcell td-mcell-zoomed")
    # a chart further down (created when scrolled to, if it was not yet) shows it too
    cell(page, "sys/step_time_ms").scroll_into_view_if_needed()
    expect(cell(page, "sys/step_time_ms")).to_have_class("td-mcell td-mcell-zoomed")
    reset = page.get_by_test_id("metrics-reset")
    expect(reset).to_be_enabled()
    reset.click()
    expect(cell(page, "train/acc")).to_have_class("td-mcell")
    expect(reset).to_be_disabled()


def test_image_keys_side_by_side_each_with_its_slider(page: Any, trained: Live) -> None:
    from playwright.sync_api import expect

    page.goto(f"{trained.url}/?run={trained.run_id}")
    page.locator('[role="tab"]', has_text="IMAGES").click()
    cols = page.get_by_test_id("image-column")
    expect(cols).to_have_count(2)  # both keys, side by side
    a = cols.nth(0).bounding_box()
    b = cols.nth(1).bounding_box()
    assert b["x"] >= a["x"] + a["width"] - 1 and abs(b["y"] - a["y"]) < 2
    masks = page.locator('[data-testid="image-gallery"][data-key="masks"]')
    samples = page.locator('[data-testid="image-gallery"][data-key="samples"]')
    img = samples.locator("img").first
    expect(img).to_be_visible()
    # 8x8 pixels scaled up to the column, nearest neighbour
    expect(img).to_have_attribute("data-pixelated", "1")
    assert img.bounding_box()["width"] >= 64
    slider = page.locator('[data-testid="image-step"][data-key="samples"]')
    slider.focus()
    slider.press("Home")
    expect(samples).to_have_attribute("data-step", "0")
    first_src = img.get_attribute("src")
    slider.press("ArrowRight")
    expect(samples).to_have_attribute("data-step", "10")
    assert img.get_attribute("src") != first_src
    # the other key keeps following its newest step
    assert masks.get_attribute("data-step") not in ("0", "10")
    # one key hidden: one column left
    page.locator('[data-testid="image-key"][data-key="masks"]').click()
    expect(cols).to_have_count(1)
