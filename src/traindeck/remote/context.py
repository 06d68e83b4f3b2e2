"""What a launch's own thread needs of the executor that started it: one object, the same for
both executors on hosts (the SSH executor and the Slurm executor's part for login nodes), so
that the steps bringing a launch to its host (:mod:`~traindeck.remote.staging`) and the
loops following it (:mod:`~traindeck.remote.follow`,
:mod:`~traindeck.remote.slurm_login_work`) are written once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from traindeck.remote.ssh import SSHLink
from traindeck.remote.tracked import RemoteLaunch, Reporter
from traindeck.runfiles import RunFiles
from traindeck.store.models import Host

#: The executor's kind of launch (:class:`RemoteLaunch` or one that adds to it).
L = TypeVar("L", bound=RemoteLaunch)


@dataclass(frozen=True)
class LaunchContext(Generic[L]):
    """The executor's side of a launch's thread."""

    #: The host's shared link for the launch (waits for SSH; ``report`` sees the wait and
    #: may cancel it); it becomes the launch's :attr:`~RemoteLaunch.link`.
    acquire: Callable[[L, Reporter | None], SSHLink]
    #: Let go of the host's link (by host name).
    release: Callable[[str], None]
    #: The host record by name (:class:`~traindeck.launch.executor.ExecutorError` if none).
    host: Callable[[str], Host]
    #: One upload at a time per host (by host name).
    upload_lock: Callable[[str], threading.Lock]
    files: RunFiles
    #: The address the reverse forwards lead to (the server's own).
    server: tuple[str, int]
    #: Where archives are packed before their upload.
    scratch: Path
    wheel: Callable[[], Path] | None
    #: This machine's interpreters (a command's first word naming one becomes the host's).
    pythons: tuple[str, ...]
    #: How long a dropped connection may stay down before a step fails.
    wait_s: float
    #: The following loop's round.
    mirror_s: float
    #: How often a link that gave up is opened again.
    retry_s: float
    #: How often the SSH executor's loop checks that the wrapper is still there.
    status_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
