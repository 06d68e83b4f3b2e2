"""The estimate hook runs in a real child process: its result comes back, and every way it
can fail (exception, missing module or function, timeout, a result that is not a mapping or
not JSON) is a result with ``ok=False`` and a redacted error, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from traindeck.launch.estimate import run_estimate

HOOKS = '''
import time

def params(config):
    print("printed by the hook")  # must not spoil the result
    w = config["width"]
    return {"params": w * w + 2 * w, "bytes": 4 * (w * w + 2 * w)}

def boom(config):
    raise ValueError("width too large; password=hunter2")

def slow(config):
    time.sleep(60)

def a_list(config):
    return [1]

def an_object(config):
    return {"x": object()}
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "estimate.py").write_text(HOOKS)
    return tmp_path


def test_the_hook_result_comes_back(folder: Path) -> None:
    result = run_estimate(folder, "estimate:params", {"width": 8})
    assert result.ok and result.error is None
    assert result.value == {"params": 80, "bytes": 320}
    assert not (folder / "__pycache__").exists()


@pytest.mark.parametrize(("hook", "message"), [
    ("estimate:boom", "ValueError: width too large; password=[redacted]"),
    ("estimate:missing", "has no attribute 'missing'"),
    ("nowhere:f", "No module named 'nowhere'"),
    ("estimate:a_list", "estimate:a_list returned list, not a dict"),
    ("estimate:an_object", "returned a value of type object, which is not JSON"),
])
def test_a_failing_hook_is_a_result(folder: Path, hook: str, message: str) -> None:
    result = run_estimate(folder, hook, {"width": 8})
    assert not result.ok and result.value is None
    assert result.error is not None and message in result.error
    assert "hunter2" not in result.error
    assert result.to_json() == {"ok": False, "value": None, "error": result.error}


def test_a_slow_hook_is_stopped(folder: Path) -> None:
    result = run_estimate(folder, "estimate:slow", {}, timeout_s=0.5)
    assert not result.ok
    assert result.error == "the estimate hook estimate:slow ran longer than 0.5 s and was stopped"
