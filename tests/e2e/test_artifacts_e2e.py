"""The ARTIFACTS panel in a real browser (Debian's Chromium, headless, via Playwright): a
run in a child process logs a file and a folder, ``traindeck serve`` in another shows
them, and the panel's download links return the bytes.

Skipped without playwright or Chromium unless ``TRAINDECK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, free_port, start_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = os.urandom(300_000)
CHILD = """
import sys, traindeck as td
with td.init(project="art", name="with-artifacts", dir=sys.argv[1], system_interval=None,
             strict=True) as run:
    run.log({"loss": 1.0})
    run.log_artifact(sys.argv[2])
    run.log_artifact(sys.argv[3], name="bundle")
print(run.id)
"""


@pytest.fixture
def served_run(tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    folder = tmp_path / "data"
    (tmp_path / "model.bin").write_bytes(PAYLOAD)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "notes.txt").write_text("deep")
    env = clean_env()
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(tmp_path / "model.bin"),
                          str(tmp_path / "bundle")], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    run_id = out.stdout.strip().splitlines()[-1]
    port = free_port()
    proc = start_server(folder, port, tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", run_id
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_logged_artifact_appears_and_downloads(served_run: tuple[str, str], page: Any,
                                                 tmp_path: Path) -> None:
    # served_run first: the page closes before the server stops
    from playwright.sync_api import expect

    url, run_id = served_run
    page.goto(f"{url}/?run={run_id}")
    page.locator(f'[data-run-id="{run_id}"]').wait_for()
    page.locator('[role="tab"]', has_text="ARTIFACTS").click()
    panel = page.get_by_test_id("artifacts")
    row = panel.locator('[data-testid="artifact-row"][data-path="artifacts/model.bin"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("293 KiB")
    expect(panel.locator('[data-path="artifacts/bundle/notes.txt"]')).to_be_visible()
    with page.expect_download() as info:
        row.get_by_test_id("artifact-download").click()
    target = tmp_path / "got" / info.value.suggested_filename
    info.value.save_as(target)
    assert target.name == "model.bin"
    assert target.read_bytes() == PAYLOAD
    folder_row = panel.locator('[data-testid="artifact-row"][data-path="artifacts/bundle"]')
    href = folder_row.get_by_test_id("artifact-download").get_attribute("href")
    assert href is not None
    tar = httpx.get(f"{url}{href}")
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as t:
        member = t.extractfile("bundle/notes.txt")
        assert member is not None and member.read() == b"deep"
