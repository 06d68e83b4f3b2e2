"""The traindeck wheel an SSH host gets when its python cannot import traindeck: the one
given (``traindeck serve --ssh-wheel``, ``TRAINDECK_WHEEL``), else one built once from this
installation's source tree (an editable or source install; ``pip wheel --no-deps``), else
none (the launch then says how to install traindeck on the host)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from traindeck.launch.executor import ExecutorError


def source_tree() -> Path | None:
    """The folder holding traindeck's ``pyproject.toml`` when this is a source install."""
    import traindeck

    root = Path(traindeck.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "traindeck"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def server_wheel(cache: Path, given: Path | None = None) -> Callable[[], Path] | None:
    """A function returning the wheel to upload (``given``, or built on first use and then
    kept), or ``None`` when there is no way to make one."""
    if given is not None:
        return lambda: given
    root = source_tree()
    if root is None:
        return None
    lock = threading.Lock()
    built: list[Path] = []

    def build() -> Path:
        with lock:
            if built and built[0].is_file():
                return built[0]
            cache.mkdir(parents=True, exist_ok=True)
            for old in cache.glob("traindeck-*.whl"):
                old.unlink()
            done = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(cache), str(root)],
                capture_output=True, text=True, timeout=600, check=False)
            wheels = sorted(cache.glob("traindeck-*.whl"))
            if done.returncode != 0 or not wheels:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise ExecutorError("could not build traindeck's wheel for the host (set "
                                    "TRAINDECK_WHEEL to one): " + " / ".join(tail))
            built[:] = [wheels[-1]]
            return wheels[-1]

    return build
