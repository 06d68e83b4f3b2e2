"""Logging in to the dashboard in a real browser (Debian's Chromium, headless, via
Playwright) against ``traindeck serve`` in a subprocess whose store holds a token.

Skipped without playwright or Chromium unless ``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, open_dir_store

WAIT = 60_000

pytestmark = pytest.mark.slow




def test_login_page_cookie_and_live_dashboard(chromium: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    tdir = tmp_path / "td"
    with open_dir_store(tdir) as store:
        run = store.create_run(project="p", name="behind-the-login")
        _, secret = store.create_token("browser", "read")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    env = clean_env()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "traindeck.cli", "serve", "--dir", str(tdir), "--port",
         str(port), "--log-level", "info"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    page = None
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
        page = chromium.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
                if m.type == "error" else None)
        page.goto(url + "/")
        expect(page).to_have_url(url + "/login")
        page.fill("#token", "td_wrong")
        page.click("button[type=submit]")
        expect(page.locator(".bad")).to_contain_text("not valid")
        page.fill("#token", secret)
        page.click("button[type=submit]")
        expect(page).to_have_url(url + "/")
        expect(page).to_have_title("traindeck")
        expect(page.locator(f'[data-run-id="{run.id}"]')).to_be_visible(timeout=WAIT)
        expect(page.get_by_test_id("conn")).to_contain_text("live", timeout=WAIT)  # /ws let in
        cookies = {c["name"]: c for c in page.context.cookies()}
        cookie = cookies["traindeck_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # scripts cannot read it
        assert problems == [], problems
    finally:
        if page is not None:
            page.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    logged = (tmp_path / "server.log").read_text()
    assert "Traceback" not in logged
    assert "POST /api/session" in logged and secret not in logged
