"""What a run records about where it runs: host, pid, command line, git, versions.

The command line and the folder are redacted (``traindeck.redact``) before they are
recorded: ``--db-password hunter2`` or ``postgres://user:pa55@host`` in ``sys.argv`` never
reach the store."""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from ..redact import redact

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


def collect(cwd: Path | None = None, *, redact_values: Iterable[str] = ()) -> dict[str, Any]:
    """Run fields describing this process (for ``store.update_run``), secrets blanked
    (every shape ``redact`` knows, and each of ``redact_values``)."""
    here = cwd or Path.cwd()
    values = list(redact_values)
    commit, dirty = git_state(here)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": redact(shlex.join([sys.executable, *sys.argv]), values),
        "git_commit": commit,
        "git_dirty": dirty,
        "env": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cwd": redact(str(here), values),
            "frameworks": framework_versions(),
        },
    }
