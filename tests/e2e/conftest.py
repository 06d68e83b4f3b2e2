"""A headless Debian Chromium, driven by Playwright, for every e2e test.

Never ``playwright install``: the browser is the system's (``apt-get install chromium``),
or the one ``TRAINDECK_CHROMIUM`` names. Missing either skips, or fails under
``TRAINDECK_REQUIRE_ALL=1`` (CI).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import missing

CHROMIUM = Path(os.environ.get("TRAINDECK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if importlib.util.find_spec("playwright") is None:
        missing("playwright (pip install playwright; never `playwright install`)")
    if not CHROMIUM.exists():
        missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A 1280x720 page in a fresh context (downloads allowed) that fails the test on any
    browser console error or warning, or uncaught page error."""
    ctx = chromium.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
          if m.type in ("error", "warning") else None)
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
    assert problems == [], problems
