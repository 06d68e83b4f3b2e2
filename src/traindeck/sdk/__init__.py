"""The part of traindeck that runs inside the training process."""

from .commands import CommandError
from .init import current_run, finish, init, log
from .policy import FailurePolicy
from .run import Run
from .system import SystemSampler

__all__ = [
    "CommandError",
    "FailurePolicy",
    "Run",
    "SystemSampler",
    "current_run",
    "finish",
    "init",
    "log",
]
