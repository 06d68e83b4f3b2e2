"""A template's ``remote:`` settings: how it runs on another machine (an SSH host, a Slurm
cluster). All optional::

    remote:
      datasets:                  # folders uploaded with the code (as data/NAME)
        mnist: ../data/mnist     #   NAME: a folder (relative to the template's folder)
      exclude: ["*.log", "wandb/"]   # left out of the upload (.gitignore is read too)
      results: ["*.npz"]         # files brought home when the run ends, beside
                                 #   *.pt *.pth *.ckpt *.safetensors
      python: python3            # the interpreter on the host (a venv's, say)
      venv: ~/venvs/train        # a venv on the host, made when missing
      setup: pip install -r requirements.txt   # run once per uploaded code+data
      env: {HF_HOME: /scratch/hf}  # variables set on the host for the process and its
                                   #   preparation (venv, install, setup); not TRAINDECK_*

Checked when the template loads; :func:`parse_remote` returns the settings with each dataset
as an absolute path (what a launch row keeps).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

KEYS: Final = ("datasets", "exclude", "results", "python", "venv", "setup", "env")
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DATASET_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_TEXT: Final = 4096


class RemoteSettingsError(ValueError):
    """What is wrong with a ``remote:`` section."""


def _strings(raw: Any, what: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) and x and len(x) <= MAX_TEXT
                                            and "\0" not in x for x in raw):
        raise RemoteSettingsError(f"remote.{what} must be a list of patterns")
    return list(raw)


def _text(raw: Any, what: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TEXT or "\0" in raw:
        raise RemoteSettingsError(f"remote.{what} must be a non-empty string")
    return raw


def _datasets(raw: Any, folder: Path) -> dict[str, str]:
    if raw is None:
        return {}
    if isinstance(raw, list):  # a list of folders: each named after its last part
        raw = {Path(str(p)).name: p for p in raw}
    if not isinstance(raw, dict):
        raise RemoteSettingsError("remote.datasets must map a name to a folder")
    out: dict[str, str] = {}
    for name, path in raw.items():
        if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
            raise RemoteSettingsError(f"remote.datasets: {name!r} is not a dataset name")
        if not isinstance(path, str) or not path or "\0" in path:
            raise RemoteSettingsError(f"remote.datasets.{name} must be a folder")
        where = (folder / Path(path).expanduser()).resolve()
        if not where.is_dir():
            raise RemoteSettingsError(f"remote.datasets.{name}: no folder {where}")
        out[name] = str(where)
    return out


def _env(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RemoteSettingsError("remote.env must map variable names to strings")
    for name, value in raw.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name) \
                or name.startswith("TRAINDECK_"):
            raise RemoteSettingsError(f"remote.env: {name!r} is not a variable it may set")
        if not isinstance(value, str | int | float) or isinstance(value, bool) \
                or "\0" in str(value):
            raise RemoteSettingsError(f"remote.env.{name} must be a string")
    return {str(k): str(v) for k, v in raw.items()}


def parse_remote(raw: Any, folder: Path) -> dict[str, Any]:
    """The checked settings (``{}`` when there are none)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RemoteSettingsError("remote must be a mapping (datasets:, exclude:, …)")
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    if unknown:
        raise RemoteSettingsError(f"remote has unknown keys {', '.join(unknown)} "
                                  f"(known: {', '.join(KEYS)})")
    settings: dict[str, Any] = {
        "datasets": _datasets(raw.get("datasets"), folder),
        "exclude": _strings(raw.get("exclude"), "exclude"),
        "results": _strings(raw.get("results"), "results"),
        "env": _env(raw.get("env")),
    }
    for key in ("python", "venv", "setup"):
        value = _text(raw.get(key), key)
        if value is not None:
            settings[key] = value
    return settings
