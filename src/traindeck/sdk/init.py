"""``traindeck.init()`` and the module-level shortcuts over the current run.

Environment variables are read here, at the edge, and nowhere else in the SDK:

``TRAINDECK_DIR``      the traindeck folder (``./traindeck``): the store ``traindeck.db`` and
                       ``runs/<id>/`` for files.
``TRAINDECK_PROJECT``  default project name.
``TRAINDECK_RUN_ID``   attach to this run id (set by the launcher for a prepared run).
``TRAINDECK_MODE``     ``disabled`` makes every call a no-op; ``offline`` records into the run's
                       spool only (upload later with ``traindeck sync``).
``TRAINDECK_URL``      send to this server instead of the local store (``url=``).
``TRAINDECK_TOKEN``    bearer token for that server.
``TRAINDECK_STRICT``   ``1`` raises internal failures instead of reporting them once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, cast

from ..store import NotFound, Store, open_store
from ..store.codec import jsonable
from .checkpointing import CheckpointOptions
from .meta import collect
from .policy import FailurePolicy
from .run import Run

DEFAULT_DIR: Final = "traindeck"
RESUME_MODES: Final = ("allow", "must", "never")

_current: ContextVar[Run | None] = ContextVar("traindeck_run", default=None)


class _ProcessCurrent:
    """The run ``init()`` made last in this process, for threads that have not seen it
    in their own context (a data-loader thread calling ``td.log``)."""

    run: Run | None = None


def _set_current(run: Run) -> Run:
    _current.set(run)
    _ProcessCurrent.run = run
    return run


def _clear_current(run: Run) -> None:
    if _current.get() is run:
        _current.set(None)
    if _ProcessCurrent.run is run:
        _ProcessCurrent.run = None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def init(
    project: str | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    dir: str | os.PathLike[str] | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    *,
    notes: str | None = None,
    store: Store | None = None,
    heartbeat_interval: float = 2.0,
    heartbeat_timeout: float = 30.0,
    system_interval: float | None = 5.0,
    strict: bool | None = None,
    tick: float = 0.05,
    command_interval: float = 0.2,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_template: str | None = None,
    best: str | None = None,
    keep_last: int | None = None,
    keep_best: int | None = None,
    url: str | None = None,
    capture_console: bool = True,
) -> Run:
    """Start (or resume) a run and make it the current one.

    ``resume``: ``None``/``"never"`` — a new run (an existing ``id`` is an error unless the
    run was prepared by the launcher); ``True``/``"allow"`` — continue run ``id`` if it
    exists, else create it; ``"must"`` — continue run ``id``, which must exist. A resumed
    run continues its steps after the last one stored.

    ``system_interval`` is the seconds between system-load samples (``None`` disables).
    ``store`` lets tests and embedding applications pass an open store.
    ``url`` (or ``TRAINDECK_URL``): a traindeck server to send to over HTTP; every batch is
    spooled to ``<dir>/runs/<id>/spool/`` first, so nothing is lost while it is away.

    ``capture_console``: tee ``sys.stdout``/``sys.stderr`` into the run's console log
    (lines redacted of secrets, see ``redact.py``; the output itself is unchanged).

    Checkpoints: ``checkpoint_dir`` (default ``<run dir>/checkpoints``),
    ``checkpoint_template`` (default ``checkpoint_step_{step:07d}{suffix}{ext}``),
    ``best`` (``"min:val_loss"``/``"max:acc"``: marks the best as they arrive),
    ``keep_last``/``keep_best`` (retention; older ones are deleted, never the best or
    the newest). See docs/checkpoints.md.
    """
    ck_options = CheckpointOptions.make(checkpoint_dir, checkpoint_template, best,
                                        keep_last, keep_best)
    env = os.environ
    policy = FailurePolicy(strict=_flag(env.get("TRAINDECK_STRICT")) if strict is None else strict)
    project = project or env.get("TRAINDECK_PROJECT") or "default"
    run_id = id or env.get("TRAINDECK_RUN_ID") or None
    prepared = id is None and run_id is not None
    root = Path(dir or env.get("TRAINDECK_DIR") or DEFAULT_DIR).expanduser()
    cfg = dict(config or {})
    if env.get("TRAINDECK_MODE", "").strip().lower() == "disabled":
        return _set_current(_disabled(project, name, cfg, policy, ck_options))
    mode = "allow" if resume is True or prepared else ("never" if resume in (None, False)
                                                       else resume)
    if mode not in RESUME_MODES:
        raise ValueError(f"resume must be one of {RESUME_MODES} or a bool, got {resume!r}")
    if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
        raise ValueError("heartbeat_timeout must be longer than heartbeat_interval (> 0)")
    owns_store = store is None
    try:
        url = url or env.get("TRAINDECK_URL") or None
        offline = env.get("TRAINDECK_MODE", "").strip().lower() == "offline"
        if store is None and (url or offline):
            from .sink import RemoteStore

            st = cast(Store, RemoteStore(root, url=None if offline else url,
                                         token=env.get("TRAINDECK_TOKEN") or None,
                                         policy=policy))
        else:
            st = store if store is not None else open_store(root)
    except Exception as exc:
        policy.report("opening the store", exc)
        return _set_current(_disabled(project, name, cfg, policy, ck_options))
    try:
        run = _start(st, root, project, name, cfg, list(tags or []), notes, run_id, mode,
                     policy, owns_store, heartbeat_interval, heartbeat_timeout,
                     system_interval, tick, command_interval, ck_options,
                     capture_console=capture_console,
                     redact_values=(env.get("TRAINDECK_TOKEN"),))
    except (ValueError, TypeError):
        if owns_store:
            st.close()
        raise
    except Exception as exc:
        if owns_store:
            st.close()
        policy.report("starting the run", exc)
        return _set_current(_disabled(project, name, cfg, policy, ck_options))
    _set_current(run)
    return run


def _start(st: Store, root: Path, project: str, name: str | None, config: dict[str, Any],
           tags: list[str], notes: str | None, run_id: str | None, mode: str,
           policy: FailurePolicy, owns_store: bool, heartbeat_interval: float,
           heartbeat_timeout: float, system_interval: float | None, tick: float,
           command_interval: float,
           ck_options: CheckpointOptions | None = None, *, capture_console: bool = False,
           redact_values: Sequence[str | None] = ()) -> Run:
    if not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be strings")
    existing = None
    if run_id is not None:
        try:
            existing = st.get_run(run_id)
        except NotFound:
            existing = None
    if mode == "must" and existing is None:
        raise ValueError(f"resume='must' but there is no run {run_id!r}")
    if existing is not None and mode == "never" and existing.status != "queued":
        raise ValueError(
            f"run {run_id!r} already exists ({existing.status}); pass resume='allow' to continue it"
        )
    info = collect()
    fields = {**info, "heartbeat_timeout": heartbeat_timeout}
    start_step = system_step = 0
    if existing is not None:
        merged = {**existing.config, **jsonable(config)}
        updates: dict[str, Any] = {**fields, "config": merged}
        if name:
            updates["name"] = name
        if tags:
            updates["tags"] = sorted(set(existing.tags) | set(tags))
        if notes is not None:
            updates["notes"] = notes
        st.update_run(existing.id, **updates)
        record = st.set_status(existing.id, "running")
        for s in st.metric_keys(existing.id):
            if s.last_step is None:
                continue
            if s.key.startswith("sys/"):
                system_step = max(system_step, s.last_step + 1)
            else:
                start_step = max(start_step, s.last_step + 1)
        resumed = True
    else:
        record = st.create_run(
            project=project, name=name, id=run_id, config=jsonable(config), tags=tags,
            notes=notes or "", **fields,
        )
        resumed = False
    run_dir = root / "runs" / record.id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        policy.report("creating the run folder", exc, raise_in_strict=False)
    run = Run(
        st, run_id=record.id, project=record.project, name=record.name, config=record.config,
        summary=record.summary, run_dir=run_dir, start_step=start_step, system_step=system_step,
        policy=policy, owns_store=owns_store, heartbeat_interval=heartbeat_interval,
        system_interval=system_interval, tick=tick, command_interval=command_interval,
        resumed=resumed, capture_console=capture_console,
        redact_values=[v for v in redact_values if v],
    )
    if ck_options is not None:
        run._checkpoints.options = ck_options
    run._install_exit_hooks()
    return run


def _disabled(project: str, name: str | None, config: dict[str, Any],
              policy: FailurePolicy, ck_options: CheckpointOptions | None = None) -> Run:
    run = Run(
        None, run_id="disabled", project=project, name=name or "disabled", config=config,
        summary={}, run_dir=None, start_step=0, system_step=0, policy=policy, owns_store=False,
        heartbeat_interval=1.0, system_interval=None, tick=1.0, command_interval=1.0,
        resumed=False,
    )
    if ck_options is not None:
        run._checkpoints.options = ck_options
    return run


def current_run() -> Run | None:
    """The run ``init()`` made last in this context, else in this process, if any."""
    return _current.get() or _ProcessCurrent.run


def _require() -> Run:
    run = current_run()
    if run is None:
        raise RuntimeError("no current run: call traindeck.init() first")
    return run


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """``log()`` on the current run."""
    _require().log(data, step=step)


def log_image(key: str, image: Any, step: int | None = None,
              caption: str | None = None) -> None:
    """``log_image()`` on the current run."""
    _require().log_image(key, image, step=step, caption=caption)


def finish(status: str = "completed") -> None:
    """``finish()`` the current run (no-op without one)."""
    run = current_run()
    if run is not None:
        run.finish(status)
        _clear_current(run)
