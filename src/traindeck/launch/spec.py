"""A launch request: what ``POST /api/launches`` (and the CLI) ask for, checked.

The template part is a thin call: ``TemplateSource.get`` and a ``resolve`` function (the
``templates`` module's), typed here by what the launcher uses of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from traindeck.store import InvalidInput

#: Most restarts a retry policy may ask for.
MAX_RESTARTS: Final = 100
MAX_GRACE_S: Final = 3600.0
#: The longest wait before a restart (seconds), however many restarts came before.
MAX_BACKOFF_S: Final = 300.0


class TemplateLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def folder(self) -> Path: ...
    @property
    def command(self) -> list[str]: ...
    @property
    def hydra(self) -> bool: ...
    @property
    def remote(self) -> dict[str, Any]: ...


class ErrorLike(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def message(self) -> str: ...


class ResolvedLike(Protocol):
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def overrides(self) -> list[str]: ...
    @property
    def errors(self) -> Sequence[ErrorLike]: ...


class TemplateSource(Protocol):
    def get(self, name: str) -> Any: ...


Resolve = Callable[[Any, Sequence[str], "str | None"], ResolvedLike]


class LaunchRejected(InvalidInput):
    """The config is invalid: ``errors`` (``{"path", "message"}``) say where; nothing was
    created."""

    def __init__(self, message: str, errors: Sequence[Mapping[str, str]]) -> None:
        super().__init__(message)
        self.errors = [dict(e) for e in errors]


@dataclass(frozen=True)
class Retry:
    """When an ended process starts again: up to ``max_restarts`` times after a failure, and
    always (up to ``MAX_RESTARTS``) on one of ``exit_codes``; restart ``n`` (0-based) waits
    ``backoff_s · 2ⁿ`` seconds first (at most ``MAX_BACKOFF_S``), so that a script that
    fails at once does not spin."""

    max_restarts: int = 0
    exit_codes: tuple[int, ...] = ()
    backoff_s: float = 1.0

    def delay(self, restarts: int) -> float:
        """Seconds to wait before restart number ``restarts`` (0: the first)."""
        return float(min(self.backoff_s * 2.0 ** min(restarts, 30), MAX_BACKOFF_S))

    def should_retry(self, exit_code: int | None, restarts: int) -> bool:
        if exit_code == 0 or restarts >= MAX_RESTARTS:
            return False
        if exit_code is not None and exit_code in self.exit_codes:
            return True
        return restarts < self.max_restarts

    def to_dict(self) -> dict[str, Any]:
        return {"max_restarts": self.max_restarts, "exit_codes": list(self.exit_codes),
                "backoff_s": self.backoff_s}

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Retry:
        raw = raw or {}
        unknown = set(raw) - {"max_restarts", "exit_codes", "backoff_s"}
        if unknown:
            raise InvalidInput(f"unknown retry fields {sorted(unknown)}")
        n = raw.get("max_restarts", 0)
        codes = raw.get("exit_codes", [])
        backoff = raw.get("backoff_s", 1.0)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) \
                or not 0 <= backoff <= MAX_BACKOFF_S:
            raise InvalidInput(f"retry.backoff_s is 0..{MAX_BACKOFF_S:g} seconds")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_RESTARTS:
            raise InvalidInput(f"retry.max_restarts is an integer 0..{MAX_RESTARTS}")
        if not isinstance(codes, list) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in codes):
            raise InvalidInput("retry.exit_codes is a list of integers")
        return cls(n, tuple(codes), float(backoff))


@dataclass(frozen=True)
class LaunchRequest:
    template: str
    overrides: tuple[str, ...] = ()
    preset: str | None = None
    name: str | None = None
    executor: str = "local"
    resources: Mapping[str, Any] = field(default_factory=dict)
    retry: Retry = field(default_factory=Retry)
    grace_s: float = 10.0
    project: str | None = None
    #: The host (``traindeck hosts``) an ``ssh`` launch runs on, or a ``slurm`` launch's login
    #: node (none: ``sbatch`` on the server's machine).
    host: str | None = None

    def __post_init__(self) -> None:
        if not self.template:
            raise InvalidInput("a launch names its template")
        if not all(isinstance(o, str) for o in self.overrides):
            raise InvalidInput("overrides are strings (key=value)")
        if not 0 <= self.grace_s <= MAX_GRACE_S:
            raise InvalidInput(f"grace_s is 0..{MAX_GRACE_S:g} seconds")
