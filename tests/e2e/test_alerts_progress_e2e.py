"""Issue 12 §3, §4 and §5 in a real browser: progress/speed/ETA, alerts, the landing page and
phone width. ``traindeck serve`` and the real SDK in child processes: a live run that
knows its total steps (named long enough to be cut on a phone), and a finished run made
after it (the newest run is not the live one).

The live run calls ``run.alert(...)`` when the test drops a trigger file, and logs a NaN
``loss`` when it drops another (for a rule made in the dashboard's form).

Skipped without playwright or Chromium unless ``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, free_port, start_server, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60_000
RUNS = 'section[data-panel="runs"]'  # the run list (the run table has rows by run id too)
LIVE_NAME = "resnet50-lr3e-4-b256"
LIVE = """
import sys, time, math
from pathlib import Path
import traindeck as td
folder, url, flags = sys.argv[1], sys.argv[2], Path(sys.argv[3])
run = td.init(project="issue12-ap", name=sys.argv[4], dir=folder, url=url,
              system_interval=None, total_steps=200_000, strict=True)
print(run.id, flush=True)
alerted = False
step = 0
while not (flags / "stop").exists():
    nan = (flags / "nan").exists()
    run.log({"loss": float("nan") if nan else 1.0 / (step + 1)}, step=step)
    if (flags / "alert").exists() and not alerted:
        run.alert("loss exploded", "loss went to 1e9", "error")
        alerted = True
    step += 1
    time.sleep(0.01)
run.finish()
"""
DONE = """
import sys, traindeck as td
with td.init(project="issue12-ap", name="finished-later", dir=sys.argv[1], url=sys.argv[2],
             system_interval=None, strict=True) as run:
    for s in range(20):
        run.log({"loss": 1.0 / (s + 1)}, step=s)
print(run.id)
"""


class Site:
    def __init__(self, url: str, live: str, done: str, flags: Path) -> None:
        self.url, self.live, self.done, self.flags = url, live, done, flags

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    tmp = tmp_path_factory.mktemp("alerts_progress")
    folder, flags = tmp / "data", tmp / "flags"
    flags.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(folder, port, tmp / "server.log")
    env = clean_env()
    log = (tmp / "live.log").open("wb")
    live = subprocess.Popen([sys.executable, "-c", LIVE, str(tmp / "sdk-live"), url, str(flags),
                             LIVE_NAME], env=env, stdout=subprocess.PIPE, stderr=log)
    try:
        assert live.stdout is not None
        live_id = live.stdout.readline().decode().strip()
        assert live_id, (tmp / "live.log").read_text()
        s = Site(url, live_id, "", flags)
        def fast() -> bool:  # the SDK sends in batches: the run may not be there yet
            r = httpx.get(f"{url}/api/runs/{live_id}", timeout=10)
            return r.status_code == 200 and (r.json().get("steps_per_s") or 0) > 0

        wait_for(fast, 60, "the live run to have a speed")
        out = subprocess.run([sys.executable, "-c", DONE, str(tmp / "sdk-done"), url], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        s.done = out.stdout.strip().splitlines()[-1]
        yield s
    finally:
        (flags / "stop").touch()
        try:
            live.wait(30)
        except subprocess.TimeoutExpired:
            live.kill()
            live.wait()
        log.close()
        if live.stdout is not None:
            live.stdout.close()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_landing_opens_the_live_run_and_the_run_list_fits_its_rows(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    # the newest run is finished; the live one is opened
    row = page.locator(f'{RUNS} [data-run-id="{site.live}"]')
    expect(row).to_have_attribute("aria-selected", "true")
    expect(page.locator(".td-focus")).to_contain_text(LIVE_NAME)
    assert "run=" + site.live in page.url
    # two rows: the run list's cell is not a third of the screen; the panel below gets it
    runs = page.locator('section[data-panel="runs"]').bounding_box()
    below = page.locator('[data-cell="3"]').bounding_box()
    assert runs is not None and below is not None
    assert runs["height"] < 720 / 3 - 40, runs
    assert below["height"] > 720 / 3, below
    # a run named in the URL wins
    page.goto(f"{site.url}/?run={site.done}")
    done = page.locator(f'{RUNS} [data-run-id="{site.done}"]')
    expect(done).to_have_attribute("aria-selected", "true")


def test_progress_speed_and_eta_show_and_change(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/?run={site.live}")
    cell = page.locator(f'{RUNS} [data-run-id="{site.live}"] [data-testid="progress-cell"]')
    expect(cell).to_have_attribute("data-progress", re.compile(r"0\.\d{4}"))
    first = float(cell.get_attribute("data-progress") or 0)
    assert 0 < first < 1
    expect(cell).to_contain_text("m")  # 200k steps at under 100 steps/s: minutes left
    top = page.locator(".td-focus")
    expect(top.get_by_test_id("progress-eta")).to_contain_text("ETA ")
    expect(top.get_by_test_id("progress-speed")).to_contain_text("it/s")
    # pushed, not re-read: the bar grows while the script logs
    wait_for(lambda: float(cell.get_attribute("data-progress") or 0) > first, 60,
             "the progress to grow")
    # the run's header (actions panel) says the same
    header = page.locator('section[data-panel="actions"]')
    expect(header.get_by_test_id("progress-eta")).to_contain_text("ETA ")
    # the finished run: its bar, no ETA
    done = page.locator(f'{RUNS} [data-run-id="{site.done}"] [data-testid="progress-cell"]')
    expect(done).not_to_contain_text("ETA")


def test_an_alert_shows_in_the_badge_the_panel_and_the_event_log(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/?run={site.live}")
    badge = page.get_by_test_id("alerts-badge")
    expect(page.get_by_test_id("conn")).to_contain_text("live")
    before = int(badge.get_attribute("data-unseen") or 0)
    (site.flags / "alert").touch()
    expect(badge).to_have_attribute("data-unseen", str(before + 1), timeout=WAIT)
    expect(badge).to_contain_text(f"▲ {before + 1}")
    # the event log shows it, marked as an alert
    event = page.locator('[data-testid="event"][data-kind="alert"]').first
    expect(event).to_contain_text("loss exploded")
    expect(event).to_have_class(re.compile("ev-alert-row"))
    # the badge opens the alerts panel, which lists it; seen, the badge clears
    badge.click()
    panel = page.get_by_test_id("alerts-panel")
    alert = panel.locator(f'[data-testid="alert"][data-run-id="{site.live}"]').first
    expect(alert).to_contain_text("loss exploded")
    expect(alert).to_contain_text(LIVE_NAME)
    expect(alert).to_have_attribute("data-severity", "error")
    expect(badge).to_have_attribute("data-unseen", "0")
    # still seen after a reload
    page.reload()
    expect(page.get_by_test_id("alerts-panel").get_by_test_id("alert").first).to_be_visible()
    expect(badge).to_have_attribute("data-unseen", "0")


def test_a_rule_made_in_the_dashboard_fires_on_nan(page: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/?run={site.live}")
    page.get_by_test_id("alerts-badge").click()
    panel = page.get_by_test_id("alerts-panel")
    panel.get_by_test_id("alerts-rules-tab").click()
    panel.get_by_label("scope").select_option("run")
    panel.get_by_test_id("rule-kind").select_option("nan")
    panel.get_by_test_id("rule-key").fill("loss")
    panel.get_by_test_id("rule-add").click()
    rule = panel.get_by_test_id("rule").first
    expect(rule).to_contain_text("nan")
    rules = site.get("/api/rules", run_id=site.live)["rules"]
    assert [(r["kind"], r["key"], r["run_id"]) for r in rules] == [("nan", "loss", site.live)]
    # a bad params box is refused in the browser, not sent
    panel.get_by_test_id("rule-params").fill("{nope")
    expect(panel.get_by_test_id("rule-add")).to_be_disabled()
    panel.get_by_test_id("rule-params").fill("")
    (site.flags / "nan").touch()
    panel.locator('[role="tab"]', has_text="alerts").click()
    fired = panel.locator('[data-testid="alert"]', has_text="nan").first
    expect(fired).to_be_visible(timeout=WAIT)
    expect(fired).to_contain_text("loss")
    # removed from the form
    panel.get_by_test_id("alerts-rules-tab").click()
    panel.get_by_test_id("rule").first.get_by_role("button").click()
    expect(panel.get_by_test_id("rule")).to_have_count(0)
    assert site.get("/api/rules", run_id=site.live)["rules"] == []


def test_phone_width_shows_whole_names(chromium: Any, site: Site) -> None:
    ctx = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        pg = ctx.new_page()
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.goto(site.url + "/")
        name = pg.locator(f'{RUNS} [data-run-id="{site.live}"] .rl-name')
        name.wait_for(timeout=WAIT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the columns follow the measured width
            whole = pg.evaluate("e => e.scrollWidth <= e.clientWidth", name.element_handle())
            if whole:
                break
            time.sleep(0.2)
        assert whole, (name.inner_text(), pg.locator(".rl").get_attribute("data-columns"))
        assert name.inner_text() == LIVE_NAME
        columns = (pg.locator(".rl").get_attribute("data-columns") or "").split()
        assert "project" not in columns and "name" in columns
        # the run list is stacked at its rows' height, not 45% of the phone
        box = pg.locator('section[data-panel="runs"]').bounding_box()
        assert box is not None and box["height"] < 844 * 0.3
        assert problems == []
    finally:
        ctx.close()
