"""What a run records about where it runs: host, pid, command line, git, versions."""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: Frameworks whose versions are recorded when the script has imported them already
#: (traindeck never imports a framework itself).
FRAMEWORKS = (
    "torch", "lightning", "pytorch_lightning", "transformers", "tensorflow", "keras", "jax",
    "flax", "sklearn", "xgboost", "lightgbm", "numpy",
)
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "pytorch_lightning": "pytorch-lightning"}


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(cwd: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``cwd``, or (None, None) outside one."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return commit, bool(status) if status is not None else None


def framework_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in FRAMEWORKS:
        if name in sys.modules:
            try:
                out[name] = metadata.version(_DISTRIBUTIONS.get(name, name))
            except metadata.PackageNotFoundError:
                version = getattr(sys.modules[name], "__version__", None)
                if isinstance(version, str):
                    out[name] = version
    return out


def collect(cwd: Path | None = None) -> dict[str, Any]:
    """Run fields describing this process (for ``store.update_run``)."""
    here = cwd or Path.cwd()
    commit, dirty = git_state(here)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": shlex.join([sys.executable, *sys.argv]),
        "git_commit": commit,
        "git_dirty": dirty,
        "env": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cwd": str(here),
            "frameworks": framework_versions(),
        },
    }
