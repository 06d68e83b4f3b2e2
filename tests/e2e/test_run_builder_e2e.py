"""The run builder in a real browser (issue 10 §4): a real server with a templates folder
whose script uses the SDK, launched for real in a child process.

Open ``/new``, pick the template, press a preset, change fields, see the server's
validation next to the field, ask the estimate, launch: the new run opens, running and
logging; cancel it from the actions panel (confirmed): ``cancelled`` and its process group
gone; clone it: the builder opens with its template, preset and overrides.
``TRAINDECK_BUILDER_SHOT=DIR`` keeps screenshots of the builder there.
"""

from __future__ import annotations

import os
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

TRAIN = """
    import time
    import traindeck as td

    run = td.init()
    cfg = run.config
    print(f"training with lr={cfg['lr']} optim={cfg['optim']['name']}", flush=True)
    for step in range(cfg["steps"]):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 10 == 0:
            print(f"step {step}", flush=True)
        time.sleep(cfg["sleep"])
    run.finish()
"""

SPEC = f"""
command: [{sys.executable!r}, train.py]
description: A tiny SDK script that logs a loss.
config:
  lr: 0.1
  steps: 20
  sleep: 0.01
  optim:
    name: adam
    momentum: 0.9
  layers: [8, 8]
schema:
  type: object
  additionalProperties: false
  properties:
    lr: {{type: number, minimum: 0, maximum: 1}}
    steps: {{type: integer, minimum: 1}}
    sleep: {{type: number, minimum: 0}}
    optim:
      type: object
      additionalProperties: false
      properties:
        name: {{enum: [adam, sgd]}}
        momentum: {{type: number, minimum: 0, maximum: 1}}
    layers: {{type: array, items: {{type: integer, minimum: 1}}}}
presets:
  long: ["steps=100000", "sleep=0.05"]
estimate: estimate:params
"""

ESTIMATE = """
def params(config):
    sizes = config["layers"]
    return {"params": sum(a * b for a, b in zip(sizes, sizes[1:])), "steps": config["steps"]}
"""


@pytest.fixture
def url(store: Store, tmp_path: Path) -> Iterator[str]:
    if not (ROOT / "src" / "traindeck" / "web" / "index.html").is_file():
        pytest.fail("the dashboard is not built (cd web && npm ci && npm run build)")
    folder = tmp_path / "templates" / "mlp"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(TRAIN))
    (folder / "estimate.py").write_text(ESTIMATE)
    (folder / "traindeck.yaml").write_text(SPEC)
    sock = bound_socket()
    settings = Settings(dir=tmp_path, port=sock.getsockname()[1],
                        templates_dir=tmp_path / "templates")
    with served(create_app(settings, store=store), sock) as base:
        yield base


def api(url: str, path: str, **params: Any) -> Any:
    r = httpx.get(url + path, params=params, timeout=10)
    r.raise_for_status()
    return r.json()


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("TRAINDECK_BUILDER_SHOT")
    if folder:
        page.screenshot(path=str(Path(folder) / name))



def test_build_launch_cancel_and_clone_a_run(url: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(url + "/new")
    builder = page.get_by_test_id("builder")
    builder.get_by_test_id("builder-template").select_option("mlp")
    expect(builder.get_by_text("A tiny SDK script")).to_be_visible()
    verdict = builder.get_by_test_id("builder-verdict")
    expect(verdict).to_have_text("✓ valid")

    # where it runs: the server's executors, local chosen (this machine: no host to pick)
    executor = builder.get_by_test_id("builder-executor")
    expect(executor.locator('option[value="local"]')).to_have_count(1)
    expect(executor).to_have_value("local")
    expect(builder.get_by_test_id("builder-host")).to_have_count(0)

    # a preset: its values show in the form, the YAML marks them changed
    builder.locator('[data-preset="long"]').click()
    expect(builder.locator('[data-field="steps"]')).to_have_value("100000")
    yaml = builder.get_by_test_id("builder-yaml")
    expect(yaml.locator('[data-path="steps"]')).to_have_attribute("data-mark", "changed")

    # a value out of range: the server's message by the field, no launch
    builder.locator('[data-field="lr"]').fill("1.5")
    expect(builder.locator('[data-field-error="lr"]')).to_be_visible()
    expect(verdict).to_contain_text("1 error")
    expect(builder.get_by_test_id("builder-launch")).to_be_disabled()
    shot(page, "builder-error.png")

    # fixed, and two more changes: a nested enum and a list
    builder.locator('[data-field="lr"]').fill("0.01")
    builder.locator('[data-field="optim.name"]').select_option("sgd")
    builder.locator('[data-field="layers"]').fill("16, 32, 4")
    expect(verdict).to_have_text("✓ valid")
    expect(builder.locator('[data-field-error="lr"]')).to_have_count(0)
    expect(yaml.locator('[data-path="lr"]')).to_have_text("~lr: 0.01")
    expect(yaml.locator('[data-path="optim.name"]')).to_have_attribute("data-mark", "changed")
    expect(yaml.locator('[data-path="optim.momentum"]')).to_have_attribute("data-mark", "same")
    expect(builder.get_by_test_id("builder-overrides")).to_have_text(
        "preset long  lr=0.01  optim.name=sgd  layers=[16, 32, 4]")

    # the estimate hook's result
    estimate = builder.get_by_test_id("builder-estimate")
    estimate.get_by_role("button", name="estimate").click()
    expect(estimate).to_contain_text("640")  # 16*32 + 32*4
    shot(page, "builder.png")

    # launch: the run opens, running, and logs
    builder.get_by_test_id("builder-name").fill("from the builder")
    builder.get_by_test_id("builder-launch").click()
    page.wait_for_url(lambda u: "/new" not in u and "run=" in u)
    run_id = page.url.split("run=")[1].split("&")[0]
    row = page.locator(f'[data-run-id="{run_id}"]')
    expect(row).to_contain_text("from the builder")
    expect(row).to_contain_text("RUNNING")
    run = api(url, f"/api/runs/{run_id}")
    assert run["config"]["lr"] == 0.01
    assert run["config"]["optim"] == {"name": "sgd", "momentum": 0.9}
    assert run["config"]["layers"] == [16, 32, 4]
    assert run["config"]["steps"] == 100000
    console = page.locator('[data-panel="console"]').get_by_test_id("console-line")
    expect(console.filter(has_text="training with lr=0.01 optim=sgd")).to_have_count(1)
    expect(console.filter(has_text="step 10").first).to_be_visible()

    # cancel, confirmed: cancelled, and the process group is gone
    launch = api(url, "/api/launches", run_id=run_id)["launches"][-1]
    actions = page.locator('[data-panel="actions"]')
    cancel = actions.locator('[data-command="cancel"]')
    cancel.click()
    expect(cancel).to_have_text("confirm cancel?")
    cancel.click()
    expect(actions.locator('[data-command-state="cancel"]')).to_contain_text("cancel sent")
    expect(row).to_contain_text("CANCELLED", timeout=30_000)
    assert api(url, f"/api/runs/{run_id}")["status"] == "cancelled"
    wait_for(lambda: group_gone(launch["pid"]), 30, "the process group to be gone")
    expect(cancel).to_be_disabled()

    # clone: the builder again, with the run's template, preset and overrides
    actions.locator('[data-command="clone"]').click()
    page.wait_for_url(lambda u: "/new" in u)
    builder = page.get_by_test_id("builder")
    expect(builder.get_by_test_id("builder-cloned")).to_contain_text(run_id)
    expect(builder.get_by_test_id("builder-template")).to_have_value("mlp")
    expect(builder.locator('[data-field="lr"]')).to_have_value("0.01")
    expect(builder.locator('[data-field="optim.name"]')).to_have_value("1")  # sgd
    expect(builder.locator('[data-preset="long"]')).to_have_class("bld-on")
    expect(builder.get_by_test_id("builder-verdict")).to_have_text("✓ valid")


def test_new_run_is_on_the_keyboard_and_in_the_palette(url: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(url + "/")
    expect(page.get_by_test_id("conn")).to_contain_text("live")
    page.keyboard.press("n")
    page.wait_for_url(lambda u: "/new" in u)
    expect(page.get_by_test_id("builder")).to_be_visible()
    page.get_by_role("button", name="✕ close").click()
    page.wait_for_url(lambda u: "/new" not in u)
    page.keyboard.press("Control+k")
    page.get_by_test_id("palette").locator("input").fill("new run")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("builder")).to_be_visible()
    page.go_back()
    expect(page.get_by_test_id("builder")).to_have_count(0)
