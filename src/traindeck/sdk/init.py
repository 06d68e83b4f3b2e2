"""``traindeck.init()`` and the module-level shortcuts over the current run.

Environment variables are read here, at the edge, and nowhere else in the SDK:

``TRAINDECK_DIR``      the traindeck folder (``./traindeck``): the store ``traindeck.db`` and
                       ``runs/<id>/`` for files.
``TRAINDECK_STORE``    a shared store's URL (``postgresql://…``) written to directly instead
                       of the folder's ``traindeck.db``; the folder then holds only files.
``TRAINDECK_PROJECT``  default project name.
``TRAINDECK_RUN_ID``   attach to this run id (set by the launcher for a prepared run).
``TRAINDECK_MODE``     ``disabled`` makes every call a no-op; ``offline`` records into the run's
                       spool only (upload later with ``traindeck sync``).
``TRAINDECK_URL``      send to this server instead of the local store (``url=``).
``TRAINDECK_TOKEN``    bearer token for that server.
``TRAINDECK_STRICT``   ``1`` raises internal failures instead of reporting them once.
``TRAINDECK_CONFIG``   a JSON or YAML file whose mapping is the run's config (set by the
                       launcher); ``config=`` given too wins key by key.
``TRAINDECK_CONSOLE_CAPTURED``  ``1``: the launcher already stores this process's output,
                       so ``init`` does not tee it as well.
``TRAINDECK_RANK0_RUN_ID``  ``<pid>:<run id>``, written (not read) by rank 0's ``init``
                       for the ranks it starts itself; read by them (``ranks.py``).

A distributed job's ranks (``RANK``/``WORLD_SIZE``, ``SLURM_PROCID``/``SLURM_NTASKS``,
``LOCAL_RANK``, ``TORCHELASTIC_RUN_ID``, ``SLURM_JOB_ID``) are read here too and resolved
by ``ranks.py``: rank 0 starts the run, the others attach to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from ..runfiles import RunFiles
from ..store import NotFound, Store, open_store
from ..store import Run as RunRecord
from ..store.batch_schema import EDITABLE
from ..store.codec import jsonable
from ..store.ids import new_id
from .backend import Backend, Locator
from .checkpoint_options import CheckpointOptions
from .courier import Couriers
from .embedded import EmbeddedLocator
from .meta import collect
from .policy import FailurePolicy
from .rank_backend import RankBackend
from .ranks import (
    RANK0_RUN_ID,
    Ranks,
    exported_run_id,
    resolve_ranks,
    shared_run_id,
    wait_for_leader,
)
from .remote import RemoteLocator, command_wait_from
from .run import Run
from .values import check_total

DEFAULT_DIR: Final = "traindeck"
RESUME_MODES: Final = ("allow", "must", "never")

_current: ContextVar[Run | None] = ContextVar("traindeck_run", default=None)


class _ProcessCurrent:
    """The run ``init()`` made last in this process, for threads that have not seen it
    in their own context (a data-loader thread calling ``td.log``)."""

    run: Run | None = None


class _ProcessSenders:
    """The senders of this process's remote runs, one a server (``courier.py``): a
    process with several runs sends them in one request a tick."""

    couriers = Couriers()


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


def _disabled_by(env: Mapping[str, str]) -> bool:
    return env.get("TRAINDECK_MODE", "").strip().lower() == "disabled"


def open_locator(env: Mapping[str, str], *, dir: str | os.PathLike[str] | None,
                 store: Store | None, url: str | None, policy: FailurePolicy,
                 heartbeat_timeout: float | None = None) -> Locator:
    """Where runs live, from ``init()``'s arguments and the environment: a server
    (``url``/``TRAINDECK_URL``, or offline), else the store (given, or the one in the
    traindeck folder)."""
    root = Path(dir or env.get("TRAINDECK_DIR") or DEFAULT_DIR).expanduser()
    files = RunFiles(root)
    url = url or env.get("TRAINDECK_URL") or None
    offline = env.get("TRAINDECK_MODE", "").strip().lower() == "offline"
    if store is None and (url or offline):
        return RemoteLocator(files, url=None if offline else url,
                             token=env.get("TRAINDECK_TOKEN") or None, policy=policy,
                             heartbeat_timeout=heartbeat_timeout,
                             couriers=_ProcessSenders.couriers,
                             command_wait=command_wait_from(env.get("TRAINDECK_COMMAND_WAIT")))
    if store is not None:
        return EmbeddedLocator(store, files, owns_store=False)
    store_url = env.get("TRAINDECK_STORE") or None  # a shared store; the folder holds files
    opened = open_store(store_url, files_root=root) if store_url else open_store(root)
    return EmbeddedLocator(opened, files, owns_store=True)


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
    rank: int | None = None,
    log_all_ranks: bool = False,
    total_steps: int | None = None,
) -> Run:
    """Start (or resume) a run and make it the current one.

    ``resume``: ``None``/``"never"`` — a new run (an existing ``id`` is an error unless the
    run was prepared by the launcher); ``True``/``"allow"`` — continue run ``id`` if it
    exists, else create it; ``"must"`` — continue run ``id``, which must exist. A resumed
    run continues its steps after the last one stored.

    ``dir`` (or ``TRAINDECK_DIR``, default ``./traindeck``): the traindeck folder, with the
    store ``traindeck.db`` and the run folders ``runs/<id>/``.
    ``system_interval`` is the seconds between system-load samples (``None`` disables).
    ``store`` lets tests and embedding applications pass an open store.
    ``url`` (or ``TRAINDECK_URL``): a traindeck server to send to over HTTP; every batch is
    spooled to ``<dir>/runs/<id>/spool/`` first, so nothing is lost while it is away.

    ``total_steps``: the steps the run will take (the last step it logs, counted from 0 or
    1): the server shows its progress and an ETA from its speed (``run.set_total`` changes
    it later). Without it, a run the launcher prepared keeps the total its template's
    config gives, if any.

    ``capture_console``: tee ``sys.stdout``/``sys.stderr`` into the run's console log
    (lines redacted of secrets, see ``redact.py``; the output itself is unchanged).

    Checkpoints: ``checkpoint_dir`` (default ``<run dir>/checkpoints``),
    ``checkpoint_template`` (default ``checkpoint_step_{step:07d}{suffix}{ext}``),
    ``best`` (``"min:val_loss"``/``"max:acc"``: marks the best as they arrive),
    ``keep_last``/``keep_best`` (retention; older ones are deleted, never the best or
    the newest). See docs/checkpoints.md.

    Distributed jobs (``ranks.py``; docs/sdk.md, "Distributed training"): every rank calls
    ``init()``; ``rank`` overrides the rank the environment gives (``RANK``,
    ``SLURM_PROCID``, ``LOCAL_RANK``). Rank 0 starts the run; the others attach to it and
    record their system load; their ``log()`` keeps nothing unless ``log_all_ranks``
    (then under ``rank{r}/``).
    """
    ck_options = CheckpointOptions.make(checkpoint_dir, checkpoint_template, best,
                                        keep_last, keep_best)
    total_steps = check_total(total_steps)
    env = os.environ
    if env.get("TRAINDECK_RESUME_CHECKPOINT"):
        ck_options = replace(ck_options, resume_from=env["TRAINDECK_RESUME_CHECKPOINT"])
    policy = FailurePolicy(strict=_flag(env.get("TRAINDECK_STRICT")) if strict is None else strict)
    project = project or env.get("TRAINDECK_PROJECT") or "default"
    ranks = resolve_ranks(env, rank)
    run_id = (id or env.get("TRAINDECK_RUN_ID")
              or shared_run_id(env, project, ranks, parent_pid=os.getppid()) or None)
    prepared = id is None and run_id is not None
    cfg = {**_config_file(env.get("TRAINDECK_CONFIG")), **(config or {})}
    if _flag(env.get("TRAINDECK_CONSOLE_CAPTURED")):
        capture_console = False
    if _disabled_by(env):
        return _set_current(_disabled(project, name, cfg, policy, ck_options, ranks))
    mode = "allow" if resume is True or prepared else ("never" if resume in (None, False)
                                                       else resume)
    if mode not in RESUME_MODES:
        raise ValueError(f"resume must be one of {RESUME_MODES} or a bool, got {resume!r}")
    if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
        raise ValueError("heartbeat_timeout must be longer than heartbeat_interval (> 0)")
    if not ranks.leader and (run_id is None or env.get("TRAINDECK_MODE", "").strip().lower()
                             == "offline"):
        if run_id is None:
            policy.report(f"rank {ranks.rank} joining the run", RuntimeError(
                "no run id shared with rank 0: set TRAINDECK_RUN_ID (or init(id=...)) on "
                "every rank, or start the job with torchrun --standalone/--rdzv-id or srun; "
                "this rank records nothing"))
        # Offline, a rank above 0 cannot see rank 0's run: only rank 0 records.
        return _set_current(_disabled(project, name, cfg, policy, ck_options, ranks))
    try:
        locator = open_locator(env, dir=dir, store=store, url=url, policy=policy,
                               heartbeat_timeout=heartbeat_timeout)
    except Exception as exc:
        policy.report("opening the store", exc)
        return _set_current(_disabled(project, name, cfg, policy, ck_options, ranks))
    try:
        backend = locator.backend(run_id or new_id(), rank=ranks.rank)
        if ranks.distributed:
            backend = RankBackend(backend, ranks)
    except Exception as exc:
        locator.close()
        policy.report("opening the run", exc)
        return _set_current(_disabled(project, name, cfg, policy, ck_options, ranks))
    secrets = [v for v in (env.get("TRAINDECK_TOKEN"),) if v]
    try:
        if ranks.leader:
            record, resumed, start_step, system_step = _start(
                backend, project, name, cfg, list(tags or []), notes,
                mode if run_id is not None else "new", heartbeat_timeout, policy, secrets,
                total_steps)
        else:
            record, resumed, start_step, system_step = _join(backend, ranks)
        try:
            locator.files.run_dir(record.id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            policy.report("creating the run folder", exc, raise_in_strict=False)
        run = Run(
            backend, files=locator.files, run_id=record.id, project=record.project,
            name=record.name, config=record.config, summary=record.summary,
            start_step=start_step, system_step=system_step, policy=policy,
            total_steps=record.total_steps,
            heartbeat_interval=heartbeat_interval, system_interval=system_interval,
            tick=tick, command_interval=command_interval, resumed=resumed,
            capture_console=capture_console,
            redact_values=secrets,
            checkpoint_options=ck_options, ranks=ranks, log_all_ranks=log_all_ranks,
        )
    except (ValueError, TypeError):
        backend.close()
        raise
    except Exception as exc:
        backend.close()
        policy.report("starting the run", exc)
        return _set_current(_disabled(project, name, cfg, policy, ck_options, ranks))
    run._install_exit_hooks()
    if ranks.leader:
        # For the ranks this process starts itself (Lightning's DDP launcher re-runs the
        # script with LOCAL_RANK set): they find this run through it.
        os.environ[RANK0_RUN_ID] = exported_run_id(run.id, os.getpid())
    return _set_current(run)


def _join(backend: Backend, ranks: Ranks) -> tuple[RunRecord, bool, int, int]:
    """A rank above 0 attaches to the run once rank 0 has started it: ``(record,
    resumed, next step, next system step)``; ``resumed`` when it already had steps."""
    record = wait_for_leader(backend.read_run)
    if record is None:
        raise RuntimeError(f"rank 0 did not start run {backend.run_id!r} in time; "
                           f"rank {ranks.rank} records nothing")
    backend.start_following()
    progress = backend.progress()
    return record, progress.step > 0, progress.step, progress.system_step


def _config_file(path: str | None) -> dict[str, Any]:
    """The mapping in the config file ``TRAINDECK_CONFIG`` names (JSON or YAML)."""
    if not path:
        return {}
    import yaml  # JSON is YAML too

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"TRAINDECK_CONFIG={path}: cannot read it: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"TRAINDECK_CONFIG={path}: holds no mapping")
    return data


def _start(backend: Backend, project: str, name: str | None, config: dict[str, Any],
           tags: list[str], notes: str | None, mode: str, heartbeat_timeout: float,
           policy: FailurePolicy, secrets: Sequence[str] = (), total_steps: int | None = None,
           ) -> tuple[RunRecord, bool, int, int]:
    """Create or resume the run: ``(record, resumed, next step, next system step)``."""
    if not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be strings")
    # The limits a server applies (the batch route and PATCH share them): refused here, at
    # once, rather than set aside by a server later.
    for field, value in (("name", name), ("tags", tags), ("notes", notes)):
        spec = EDITABLE[field]
        if value is not None and not spec.check(value):
            raise ValueError(f"{field} must be {spec.what}")
    existing = None
    if mode != "new":
        try:
            existing = backend.read_run()
        except NotFound:
            existing = None
        except Exception as exc:
            if mode == "must":
                raise
            policy.report("asking where the run lives whether it exists", exc,
                          raise_in_strict=False)
    run_id = backend.run_id
    if mode == "must" and existing is None:
        raise ValueError(f"resume='must' but there is no run {run_id!r}")
    if existing is not None and mode == "never" and existing.status != "queued":
        raise ValueError(
            f"run {run_id!r} already exists ({existing.status}); pass resume='allow' to continue it"
        )
    fields = {**collect(redact_values=secrets), "heartbeat_timeout": heartbeat_timeout}
    if total_steps is not None:
        fields["total_steps"] = total_steps
    if existing is None:
        record = backend.create_run({
            "project": project, "name": name, "config": jsonable(config), "tags": tags,
            "notes": notes or "", **fields})
        return record, False, 0, 0
    updates: dict[str, Any] = {**fields, "config": {**existing.config, **jsonable(config)}}
    if name:
        updates["name"] = name
    if tags:
        updates["tags"] = sorted(set(existing.tags) | set(tags))
    if notes is not None:
        updates["notes"] = notes
    backend.update_run(updates)
    backend.set_status("running")
    for k, v in updates.items():
        if k in RunRecord.__dataclass_fields__:
            setattr(existing, k, v)
    progress = backend.progress()
    return existing, True, progress.step, progress.system_step


def resume_or_create(
    name: str,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    project: str | None = None,
    **init_kwargs: Any,
) -> Run:
    """Continue the newest run called ``name`` in ``project``, or start it.

    Where runs live decides: the store, or the server (``url``/``TRAINDECK_URL``), which
    is asked. The run's ``is_resumed`` says which; ``run.last_checkpoint()`` gives the
    newest valid checkpoint to load. Metrics continue at their steps (re-logged steps
    replace, never duplicate)."""
    for bad in ("id", "resume", "name", "project"):
        if bad in init_kwargs:
            raise TypeError(f"resume_or_create() chooses {bad!r} itself")
    env = os.environ
    project = project or env.get("TRAINDECK_PROJECT") or "default"
    found = None
    if not _disabled_by(env):
        strict = init_kwargs.get("strict")
        policy = FailurePolicy(strict=_flag(env.get("TRAINDECK_STRICT")) if strict is None
                               else bool(strict))
        try:
            locator = open_locator(env, dir=init_kwargs.get("dir"),
                                   store=init_kwargs.get("store"), url=init_kwargs.get("url"),
                                   policy=policy)
            try:
                found = locator.find_run(project, name)
            finally:
                locator.close()
        except Exception as exc:
            # init() reports a store it cannot open; a server that cannot answer is said
            # here, since a new run is started in its place.
            policy.report("looking for the run to resume", exc, raise_in_strict=False)
            found = None
    if found is not None:
        return init(project=project, name=name, id=found, resume="allow",
                    checkpoint_dir=checkpoint_dir, **init_kwargs)
    return init(project=project, name=name, checkpoint_dir=checkpoint_dir, **init_kwargs)


def _disabled(project: str, name: str | None, config: dict[str, Any],
              policy: FailurePolicy, ck_options: CheckpointOptions | None = None,
              ranks: Ranks | None = None) -> Run:
    return Run(
        None, files=None, run_id="disabled", project=project, name=name or "disabled",
        config=config, summary={}, start_step=0, system_step=0, policy=policy,
        heartbeat_interval=1.0, system_interval=None, tick=1.0, command_interval=1.0,
        resumed=False, checkpoint_options=ck_options, ranks=ranks,
    )


def current_run() -> Run | None:
    """The run ``init()`` made last in this context, else in this process, if any."""
    return _current.get() or _ProcessCurrent.run


def _require() -> Run:
    run = current_run()
    if run is None:
        raise RuntimeError("no current run: call traindeck.init() first")
    return run


def log(data: Mapping[str, Any], step: int | None = None, time: float | None = None) -> None:
    """``log()`` on the current run."""
    _require().log(data, step=step, time=time)


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
