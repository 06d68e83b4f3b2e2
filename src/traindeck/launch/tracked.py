"""A launch the launcher follows, and what its end means for the launch and its run.

:class:`Tracked` is the launcher's memory of one live process: its handle, console capture,
cancel deadline and resource sampler. :func:`report_end` writes the end of a process to the
store: ``cancelled`` when a cancel was asked for (unless the run had completed on its own),
a restart (``queued`` again, after the retry policy's backoff), or ``completed``/``failed``
from the exit code.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from traindeck.store import NotFound, Run, Store
from traindeck.store.models import TERMINAL_STATUSES

from .capture import ConsoleCapture
from .executor import Executor, Handle
from .procstats import RunTreeStats
from .spec import Retry

#: How many passes in a row may fail to record a launch's end (the store is away) before
#: the launcher stops trying and lets it go (logged).
MAX_END_ATTEMPTS: Final = 600


@dataclass
class Tracked:
    launch_id: str
    run_id: str
    handle: Handle
    capture: ConsoleCapture
    executor: Executor
    cancel_at: float | None = None
    last_beat: float = 0.0
    #: CPU/RAM of the process tree as the run's ``sys/`` series (local processes that do
    #: not sample themselves); ``None`` for other executors.
    stats: RunTreeStats | None = None
    #: Lines were stored since the launch row last recorded the offsets.
    pumped: bool = False
    #: The console files' sizes when the process was first seen ended.
    end_sizes: dict[str, int] | None = None
    #: Passes that failed to record the end (see ``MAX_END_ATTEMPTS``).
    end_attempts: int = 0
    #: The executor's last word on where it stands (``detail_of``), as the launch shows it.
    detail: str | None = None
    #: Its process runs (``started_of``): the launch is ``running``, not ``starting``.
    running: bool = False


def report_end(store: Store, t: Tracked, code: int | None, error: str | None,
               now: float, revoke: Callable[[str], None]) -> None:
    """Record that ``t``'s process ended with ``code`` (``error``: why it could not run).
    Raises what the store raises; calling it again after a failure is safe."""
    launch = store.get_launch(t.launch_id)
    token_id = launch.state.get("token_id")
    if token_id:
        revoke(str(token_id))
    state = {**launch.state, "offsets": t.capture.offsets()}
    try:
        run: Run | None = store.get_run(t.run_id)
    except NotFound:
        run = None
    if launch.status == "cancelling":
        # What is left of the group (a child that ignored SIGTERM), while the process is
        # still this executor's to signal.
        t.executor.signal(t.handle, signal.SIGKILL)
        if code == 0 and run is not None and run.status == "completed":
            # It had finished on its own when the cancel came: say so.
            store.update_launch(launch.id, status="completed", exit_code=code, ended_at=now,
                                state=state)
            store.update_run(run.id, exit_code=code)
            return
        store.update_launch(launch.id, status="cancelled", exit_code=code, ended_at=now,
                            state=state)
        if run is not None:
            store.set_status(run.id, "cancelled", exit_code=code)
        return
    retry = Retry.parse(launch.spec.get("retry"))
    if run is not None and error is None and retry.should_retry(code, launch.restarts):
        wait = retry.delay(launch.restarts)
        store.update_launch(launch.id, status="queued", exit_code=code,
                            restarts=launch.restarts + 1, pid=None,
                            state={**state, "not_before": now + wait})
        store.add_event(run.id, "restart", {"exit_code": code, "restarts": launch.restarts + 1,
                                            "in_s": wait})
        store.set_status(run.id, "queued", exit_code=code)
        return
    status = "completed" if code == 0 else "failed"
    store.update_launch(launch.id, status=status, exit_code=code, ended_at=now, state=state,
                        error=error)
    if run is None:
        return
    if run.status in TERMINAL_STATUSES and run.status != "interrupted":
        store.update_run(run.id, exit_code=code)
    else:
        store.set_status(run.id, status, exit_code=code)
