"""Warn once, carry on: how the wandb drop-in answers what traindeck does not do.

A wandb script must run unchanged under ``import traindeck.wandb as wandb``. A call the
drop-in does not support (``wandb.watch``, ``wandb.Video``, ``wandb.plot``, a value
traindeck cannot store) logs one warning on the ``traindeck.wandb`` logger, the first time
that kind of thing happens, and does nothing; it never raises into the training script.
Logging rather than ``warnings``: a script run with ``-W error`` must not die of it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

LOGGER: Final = "traindeck.wandb"


class OnceWarner:
    """Logs each kind of warning (named by ``key``) once."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def warn(self, key: str, message: str) -> bool:
        """Log ``message`` unless a warning of this ``key`` was logged before; True if
        it was logged now."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        try:
            (self._logger or logging.getLogger(LOGGER)).warning("traindeck.wandb: %s", message)
        except Exception:
            pass  # a broken logging setup must not reach the training loop
        return True

    def seen(self, key: str) -> bool:
        """Whether a warning of this ``key`` was logged."""
        return key in self._seen


class Unsupported:
    """What an unsupported wandb name gives (``wandb.Video``, ``wandb.plot.line``,
    ``run.log_code``): calling it, or anything reached from it, warns once (per name) and
    does nothing; logging the object it returns stores nothing."""

    def __init__(self, name: str, warner: OnceWarner, *, root: str | None = None) -> None:
        self._name = name
        self._root = root or name
        self._warner = warner

    def __call__(self, *args: Any, **kwargs: Any) -> Unsupported:
        self._warner.warn(f"unsupported:{self._root}",
                          f"{self._root} is not supported by traindeck; ignored")
        return Unsupported(f"{self._name}()", self._warner, root=self._root)

    def __getattr__(self, attr: str) -> Unsupported:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Unsupported(f"{self._name}.{attr}", self._warner, root=self._root)

    def _td_emit(self, out: Any, key: str) -> None:
        """Logged under ``key``: nothing is stored (the call that made it warned)."""
        self._warner.warn(f"unsupported:{self._root}",
                          f"{self._root} is not supported by traindeck; ignored")

    def __repr__(self) -> str:
        return f"<traindeck.wandb: unsupported {self._name}>"
