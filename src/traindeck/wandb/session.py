"""``wandb.init()`` onto ``traindeck.init()``, and the process's current wandb run.

What each argument becomes (docs/integrations.md, "wandb drop-in"):

``project``, ``name``, ``config``, ``tags``, ``notes``, ``id``  the same in traindeck (a
    name over 200 characters is cut, tags are made strings of at most 100 characters; a
    config may be a dict, an ``argparse.Namespace``, an object's attributes or the path of
    a YAML file; ``config_include_keys``/``config_exclude_keys`` filter it).
``resume``  ``True``/``"allow"``/``"auto"`` → ``"allow"``, ``"must"`` → ``"must"``,
    ``False``/``"never"``/None → a new run.
``mode``    ``"disabled"`` → a run whose calls do nothing (``TRAINDECK_MODE=disabled``),
    ``"offline"``/``"dryrun"`` → the run is spooled for ``traindeck sync``
    (``TRAINDECK_MODE=offline``), ``"online"`` → where ``TRAINDECK_DIR``/``TRAINDECK_URL``
    say. The strongest of ``mode``, ``settings.mode``, ``WANDB_MODE`` and
    ``TRAINDECK_MODE`` wins (disabled over offline over online).
``dir``     the traindeck folder is ``<dir>/traindeck`` (as wandb's is ``<dir>/wandb``),
    unless ``TRAINDECK_DIR`` is set, which wins: whoever set it wants the run there.
``group``, ``job_type``  kept as the tags ``group:<g>`` and ``job_type:<j>`` (and as
    ``run.group``/``run.job_type``).
``reinit``  a run still open is returned again, unless ``reinit`` is True or
    ``"finish_previous"`` (it is finished first) or ``"create_new"`` (both stay open).
``entity``, ``settings``, ``save_code``, ``anonymous``, ``allow_val_change``  accepted.
Anything else warns once and is ignored.

``WANDB_PROJECT``, ``WANDB_NAME``, ``WANDB_RUN_ID``, ``WANDB_NOTES``, ``WANDB_TAGS``
(comma-separated), ``WANDB_RUN_GROUP``, ``WANDB_JOB_TYPE``, ``WANDB_RESUME``, ``WANDB_DIR``,
``WANDB_MODE`` and ``WANDB_DISABLED`` stand in for missing arguments, as in wandb; they are
read here, in ``init()``, and nowhere else.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from ..sdk import init as td_init
from ..store.batch_schema import MAX_NAME, MAX_NOTES
from .mappings import as_mapping
from .wandb_run import WandbRun, clean_tags
from .warn import OnceWarner

_MODES: Final = {"online": "online", "run": "online", "shared": "online", "": "online",
                 "offline": "offline", "dryrun": "offline", "disabled": "disabled"}
_STRENGTH: Final = {"online": 0, "offline": 1, "disabled": 2}
_ACCEPTED: Final = frozenset({"entity", "save_code", "anonymous", "allow_val_change",
                              "magic", "force", "sync_tensorboard", "monitor_gym",
                              "tensorboard", "settings"})


class Settings:
    """``wandb.Settings(...)``: accepted; only ``mode`` is used."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


class Process:
    """The process's wandb state: the current run (``wandb.run``) and the warnings for
    calls made without one. Class attributes: one per process, made on first use."""

    run: WandbRun | None = None
    warner: OnceWarner | None = None

    @classmethod
    def warnings(cls) -> OnceWarner:
        if cls.warner is None:
            cls.warner = OnceWarner()
        return cls.warner

    @classmethod
    def warn(cls, key: str, message: str) -> None:
        cls.warnings().warn(key, message)


def _mode(candidates: list[Any], warner: OnceWarner) -> str:
    mode = "online"
    for c in candidates:
        if c is None:
            continue
        m = _MODES.get(str(c).strip().lower())
        if m is None:
            warner.warn("mode", f"init(mode={c!r}): not online, offline or disabled; ignored")
            continue
        if _STRENGTH[m] > _STRENGTH[mode]:
            mode = m
    return mode


@contextlib.contextmanager
def _traindeck_mode(mode: str) -> Iterator[None]:
    """``TRAINDECK_MODE`` set to ``mode`` while ``traindeck.init()`` reads it (it reads
    its mode only there), then as it was."""
    old = os.environ.get("TRAINDECK_MODE")
    if mode == "online" or old == mode:
        yield
        return
    os.environ["TRAINDECK_MODE"] = mode
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRAINDECK_MODE", None)
        else:
            os.environ["TRAINDECK_MODE"] = old


def _config(config: Any, include: Any, exclude: Any, warner: OnceWarner) -> dict[str, Any]:
    data = as_mapping(config)
    if data is None and isinstance(config, str | os.PathLike):
        import yaml

        try:
            loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
            data = {str(k): v for k, v in loaded.items()} if isinstance(loaded, dict) else None
        except (OSError, yaml.YAMLError):
            data = None
    if data is None:
        warner.warn("config", f"init(config=<{type(config).__name__}>): not a dict, a "
                              "Namespace or a YAML file; the run starts with no config")
        return {}
    if include:
        data = {k: v for k, v in data.items() if k in set(include)}
    if exclude:
        data = {k: v for k, v in data.items() if k not in set(exclude)}
    return data


def _resume(resume: Any, warner: OnceWarner) -> str | None:
    if resume is True or resume in ("allow", "auto", "true"):
        return "allow"
    if resume == "must":
        return "must"
    if resume in (None, False, "never", "false", ""):
        return None
    warner.warn("resume", f"init(resume={resume!r}): not allow, must, never or auto; "
                          "a new run is started")
    return None


def init(project: str | None = None, entity: str | None = None, config: Any = None,
         name: str | None = None, tags: Any = None, notes: str | None = None,
         group: str | None = None, job_type: str | None = None, id: str | None = None,
         resume: Any = None, mode: str | None = None, dir: str | os.PathLike[str] | None = None,
         reinit: Any = None, config_exclude_keys: Any = None,
         config_include_keys: Any = None, **kwargs: Any) -> WandbRun:
    """Start a run as ``wandb.init`` does, on traindeck; it becomes ``wandb.run``.

    Wrong values of supported arguments raise as traindeck's ``init`` does (an ``id`` of
    a run that exists without ``resume``, ``resume="must"`` and no such run); everything
    the drop-in does not support warns once and is ignored."""
    env = os.environ
    warner = OnceWarner()
    current = Process.run
    if current is not None:
        if reinit in (True, "finish_previous"):
            current.finish()
        elif reinit != "create_new":
            return current
    for key in kwargs:
        if key not in _ACCEPTED:
            warner.warn(f"init:{key}", f"init({key}=…) is not supported by traindeck; ignored")
    settings = kwargs.get("settings")
    td_mode = _mode([mode, getattr(settings, "mode", None), env.get("WANDB_MODE"),
                     "disabled" if env.get("WANDB_DISABLED", "").lower() in ("1", "true")
                     else None, env.get("TRAINDECK_MODE") or None], warner)
    group = group or env.get("WANDB_RUN_GROUP") or None
    job_type = job_type or env.get("WANDB_JOB_TYPE") or None
    all_tags = clean_tags([*clean_tags(tags if tags is not None
                                       else (env.get("WANDB_TAGS") or "").split(",")),
                           *([f"group:{group}"] if group else []),
                           *([f"job_type:{job_type}"] if job_type else [])])
    name = name or env.get("WANDB_NAME") or None
    notes = notes or env.get("WANDB_NOTES") or None
    wandb_dir = dir or env.get("WANDB_DIR") or None
    with _traindeck_mode(td_mode):
        td_run = td_init(
            project=project or env.get("WANDB_PROJECT") or None,
            name=str(name)[:MAX_NAME] if name else None,
            config=_config(config, config_include_keys, config_exclude_keys, warner),
            tags=all_tags,
            dir=(Path(wandb_dir) / "traindeck"
                 if wandb_dir and not env.get("TRAINDECK_DIR") else None),
            id=id or env.get("WANDB_RUN_ID") or None,
            resume=_resume(resume if resume is not None else env.get("WANDB_RESUME"), warner),
            notes=str(notes)[:MAX_NOTES] if notes else None,
        )
    run = WandbRun(td_run, mode=td_mode,
                   url=env.get("TRAINDECK_URL") if td_mode == "online" else None,
                   group=group, job_type=job_type, tags=all_tags, notes=notes,
                   on_end=_forget, warner=warner)
    # Runs before traindeck's own exit hook (registered earlier): the last row and the
    # summary reach the run before it ends, also for a script that never calls finish().
    atexit.register(run.close_out)
    Process.run = run
    return run


def _forget(run: WandbRun) -> None:
    atexit.unregister(run.close_out)
    if Process.run is run:
        Process.run = None


def current() -> WandbRun | None:
    """``wandb.run``: the current run, or None."""
    return Process.run
