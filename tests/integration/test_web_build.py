"""The dashboard ships inside the wheel: hatch_build.py builds web/ when the build is missing.

Each test copies the checkout (its git-tracked and untracked-but-not-ignored files, so no
built dashboard) to a temporary folder and builds a wheel from it with the project's own
build backend, as ``pip wheel`` on a fresh clone would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from support import missing

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def checkout_copy(dest: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        missing("git and a git checkout (to list the project's files)")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if not src.is_file():  # deleted but not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    assert not (dest / "src/traindeck/web").exists()
    modules = ROOT / "web" / "node_modules"
    if modules.is_dir():  # saves `npm ci`; the hook runs it when this is absent
        (dest / "web" / "node_modules").symlink_to(modules)
    return dest


def without_npm(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment with an empty PATH (no npm, no node), and ``extra`` set."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TRAINDECK_SKIP_WEB_BUILD"}
    return {**env, "PATH": str(empty), **extra}


def build_wheel(src: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-w", str(out), str(src)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def test_wheel_built_from_a_clean_checkout_contains_the_dashboard(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        missing("npm (Node.js 20+), to build the dashboard")
    src = checkout_copy(tmp_path / "src")
    done = build_wheel(src, tmp_path / "dist", dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("traindeck-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        index = zf.read("traindeck/web/index.html").decode()
    assert '<div id="root">' in index
    # Every file the page loads is in the wheel, and the page loads a script.
    refs = re.findall(r'(?:src|href)="/(assets/[^"]+)"', index)
    assert any(r.endswith(".js") for r in refs), index
    for ref in refs:
        assert f"traindeck/web/{ref}" in names, ref
    assert "traindeck/_examples/numpy_mlp.py" in names


def test_without_npm_the_build_says_what_to_install(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path / "src")
    (src / "web" / "node_modules").unlink(missing_ok=True)
    done = build_wheel(src, tmp_path / "dist", without_npm(tmp_path))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "npm was not found" in out, out
    assert "TRAINDECK_SKIP_WEB_BUILD=1" in out
    assert not list((tmp_path / "dist").glob("*.whl"))


def test_skip_switch_builds_a_wheel_without_the_dashboard(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path / "src")
    env = without_npm(tmp_path, TRAINDECK_SKIP_WEB_BUILD="1")
    done = build_wheel(src, tmp_path / "dist", env)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("traindeck-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert not [n for n in names if n.startswith("traindeck/web/")]
    # (the server then answers pages with a note on how to build the dashboard)


def test_an_sdist_ships_the_web_sources_and_needs_no_npm(tmp_path: Path) -> None:
    src = checkout_copy(tmp_path / "src")
    (src / "web" / "node_modules").unlink(missing_ok=True)
    env = without_npm(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "dist")],
        cwd=src, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = (tmp_path / "dist").glob("traindeck-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
    # what a wheel build from it needs: the web sources, the lock file, the hook
    for needed in ("web/package.json", "web/package-lock.json", "web/src/main.tsx",
                   "hatch_build.py"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("web/node_modules", "src/traindeck/web/"))]
