"""The built-in dashboard in a real browser, against a real server and a real training run.

Playwright (``playwright.sync_api``) drives Debian's Chromium (``/usr/bin/chromium``, never a
downloaded one) headless. The server runs ``traindeck.server.serve`` in a subprocess; the
run is ``tests/integration/scripts/train_child.py`` in another, writing to the same store.
Without playwright or Chromium the test is skipped, unless ``TRAINDECK_REQUIRE_ALL=1``
(CI), which makes it fail. Every wait is Playwright's own (``expect``/``wait_for_function``,
generous timeouts); nothing asserts on timing.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import free_port

from traindeck.store import open_store

TRAIN_CHILD = Path(__file__).parents[1] / "integration" / "scripts" / "train_child.py"
#: Milliseconds: generous, for slow CI machines (the page usually takes well under 1 s).
WAIT = 60_000

pytestmark = pytest.mark.slow






def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINDECK_")}
    return {**env, **extra}


@dataclass
class Server:
    url: str
    dir: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    tdir = tmp_path / "td"
    port = free_port()
    code = (
        "import sys; from traindeck.server import Settings, serve; "
        "serve(Settings(dir=sys.argv[1], port=int(sys.argv[2]), web_dir=sys.argv[3], "
        "reap_interval=1.0))"
    )
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tdir), str(port), str(tmp_path / "no-web")],
        env=clean_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not come up"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Server(url, tdir)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


@pytest.fixture
def training(server: Server, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``train_child.py`` logging ``loss`` (NaN at step 3) every 10 ms; offers ``validate``."""
    err = (tmp_path / "child.err").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN_CHILD), "--sleep", "0.01", "--name", "e2e-child",
         "--heartbeat-timeout", "30"],
        env=clean_env(TRAINDECK_DIR=str(server.dir)), stdout=subprocess.PIPE,
        stderr=err, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), (line, (tmp_path / "child.err").read_text())
        yield line.split()[1], proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        err.close()


def chart_number(page: Any, key: str, attr: str) -> int:
    value = page.locator(f'.chart[data-key="{key}"]').get_attribute(f"data-{attr}")
    return int(value or 0)


def wait_for_chart(page: Any, key: str, attr: str, above: int) -> None:
    page.wait_for_function(
        "([key, attr, above]) => { const el = document.querySelector(`.chart[data-key='${key}']`);"
        " return el !== null && Number(el.getAttribute('data-' + attr)) > above; }",
        arg=[key, attr, above], timeout=WAIT,
    )


def test_live_dashboard_drives_a_real_run(
    chromium: Any, server: Server, training: tuple[str, subprocess.Popen[str]],
) -> None:
    from playwright.sync_api import expect

    run_id, child = training
    # A finished run created after the live one: first in the list, but not selected.
    with open_store(server.dir) as store:
        done = store.create_run(project="itest", name="<b>finished</b>", status="completed")
        store.write_metrics(done.id, {
            "loss": ([0, 1, 2], [1.0, 2.0, 3.0], [1.0, math.inf, -math.inf]),
            "sys/cpu_percent": ([0], [1.0], [12.0]),
            "sys/gpu0/util": ([0], [1.0], [97.0]),
            "sys/gpu0/temp_c": ([0], [1.0], [71.0]),
        })

    page = chromium.new_page(viewport={"width": 1280, "height": 720})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: d.accept())
    foreign: list[str] = []
    ws_url = server.url.replace("http://", "ws://")
    page.on("request", lambda r: None if r.url.startswith((server.url, ws_url, "data:"))
            else foreign.append(r.url))
    try:
        page.goto(server.url + "/")
        expect(page).to_have_title("traindeck")
        live = page.locator(f'#runs li[data-id="{run_id}"]')
        expect(live.locator(".badge")).to_have_text("● RUNNING", timeout=WAIT)
        other = page.locator(f'#runs li[data-id="{done.id}"]')
        expect(other.locator(".badge")).to_have_text("✓ COMPLETED", timeout=WAIT)
        expect(other.locator(".name")).to_have_text("<b>finished</b>")  # text, not markup
        expect(page.locator("#runs li").first).to_have_attribute("data-id", done.id)
        # the first running run is selected by default
        expect(live).to_have_class(re.compile(r"\bsel\b"), timeout=WAIT)
        expect(page.locator("#run-head .name")).to_have_text("e2e-child")
        expect(page.locator("#conn")).to_have_text("● live", timeout=WAIT)

        # the loss chart fills from REST and grows from metric_update; NaN is a red mark
        loss = page.locator('.chart[data-key="loss"]')
        expect(loss).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=WAIT)
        expect(loss).to_have_attribute("data-nonfinite", "1", timeout=WAIT)
        points = chart_number(page, "loss", "points")
        wait_for_chart(page, "loss", "points", points)
        step = chart_number(page, "loss", "last-step")
        wait_for_chart(page, "loss", "last-step", step + 20)
        expect(page.locator('.chart[data-key="sent_at"]')).to_have_count(1)
        expect(page.locator("#sys")).to_contain_text("cpu", timeout=WAIT)
        expect(page.locator("#log")).to_contain_text("running", timeout=WAIT)

        # a command: its state goes to done and its result shows
        page.locator('#buttons button[data-command="validate"]').click()
        row = page.locator("#cmds li", has_text="validate").first
        expect(row.locator(".state")).to_have_text("done", timeout=WAIT)
        expect(row.locator(".result")).to_contain_text("val_loss")
        expect(page.locator("#log")).to_contain_text("validate done", timeout=WAIT)

        # pause and resume, seen in the list and in the header
        page.locator('#buttons button[data-command="pause"]').click()
        expect(live.locator(".badge")).to_have_text("❚❚ PAUSED", timeout=WAIT)
        expect(page.locator("#run-head .badge")).to_have_text("❚❚ PAUSED")
        page.locator('#buttons button[data-command="resume"]').click()
        expect(live.locator(".badge")).to_have_text("● RUNNING", timeout=WAIT)

        # the socket drops: the page reconnects with a cursor, and the chart has no holes
        # and no duplicates (train_child logs every step once: points covered = last step + 1)
        page.evaluate("window.traindeck.dropSocket()")
        page.wait_for_function("window.traindeck.state.reconnects >= 1", timeout=WAIT)
        expect(page.locator("#conn")).to_have_text("● live", timeout=WAIT)
        step = chart_number(page, "loss", "last-step")
        wait_for_chart(page, "loss", "last-step", step + 20)
        page.wait_for_function(
            "() => { const el = document.querySelector(\".chart[data-key='loss']\");"
            " return Number(el.dataset.total) === Number(el.dataset.lastStep) + 1; }",
            timeout=WAIT)
        steps = page.evaluate("window.traindeck.state.series.get('loss').xs")
        assert all(b >= a for a, b in itertools.pairwise(steps))

        # keyboard: k moves up to the finished run, Enter selects it; its ±Inf are marks
        page.locator("#runs").focus()
        page.keyboard.press("k")
        page.keyboard.press("Enter")
        expect(page.locator("#run-head .name")).to_have_text("<b>finished</b>")
        expect(loss).to_have_attribute("data-nonfinite", "2", timeout=WAIT)
        expect(page.locator('.chart[data-key^="sys/"]')).to_have_count(0)
        expect(page.locator("#sys")).to_contain_text("gpu0")
        expect(page.locator("#sys")).to_contain_text("97%")
        expect(page.locator("#sys")).to_contain_text("71°C")
        expect(page.locator('#buttons button[data-command="validate"]')).to_have_count(0)
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        expect(page.locator("#run-head .name")).to_have_text("e2e-child")

        # stop (a confirm dialog, accepted): the run ends and the page says so
        page.locator('#buttons button[data-command="stop"]').click()
        expect(live.locator(".badge")).to_have_text("✓ COMPLETED", timeout=WAIT)
        expect(page.locator('#buttons button[data-command="pause"]')).to_be_disabled()
        assert child.wait(timeout=60) == 0
    finally:
        page.close()
    assert problems == []
    assert foreign == []
