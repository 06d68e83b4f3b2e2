"""The part of traindeck that runs inside the training process."""

from .checkpoint_options import LastCheckpoint
from .commands import CommandError
from .init import current_run, finish, init, log, log_image, resume_or_create
from .policy import FailurePolicy
from .run import Run
from .system import SystemSampler

__all__ = [
    "CommandError",
    "FailurePolicy",
    "LastCheckpoint",
    "Run",
    "SystemSampler",
    "current_run",
    "finish",
    "init",
    "log",
    "log_image",
    "resume_or_create",
]
