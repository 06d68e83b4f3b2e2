"""traindeck: track, watch, steer and launch machine-learning training.

>>> import traindeck as td
>>> with td.init(project="mnist", config={"lr": 1e-3}) as run:   # doctest: +SKIP
...     run.log({"loss": 0.5}, step=0)
"""

from typing import Any

from ._version import __version__
from .sdk import (
    CommandError,
    Run,
    current_run,
    finish,
    init,
    log,
    log_image,
    resume_or_create,
)

__all__ = [
    "CommandError",
    "Run",
    "__version__",
    "config",
    "current_run",
    "finish",
    "init",
    "log",
    "log_image",
    "resume_or_create",
    "summary",
]


def __getattr__(name: str) -> Any:
    # ``td.config`` and ``td.summary`` are those of the current run.
    if name in ("config", "summary"):
        run = current_run()
        if run is None:
            raise AttributeError(f"traindeck.{name}: no current run; call traindeck.init() first")
        return getattr(run, name)
    raise AttributeError(f"module 'traindeck' has no attribute {name!r}")
