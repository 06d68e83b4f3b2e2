"""Issue 10 end to end in a real browser: a real server with a templates folder, real child
processes launched by it, Chromium driving the dashboard.

Build a run in the builder with a preset and an override; it starts and logs; its script
saves checkpoints with the SDK and logs an artifact; cancel it from the actions panel
(``cancelled``, its process group gone); resume it from a chosen (not the newest) checkpoint
with the checkpoints panel's resume button: the same run continues after that checkpoint's
step, and every step has one point, the ones after the checkpoint from the resumed process;
download the artifact from the ARTIFACTS panel, byte-identical to the file the script logged.
A script without the SDK is paused and resumed from the actions panel (SIGSTOP/SIGCONT).
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import bound_socket, served
from support import group_gone, wait_for

from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# attempt: 1 for the first process, 2 for the one resumed from a checkpoint (its points
# after the checkpoint's step replace the first one's).
TRAIN = """
    import os
    import time
    from pathlib import Path
    import traindeck as td

    run = td.init()
    cfg = run.config
    start, attempt = 0, 1
    if last := run.last_checkpoint():
        start, attempt = last.step + 1, 2
        assert last.path.read_bytes() == f"state {last.step}".encode()
        print(f"resumed from step {last.step}", flush=True)
    else:
        out = Path(__file__).parent / "out"
        out.mkdir(exist_ok=True)
        (out / "weights.bin").write_bytes(os.urandom(70_000))
        run.log_artifact(out / "weights.bin")
    for step in range(start, cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1), "attempt": attempt}, step=step)
        if step % cfg["every"] == 0:
            run.save_checkpoint(f"state {step}".encode(), step=step)
            print(f"checkpoint {step}", flush=True)
        time.sleep(cfg["sleep"])
    run.finish()
"""

SPEC = f"""
command: [{sys.executable!r}, train.py]
description: Saves a checkpoint every few steps and logs its weights as an artifact.
config:
  steps: 20
  every: 10
  sleep: 0.01
presets:
  long: ["steps=300", "sleep=0.05"]
"""

PLAIN = """
    import time

    n = 0
    while True:
        print(f"tick {n}", flush=True)
        n += 1
        time.sleep(0.1)
"""


@pytest.fixture
def served_templates(store: Store, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    folder = tmp_path / "templates" / "ckpt"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(TRAIN))
    (folder / "traindeck.yaml").write_text(SPEC)
    plain = tmp_path / "templates" / "plain"
    plain.mkdir()
    (plain / "loop.py").write_text(textwrap.dedent(PLAIN))
    (plain / "traindeck.yaml").write_text(
        f"command: [{sys.executable!r}, loop.py]\nconfig: {{}}\n")
    sock = bound_socket()
    settings = Settings(dir=tmp_path, port=sock.getsockname()[1],
                        templates_dir=tmp_path / "templates")
    with served(create_app(settings, store=store), sock) as base:
        yield base, folder


def api(url: str, path: str, **params: Any) -> Any:
    r = httpx.get(url + path, params=params, timeout=10)
    r.raise_for_status()
    return r.json()



def points(url: str, run_id: str, key: str) -> list[tuple[int, int, Any]]:
    """(step, count, last value) of every point of a series (one bucket each)."""
    b = api(url, f"/api/runs/{run_id}/metrics/buckets", key=key, n=100_000)["buckets"]
    assert b["first_step"] == b["last_step"]
    return list(zip(b["first_step"], b["count"], b["last"], strict=True))


def test_launch_cancel_resume_from_a_checkpoint_and_download(
        served_templates: tuple[str, Path], page: Any, tmp_path: Path) -> None:
    # served_templates first: the page closes before the server stops
    from playwright.sync_api import expect

    url, folder = served_templates
    page.set_viewport_size({"width": 1400, "height": 900})

    # build: a preset and an override
    page.goto(url + "/new")
    builder = page.get_by_test_id("builder")
    builder.get_by_test_id("builder-template").select_option("ckpt")
    builder.locator('[data-preset="long"]').click()
    expect(builder.locator('[data-field="steps"]')).to_have_value("300")
    builder.locator('[data-field="every"]').fill("5")
    expect(builder.get_by_test_id("builder-overrides")).to_have_text("preset long  every=5")
    expect(builder.get_by_test_id("builder-verdict")).to_have_text("✓ valid")
    builder.get_by_test_id("builder-launch").click()

    # it starts and logs
    page.wait_for_url(lambda u: "/new" not in u and "run=" in u)
    run_id = page.url.split("run=")[1].split("&")[0]
    row = page.locator(f'[data-run-id="{run_id}"]')
    expect(row).to_contain_text("RUNNING")
    assert api(url, f"/api/runs/{run_id}")["config"] == {"steps": 300, "every": 5, "sleep": 0.05}
    console = page.locator('[data-panel="console"]').get_by_test_id("console-line")
    logged = console.filter(has_text=re.compile(r"checkpoint \d+$")).first
    expect(logged).to_be_visible(timeout=30_000)

    # its checkpoints show; the artifact is kept
    page.locator('[role="tab"]', has_text="CHECKPOINTS").click()
    ckpts = page.locator('[data-panel="checkpoints"]')
    chosen = ckpts.locator('[data-testid="checkpoint-row"][data-step="10"]')
    expect(chosen).to_be_visible(timeout=30_000)
    expect(ckpts.locator('[data-testid="checkpoint-row"][data-step="15"]')).to_be_visible(timeout=30_000)
    wait_for(lambda: any(f["path"] == "artifacts/weights.bin"
                         for f in api(url, f"/api/runs/{run_id}/artifacts")["files"]),
             30, "the artifact to be kept")

    # cancel from the actions panel: cancelled, the process group gone
    launch = api(url, "/api/launches", run_id=run_id)["launches"][-1]
    assert launch["pid"]
    page.locator('[role="tab"]', has_text="ACTIONS").click()
    actions = page.locator('[data-panel="actions"]')
    cancel = actions.locator('[data-command="cancel"]')
    info = actions.get_by_test_id("launch-info")
    expect(info).to_contain_text(f"launch running · pid {launch['pid']}")
    cancel.click()
    expect(cancel).to_have_text("confirm cancel?")
    cancel.click()
    expect(row).to_contain_text("CANCELLED", timeout=30_000)
    assert api(url, f"/api/runs/{run_id}")["status"] == "cancelled"
    ended = api(url, "/api/launches", run_id=run_id)["launches"][-1]
    expect(info).to_contain_text(f"launch cancelled · exit {ended['exit_code']}",
                                 timeout=30_000)
    wait_for(lambda: group_gone(launch["pid"]), 30, "the process group to be gone")
    first_last = max(s for s, _, _ in points(url, run_id, "loss"))
    assert first_last >= 15

    # resume from the checkpoint at step 10 (not the newest), confirmed
    page.locator('[role="tab"]', has_text="CHECKPOINTS").click()
    resume = chosen.get_by_test_id("ckpt-resume")
    resume.click()
    expect(resume).to_have_text("resume here?")
    resume.click()
    state = ckpts.get_by_test_id("ckpt-resume-state")
    expect(state).to_contain_text("resumed from step 10")
    launches = api(url, "/api/launches", run_id=run_id)["launches"]
    assert len(launches) == 2 and launches[-1]["run_id"] == run_id
    expect(state).to_contain_text(launches[-1]["id"])
    # the same run, still selected, running again
    assert f"run={run_id}" in page.url
    expect(row).to_contain_text("RUNNING", timeout=30_000)
    page.locator('[role="tab"]', has_text="CONSOLE").click()
    expect(console.filter(has_text="resumed from step 10")).to_have_count(1)
    # let it pass where the first process stopped, then finish it off
    wait_for(lambda: max(s for s, _, _ in points(url, run_id, "attempt")) > first_last + 3,
             60, "the resumed process to pass the first one's last step")
    page.locator('[role="tab"]', has_text="ACTIONS").click()
    cancel.click()
    cancel.click()
    expect(row).to_contain_text("CANCELLED", timeout=30_000)
    resumed = api(url, "/api/launches", run_id=run_id)["launches"][-1]
    wait_for(lambda: group_gone(resumed["pid"]), 30, "the resumed process group to be gone")

    # steps continue after the checkpoint with no duplicates: one point per step, strictly
    # increasing, those after step 10 from the resumed process
    for key in ("loss", "attempt"):
        pts = points(url, run_id, key)
        steps = [s for s, _, _ in pts]
        assert steps == sorted(set(steps)), key
        assert steps == list(range(len(steps))), key
        assert all(c == 1 for _, c, _ in pts), key
    attempts = {s: v for s, _, v in points(url, run_id, "attempt")}
    assert {v for s, v in attempts.items() if s <= 10} == {1}
    assert {v for s, v in attempts.items() if s > 10} == {2}

    # download the artifact from the ARTIFACTS panel: the bytes the script logged
    page.locator('[role="tab"]', has_text="ARTIFACTS").click()
    panel = page.get_by_test_id("artifacts")
    art = panel.locator('[data-testid="artifact-row"][data-path="artifacts/weights.bin"]')
    expect(art).to_be_visible()
    with page.expect_download() as info:
        art.get_by_test_id("artifact-download").click()
    target = tmp_path / "got" / info.value.suggested_filename
    info.value.save_as(target)
    assert target.name == "weights.bin"
    assert target.read_bytes() == (folder / "out" / "weights.bin").read_bytes()


def process_state(pid: int) -> str:
    """R, S, T (stopped), ... from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_pause_and_resume_a_script_without_the_sdk(
        served_templates: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    url, _ = served_templates
    r = httpx.post(url + "/api/launches", json={"template": "plain", "name": "no sdk"},
                   timeout=10)
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    page.goto(f"{url}/?run={run_id}")
    row = page.locator(f'[data-run-id="{run_id}"]')
    expect(row).to_contain_text("RUNNING", timeout=30_000)
    pid = api(url, "/api/launches", run_id=run_id)["launches"][-1]["pid"]
    assert api(url, f"/api/runs/{run_id}")["commands_offered"] == []

    actions = page.locator('[data-panel="actions"]')
    actions.locator('[data-command="pause"]').click()
    expect(actions.locator('[data-command-state="pause"]')).to_have_text("SIGSTOP sent · paused")
    expect(row).to_contain_text("PAUSED")
    wait_for(lambda: process_state(pid) == "T", 10, "the process to be stopped")
    actions.locator('[data-command="resume"]').click()
    expect(actions.locator('[data-command-state="resume"]')).to_have_text(
        "SIGCONT sent · running")
    expect(row).to_contain_text("RUNNING")
    wait_for(lambda: process_state(pid) != "T", 10, "the process to run again")

    httpx.post(url + f"/api/runs/{run_id}/cancel", timeout=10).raise_for_status()
    wait_for(lambda: group_gone(pid), 30, "the process group to be gone")
