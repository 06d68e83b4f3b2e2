"""A drop-in for wandb: ``import traindeck.wandb as wandb`` and the script records into
traindeck instead (docs/integrations.md, "wandb drop-in").

>>> import traindeck.wandb as wandb
>>> run = wandb.init(project="mnist", config={"lr": 1e-3})    # doctest: +SKIP
>>> wandb.log({"loss": 0.5})                                   # doctest: +SKIP
>>> wandb.finish()                                             # doctest: +SKIP

Module functions act on ``wandb.run``, the run ``init()`` made last in this process.
Before ``init()`` (or after ``finish()``) they warn once and do nothing, as does anything
wandb has and traindeck does not (``wandb.Video``, ``wandb.plot``, ``wandb.Artifact``…).
Importing this module does nothing but define names.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any, Final

from .data_types import Histogram, Image, Table
from .mappings import Config, Summary
from .metrics import MetricRule
from .session import Process, Settings, init
from .wandb_run import WandbRun
from .warn import Unsupported

Run = WandbRun

__all__ = [
    "AlertLevel",
    "Config",
    "Error",
    "Histogram",
    "Image",
    "Run",
    "Settings",
    "Summary",
    "Table",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "log_artifact",
    "login",
    "run",
    "save",
    "summary",
    "unwatch",
    "watch",
]

#: wandb names traindeck does not provide: using them warns once and does nothing.
UNSUPPORTED: Final = frozenset({
    "Video", "Audio", "Html", "Object3D", "Molecule", "Plotly", "Graph", "plot",
    "plot_table", "Artifact", "use_artifact", "log_model", "use_model", "link_model",
    "Api", "sweep", "agent", "controller", "restore", "mark_preempting", "tensorboard",
    "setup", "teardown", "require", "termlog", "termwarn", "termerror", "Classes",
    "box3d",
})


class AlertLevel(enum.StrEnum):
    """``wandb.AlertLevel``: the level an ``alert`` event carries."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class Error(Exception):
    """``wandb.Error``: scripts catch it; traindeck.wandb itself never raises it."""


def _require(what: str) -> WandbRun | None:
    run = Process.run
    if run is None:
        Process.warn(f"no-run:{what}", f"wandb.{what}() before wandb.init() (or after "
                                       "finish()): ignored")
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None,
        sync: bool | None = None) -> None:
    """``log()`` on ``wandb.run`` (see ``history.py`` for the step rules)."""
    if (run := _require("log")) is not None:
        run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish ``wandb.run``: ``completed`` (exit code 0 or None), else ``failed``."""
    if (run := Process.run) is not None:
        run.finish(exit_code)


def define_metric(name: str, step_metric: str | None = None, step_sync: bool | None = None,
                  hidden: bool | None = None, summary: str | None = None,
                  goal: str | None = None, overwrite: bool | None = None,
                  **kwargs: Any) -> MetricRule | None:
    """``define_metric()`` on ``wandb.run`` (see ``metrics.py``)."""
    if (run := _require("define_metric")) is None:
        return None
    return run.define_metric(name, step_metric=step_metric, step_sync=step_sync,
                             hidden=hidden, summary=summary, goal=goal, overwrite=overwrite,
                             **kwargs)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """An ``alert`` event on ``wandb.run``."""
    if (run := _require("alert")) is not None:
        run.alert(title, text, level=level, wait_duration=wait_duration)


def save(glob_str: str | os.PathLike[str] | None = None,
         base_path: str | os.PathLike[str] | None = None, policy: str = "live") -> list[str]:
    """Keep matching files as artifacts of ``wandb.run``."""
    if (run := _require("save")) is None:
        return []
    return run.save(glob_str, base_path=base_path, policy=policy)


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None,
                 aliases: Any = None) -> Any:
    """Keep a file or folder as an artifact of ``wandb.run``."""
    if (run := _require("log_artifact")) is None:
        return None
    return run.log_artifact(artifact_or_path, name=name, type=type, aliases=aliases)


def watch(models: Any = None, criterion: Any = None, log: str | None = "gradients",
          log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
    """A no-op (warns once): traindeck records no gradients or parameters."""
    run = Process.run
    if run is not None:
        run.watch(models)
    else:
        Process.warn("watch", "watch() is a no-op in traindeck (no gradients or parameters "
                              "are recorded)")


def unwatch(models: Any = None) -> None:
    """A no-op."""


def login(*args: Any, **kwargs: Any) -> bool:
    """Nothing to log in to: traindeck writes where ``TRAINDECK_DIR``/``TRAINDECK_URL``
    say (a server's token is ``TRAINDECK_TOKEN``). Always True."""
    return True


def __getattr__(name: str) -> Any:
    # ``wandb.run``, ``wandb.config`` and ``wandb.summary`` follow the current run.
    if name == "run":
        return Process.run
    if name in ("config", "summary"):
        current = Process.run
        if current is not None:
            return getattr(current, name)
        Process.warn(f"no-run:{name}", f"wandb.{name} before wandb.init(): a detached "
                                       f"{name} that stores nothing")
        return Config({}) if name == "config" else Summary({}, {})
    if name in UNSUPPORTED:
        return Unsupported(f"wandb.{name}", Process.warnings())
    raise AttributeError(f"module 'traindeck.wandb' has no attribute {name!r}")
