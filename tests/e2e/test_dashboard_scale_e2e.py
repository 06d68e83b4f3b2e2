"""The dashboard at scale and at the edges, in a real browser against a real server:
10,000 runs in a virtualised list, zoom that reads finer buckets from the server, and NaN
and ±Inf shown rather than dropped.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from support import free_port, open_dir_store, start_server

RUNS = 10_000
POINTS = 20_000
WAIT = 60_000
pytestmark = pytest.mark.slow


class Site:
    def __init__(self, url: str, ids: list[str], edgy: str) -> None:
        self.url = url
        self.ids = ids  # creation order
        self.edgy = edgy


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("scale") / "td"
    ids = []
    with open_dir_store(folder) as store:
        for i in range(RUNS):
            ids.append(store.create_run(project=f"p{i % 5}", name=f"run-{i:05d}",
                                        status="completed").id)
        edgy = store.create_run(project="p0", name="edgy", status="completed",
                                config={"lr": 0.1}).id
        steps = np.arange(POINTS, dtype=np.int64)
        values = 1.0 / (1.0 + steps / 1000.0)
        values[9000:11000] = math.inf  # a stretch of +Inf in the middle
        values[-1] = math.nan  # and the last value NaN
        store.write_metrics(edgy, {"loss": (steps, 1.7e9 + steps * 0.1, values)})
    port = free_port()
    proc: subprocess.Popen[bytes] = start_server(folder, port, folder.parent / "server.log")
    try:
        yield Site(f"http://127.0.0.1:{port}", ids, edgy)
    finally:
        proc.terminate()
        proc.wait(30)



def test_ten_thousand_runs_scroll_in_a_virtualised_list(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    runs = page.locator('section[data-panel="runs"]')
    # every run loaded (page by page, after the first paint)
    expect(runs.locator(".rl-n")).to_have_text(str(RUNS + 1), timeout=WAIT)
    rendered = runs.locator("[data-run-id]").count()
    assert 0 < rendered < 200  # only what is on screen (plus overscan)
    # newest first: the oldest runs are at the very bottom, not in the DOM until scrolled to
    oldest = runs.locator(", ".join(f'[data-run-id="{i}"]' for i in site.ids[:20]))
    expect(oldest).to_have_count(0)
    runs.locator(".td-vlist").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(oldest.first).to_be_visible(timeout=WAIT)
    assert runs.locator("[data-run-id]").count() < 200
    runs.get_by_test_id("run-filter").fill("run-09999")
    expect(runs.locator("[data-run-id]")).to_have_count(1)
    expect(runs.locator("[data-run-id]")).to_contain_text("run-09999")


def chart_box(page: Any) -> dict[str, float]:
    box = page.locator('[data-panel="chartA"] .u-over').bounding_box()
    assert box is not None
    return dict(box)


def test_zoom_asks_the_server_for_finer_buckets(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/?run={site.edgy}")
    chart = page.locator('[data-panel="chartA"] [data-testid="chart"]')
    expect(chart).to_have_attribute("data-runs", site.edgy)
    expect(chart).to_have_attribute("data-last-step", str(POINTS - 1))
    box = chart_box(page)
    y = box["y"] + box["height"] / 2
    with page.expect_request(lambda r: "/api/metrics/compare" in r.url
                             and "step_min" in r.url) as info:
        page.mouse.move(box["x"] + box["width"] * 0.40, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.50, y, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.60, y, steps=5)
        page.mouse.up()
    query = parse_qs(urlsplit(info.value.url).query)
    lo, hi = float(query["step_min"][0]), float(query["step_max"][0])
    # the dragged window, about 40-60 % of the x range, read anew at full resolution
    assert 0.3 * POINTS < lo < hi < 0.7 * POINTS
    assert int(query["n"][0]) >= 500
    response = info.value.response()
    assert response is not None and response.ok
    # the chart's reads are compare/many reads of its one key, without the wall times on
    # the step axis
    assert query["keys"] == ["loss"]
    assert "first_time" not in query["fields"][0]
    buckets = response.json()["results"][0]["runs"][0]["buckets"]
    assert "first_time" not in buckets
    width = buckets["last_step"][0] - buckets["first_step"][0] + 1
    assert width <= (hi - lo) / 500 + 1  # finer than the full-range buckets
    reset = page.locator('[data-panel="chartA"] button[title*="reset zoom"]')
    expect(reset).to_be_enabled()
    page.locator('[data-panel="chartA"] .u-over').dblclick()
    expect(reset).to_be_disabled()


def test_nan_and_inf_are_shown_not_dropped(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/?run={site.edgy}")
    chart = page.locator('[data-panel="chartA"] [data-testid="chart"]')
    expect(chart).to_have_attribute("data-last-step", str(POINTS - 1))
    value = chart.locator(f'[data-legend-run="{site.edgy}"] [data-legend-value]')
    expect(value).to_have_text("NaN")  # the last value, as logged
    expect(value).to_have_class("td-chart-value num bad")
    # the cursor over the +Inf stretch (steps 9,000-11,000) says so
    box = chart_box(page)
    y = box["y"] + box["height"] / 2
    seen = []
    for frac in np.linspace(0.40, 0.60, 21):
        page.mouse.move(box["x"] + box["width"] * float(frac), y)
        seen.append(value.text_content() or "")
    assert any("+Inf\u00d7" in text for text in seen), seen
    assert any("+Inf" not in text and text != "NaN" for text in seen), seen


def test_panels_move_resize_and_the_layout_is_remembered(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    events = page.locator('section[data-panel="events"]')
    system = page.locator('section[data-panel="system"]')
    expect(events).to_be_visible()
    events_cell = events.get_attribute("data-cell")
    system_cell = system.get_attribute("data-cell")
    # move: drop the SYSTEM tab on the events panel's body: they swap cells. Chromium
    # sometimes loses a synthetic HTML5 drag on a loaded machine (the drop never fires, in
    # the page or the browser); a user would drag again, and so does the test, a few times.
    moved = page.locator('section[data-panel="system"]')
    for _ in range(3):
        page.locator('[role="tab"]', has_text="SYSTEM").drag_to(events.locator(".td-body"))
        try:
            expect(moved).to_have_attribute("data-cell", str(events_cell), timeout=3000)
            break
        except AssertionError:
            continue
    expect(moved).to_have_attribute("data-cell", str(events_cell))
    expect(page.locator('section[data-panel="events"]')).to_have_attribute(
        "data-cell", str(system_cell))
    # resize: drag the first column gutter 200 px to the right
    runs = page.locator('section[data-panel="runs"]')
    before = runs.bounding_box()
    gutter = page.locator(".td-gutter-cols").first
    box = gutter.bounding_box()
    assert before is not None and box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 100, y, steps=4)
    page.mouse.move(x + 200, y, steps=4)
    page.mouse.up()
    after = runs.bounding_box()
    assert after is not None and after["width"] > before["width"] + 150
    # remembered: a reload shows the same arrangement and sizes
    page.reload()
    expect(page.locator('section[data-panel="system"]')).to_have_attribute(
        "data-cell", str(events_cell))
    again = page.locator('section[data-panel="runs"]').bounding_box()
    assert again is not None and abs(again["width"] - after["width"]) < 5
    # ... until the palette's "Reset layout"
    page.keyboard.press("Control+k")
    page.get_by_test_id("palette").locator("input").fill("reset layout")
    page.keyboard.press("Enter")
    expect(page.locator('section[data-panel="system"]')).to_have_attribute(
        "data-cell", str(system_cell))
