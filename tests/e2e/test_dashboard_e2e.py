"""The dashboard in a real browser against ``traindeck demo``: a real server and two real
training scripts (examples/numpy_mlp.py) in child processes.

Every test opens its own page and fails on any browser console error or page error. The
README's screenshot is taken here (``TRAINDECK_UPDATE_SCREENSHOTS=1`` writes it to
docs/img/dashboard.png).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60_000
pytestmark = pytest.mark.slow


class Demo:
    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.get("/api/runs", order="asc")["runs"]
        return runs

    def last_step(self, run_id: str, key: str = "loss") -> int:
        keys = self.get(f"/api/runs/{run_id}/metrics")["metrics"]
        return max((k["last_step"] or -1 for k in keys if k["key"] == key), default=-1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = clean_env()
    log = (folder / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "demo", "--port", str(port), "--dir",
         str(folder / "demo"), "--runs", "2", "--steps", "1000000", "--rate", "60"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    demo = Demo(f"http://127.0.0.1:{port}", folder / "demo")

    def ready() -> bool:
        assert proc.poll() is None, (folder / "demo.log").read_text()
        try:
            runs = demo.runs()
        except httpx.HTTPError:
            return False
        return len(runs) == 2 and all(demo.last_step(r["id"]) > 20 for r in runs)

    try:
        wait_for(ready, 120, "two demo runs logging")
        yield demo
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()



def chart(page: Any, panel: str = "chartA") -> Any:
    return page.locator(f'[data-panel="{panel}"] [data-testid="chart"]')


def chart_step(page: Any, panel: str = "chartA") -> int:
    value = chart(page, panel).get_attribute("data-last-step")
    return int(value) if value not in (None, "") else -1


def open_run(page: Any, demo: Demo, run_id: str) -> None:
    page.goto(f"{demo.url}/?run={run_id}")
    page.locator(f'[data-run-id="{run_id}"]').wait_for()
    page.wait_for_function(
        "id => document.querySelector('[data-panel=\"chartA\"] [data-testid=\"chart\"]')"
        "?.dataset.runs === id", arg=run_id)


def test_runs_appear_live_and_the_chart_grows(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page.goto(demo.url + "/")
    expect(page.get_by_test_id("conn")).to_contain_text("live")
    for run in demo.runs():
        row = page.locator(f'[data-run-id="{run["id"]}"]')
        expect(row).to_contain_text(run["name"])
        expect(row).to_contain_text("● RUNNING")
    first = demo.runs()[0]
    page.locator(f'[data-run-id="{first["id"]}"]').click()
    expect(chart(page)).to_have_attribute("data-runs", first["id"])
    wait_for(lambda: chart_step(page) >= 0, 60, "points drawn")
    before = chart_step(page)
    # pushed, not re-read: the chart gains steps while the script logs
    wait_for(lambda: chart_step(page) >= before + 30, 60, "the chart to gain points")
    assert int(chart(page).get_attribute("data-points") or 0) > 0


def test_the_side_panels_load_while_the_charts_read_hangs(page: Any, demo: Demo) -> None:
    """The panels loaded on first use wait for the first chart to show its read (so it has
    the page to itself), but not for ever: with the charts' reads held (a server that never
    answers them), the events, console and config panels still load and fill."""
    from playwright.sync_api import expect

    held: list[Any] = []
    release = False

    def hold(route: Any) -> None:
        if release:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/metrics/compare/many?*", hold)
    run = demo.runs()[0]
    page.goto(f"{demo.url}/?run={run['id']}")
    for panel in ("events", "console", "config"):
        section = page.locator(f'section[data-panel="{panel}"]')
        expect(section.locator(".td-panel-loading")).to_have_count(0, timeout=WAIT)
    expect(page.locator('section[data-panel="config"]')).to_contain_text("lr")
    assert held, "the charts did not read"
    assert chart(page).get_attribute("data-points") in (None, "", "0")
    release = True
    for route in held:  # the answers come after all: the chart draws them
        route.continue_()
    page.wait_for_function("() => Number(document.querySelector("
                           "'[data-panel=\"chartA\"] [data-testid=\"chart\"]')"
                           "?.dataset.points) > 0")


def send_and_wait(page: Any, demo: Demo, run_id: str, name: str) -> Any:
    """Click the ``name`` button and return its state cell once it shows *this* click's
    command as done (an earlier test may have left a done ``name`` command on the run)."""
    from playwright.sync_api import expect

    def ids() -> set[str]:
        commands = demo.get(f"/api/runs/{run_id}/commands")["commands"]
        return {c["id"] for c in commands if c["name"] == name}

    before = ids()
    page.locator(f'button[data-command="{name}"]').click()
    new: list[str] = []
    wait_for(lambda: bool(new.extend(ids() - before) or new), 30, f"the {name} command")
    state = page.locator(f'[data-command-state="{name}"][data-command-id="{new[0]}"]')
    expect(state).to_contain_text("done", timeout=WAIT)
    return state


def test_validate_runs_the_handler_and_its_result_shows(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    state = send_and_wait(page, demo, run["id"], "validate")
    expect(state).to_contain_text("val_acc")
    expect(page.locator('[data-testid="event"]', has_text="val_acc").first).to_be_visible()
    commands = demo.get(f"/api/runs/{run['id']}/commands")["commands"]
    done = [c for c in commands if c["name"] == "validate" and c["status"] == "done"]
    assert done and 0.0 <= done[-1]["result"]["val_acc"] <= 1.0


def significant_digits(number: str) -> int:
    """Significant digits of a number as written (``0.12346`` → 5, ``1.235e+8`` → 4)."""
    mantissa = number.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def test_a_command_result_is_formatted_not_raw_json(page: Any, demo: Demo) -> None:
    """Defect 13: validate returns floats with 17 digits; the actions panel shows them to
    at most 5 significant digits, as aligned key/value rows when opened, never raw JSON."""
    from playwright.sync_api import expect

    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    state = send_and_wait(page, demo, run["id"], "validate")
    commands = demo.get(f"/api/runs/{run['id']}/commands")["commands"]
    result = next(c for c in reversed(commands)
                  if c["name"] == "validate" and c["status"] == "done")["result"]
    assert significant_digits(repr(result["val_loss"])) > 5  # the raw value is long
    line = state.inner_text()
    assert "val_loss" in line and "{" not in line and '"' not in line, line
    # opened: one row per key, values aligned in one column
    state.locator("summary").click()
    rows = state.locator("[data-result-rows]")
    expect(rows).to_be_visible()
    text = rows.inner_text()
    assert "{" not in text and '"' not in text, text
    numbers = re.findall(r"-?\d+\.\d+(?:e[+-]?\d+)?", line + "\n" + text)
    assert numbers and all(significant_digits(n) <= 5 for n in numbers), numbers
    lefts = {page.evaluate("e => Math.round(e.getBoundingClientRect().left)", v.element_handle())
             for v in rows.locator(".result-val").all()}
    assert len(lefts) == 1, lefts
    # the events panel sums the result up the same way
    event = page.locator('[data-testid="event"]', has_text="val_loss").first
    expect(event).to_be_visible()
    assert '"' not in event.inner_text()


def test_the_system_panel_without_a_run_shows_whole_values(page: Any, demo: Demo) -> None:
    """Defect 13: with no run open, memory (``820 MiB/24 GiB``) and the load average are
    shown whole, not cut off by their column."""
    from playwright.sync_api import expect

    page.goto(demo.url + "/")
    # the landing page opens the newest live run (issue 12 §5): close it for the host's
    expect(page.locator(".td-focus")).not_to_contain_text("no run open")
    page.keyboard.press("Control+k")
    page.get_by_test_id("palette").locator("input").fill("close the open run")
    page.keyboard.press("Enter")
    expect(page.locator(".td-focus")).to_contain_text("no run open")
    panel = page.locator('section[data-panel="system"]')
    def value(label: str) -> Any:
        row = panel.locator(".sys-row", has=page.get_by_text(label, exact=True))
        return row.locator(".sys-val")

    for label in ("mem", "load"):
        value(label).wait_for(timeout=WAIT)
        fits = page.evaluate("e => e.scrollWidth <= e.clientWidth + 1",
                             value(label).element_handle())
        assert fits, (label, value(label).inner_text())
    assert re.fullmatch(r"\S+ \S+/\S+ \S+", value("mem").inner_text().strip())
    assert len(value("load").inner_text().split()) == 3


def test_a_charts_download_link_gives_the_metric_as_csv(page: Any, demo: Demo) -> None:
    """Issue 13: each run in a chart's legend has a download link: its metric, every
    point, as CSV from the export route."""
    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    wait_for(lambda: chart_step(page) >= 0, 60, "points drawn")
    link = chart(page).locator(f'[data-legend-run="{run["id"]}"] [data-testid="chart-download"]')
    href = link.get_attribute("href")
    assert href and f"/api/runs/{run['id']}/export" in href and "format=csv" in href
    r = httpx.get(demo.url + href, timeout=30)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = r.text.splitlines()
    key = chart(page).get_attribute("data-key")
    assert rows[0] == "run_id,key,step,time,value"
    assert len(rows) > 2 and all(row.split(",")[1] == key for row in rows[1:]), rows[:3]


def test_the_run_list_shows_the_last_logged_metric_and_the_column_is_choosable(
        page: Any, demo: Demo) -> None:
    """Defect 8: the run list's metric column shows the last logged value of ``loss`` (not
    a summary value such as ``best_val_acc``, which validate sets), and another key can be
    chosen for it."""
    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    send_and_wait(page, demo, run["id"], "validate")
    wait_for(lambda: "best_val_acc" in demo.get(f"/api/runs/{run['id']}")["summary"], 60,
             "best_val_acc in the summary")
    cell = page.locator(f'[data-run-id="{run["id"]}"] [data-testid="metric-value"]')

    def shown(key: str) -> tuple[int, float] | None:
        title, text = page.evaluate("e => [e.title, e.textContent]", cell.element_handle())
        m = re.fullmatch(rf"{re.escape(key)} at step (\d+)", title)
        return (int(m.group(1)), float(text)) if m and text else None

    for key in ("loss", "acc"):
        if key != "loss":
            page.select_option('[data-testid="metric-column"]', key)
        step, value = wait_for(lambda key=key: shown(key), 60, f"the {key} column")
        logged = demo.get(f"/api/runs/{run['id']}/metrics/buckets", key=key, step_min=step,
                          step_max=step)["buckets"]["last"][0]
        assert value == pytest.approx(logged, rel=1e-4), (key, step, value, logged)


def test_pause_stops_the_steps_and_resume_restarts_them(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    run = demo.runs()[1]
    open_run(page, demo, run["id"])
    row = page.locator(f'[data-run-id="{run["id"]}"]')
    page.locator('button[data-command="pause"]').click()
    expect(page.locator('[data-command-state="pause"]')).to_contain_text("done")
    expect(row).to_have_attribute("data-status", "paused")
    expect(row).to_contain_text("PAUSED")

    def settled() -> int | None:  # the chart stops moving once in-flight points are drawn
        a = chart_step(page)
        time.sleep(1.0)
        b = chart_step(page)
        return b if a == b and b >= 0 else None

    paused_at = wait_for(settled, 30, "the step count to stop")
    time.sleep(1.5)
    assert chart_step(page) == paused_at
    assert demo.last_step(run["id"]) == paused_at  # the script really stopped logging

    page.locator('button[data-command="resume"]').click()
    expect(row).to_have_attribute("data-status", "running")
    wait_for(lambda: chart_step(page) > paused_at + 10, 60, "steps to restart")


def test_a_checkpoint_downloads(page: Any, demo: Demo, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    page.locator('button[data-command="checkpoint"]').click()
    expect(page.locator('[data-command-state="checkpoint"]')).to_contain_text("done")
    rows = page.locator('[data-panel="checkpoints"] [data-testid="checkpoint-row"]')
    expect(rows.first).to_be_visible()
    with page.expect_download() as info:
        rows.first.locator('[data-testid="ckpt-download"]').click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    ckpts = demo.get(f"/api/runs/{run['id']}/checkpoints")["checkpoints"]
    by_name = {Path(c["path"]).name: c for c in ckpts}
    assert target.name in by_name, (target.name, list(by_name))
    stored = Path(by_name[target.name]["path"])  # relative to the run's folder (defect 15)
    expected = (stored if stored.is_absolute()
                else demo.folder / "runs" / run["id"] / stored).read_bytes()
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(expected).digest()


def test_two_runs_compare(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    a, b = demo.runs()
    page.goto(demo.url + "/")
    for run in (a, b):
        page.locator(f'[data-run-id="{run["id"]}"] [data-testid="compare-toggle"]').click()
    expect(chart(page)).to_have_attribute("data-runs", f"{a['id']},{b['id']}")
    legend = page.locator('[data-panel="chartA"] [data-testid="chart-legend"]')
    for run in (a, b):
        expect(legend.locator(f'[data-legend-run="{run["id"]}"]')).to_contain_text(run["name"])
    diff = page.get_by_test_id("config-diff")
    lr_row = diff.locator("tr", has_text="lr").first
    expect(lr_row).to_contain_text(str(a["config"]["lr"]))
    expect(lr_row).to_contain_text(str(b["config"]["lr"]))


def test_keyboard_help_palette_and_run_navigation(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    a, b = demo.runs()
    page.goto(demo.url + "/")
    page.locator(f'[data-run-id="{a["id"]}"]').wait_for()
    page.locator("body").press("?")
    expect(page.get_by_test_id("help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("help")).to_be_hidden()
    # "/" filters, Enter opens the match
    page.keyboard.press("/")
    page.keyboard.type(b["name"])
    page.keyboard.press("Enter")
    expect(chart(page)).to_have_attribute("data-runs", b["id"])
    expect(page.locator('[data-run-id]')).to_have_count(1)
    # the palette reaches the run's commands
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+k")
    palette = page.get_by_test_id("palette")
    expect(palette).to_be_visible()
    palette.locator("input").fill("sample")
    page.keyboard.press("Enter")
    expect(page.locator('[data-command-state="sample"]')).to_contain_text("done")
    # stopping from the palette still asks: it arms the button, it does not stop
    page.keyboard.press("Control+k")
    palette.locator("input").fill("run: stop")
    page.keyboard.press("Enter")
    stop = page.locator('button[data-command="stop"]')
    expect(stop).to_have_text("confirm stop?")
    expect(stop).to_be_focused()
    page.locator("body").click(position={"x": 5, "y": 5})  # walking away disarms it
    expect(stop).to_have_text("stop")
    assert demo.get(f"/api/runs/{b['id']}")["status"] == "running"


def test_phone_width_stacks_the_panels(chromium: Any, demo: Demo) -> None:
    ctx = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        pg = ctx.new_page()
        pg.goto(demo.url + "/")
        pg.locator("[data-run-id]").first.wait_for(timeout=WAIT)
        boxes = [pg.locator(f'section[data-panel="{p}"]').bounding_box()
                 for p in ("runs", "system", "events", "chartA")]
        assert all(box is not None for box in boxes)
        for box in boxes:
            assert box is not None and box["width"] > 300  # full width, one column
        tops = [box["y"] for box in boxes if box is not None]
        assert tops == sorted(tops) and len(set(tops)) == len(tops)  # stacked
    finally:
        ctx.close()


def test_readme_screenshot_of_the_demo(page: Any, demo: Demo, tmp_path: Path) -> None:
    a = demo.runs()[0]
    open_run(page, demo, a["id"])
    send_and_wait(page, demo, a["id"], "validate")
    wait_for(lambda: chart_step(page, "chartB") >= 0, 60, "chart B drawn")
    wait_for(lambda: chart_step(page) >= 400, 120, "a few hundred steps on the chart")
    page.wait_for_timeout(1500)  # a few more live points and a system sample on screen
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # not a blank page
    if os.environ.get("TRAINDECK_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "img" / "dashboard.png")


def test_console_tail_and_search(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    run = demo.runs()[0]
    open_run(page, demo, run["id"])
    console = page.locator('[data-panel="console"]')
    lines = console.get_by_test_id("console-line")
    # the script's own prints, captured by the SDK and pushed live
    expect(lines.filter(has_text="loss").first).to_be_visible()
    console.get_by_test_id("console-search").fill(f"traindeck run {run['id']}")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(run["name"])


def test_image_gallery_steps_through_the_logged_images(page: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    run = demo.runs()[0]
    wait_for(lambda: len(demo.get(f"/api/runs/{run['id']}/media")["media"]) >= 2, 90,
             "two images logged")
    open_run(page, demo, run["id"])
    page.locator('[role="tab"]', has_text="IMAGES").click()
    gallery = page.get_by_test_id("image-gallery")
    image = gallery.locator("img").first
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=\"image-gallery\"] img');"
        " return i && i.complete && i.naturalWidth === 96; }")
    slider = page.get_by_test_id("image-step")
    slider.focus()
    slider.press("Home")  # the first image: step 0
    expect(gallery).to_have_attribute("data-step", "0")
    expect(gallery).to_contain_text("step 0")
    slider.press("End")
    newest = max(m["step"] for m in demo.get(f"/api/runs/{run['id']}/media")["media"])
    expect(gallery).not_to_have_attribute("data-step", "0")
    assert int(gallery.get_attribute("data-step") or -1) <= newest
