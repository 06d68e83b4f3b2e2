"""The run ``wandb.init()`` returns, over a traindeck ``Run``.

``log()`` follows wandb's step rules (``history.py``), then each committed row is split:
numbers (and numpy/torch scalars) go to ``Run.log`` at the row's step (or at the step
metric's value, ``metrics.py``); ``Image``/``Histogram``/``Table`` store themselves
(``data_types.py``); a list or array of numbers is a histogram, as in wandb; a nested dict
is flattened with ``/`` (``{"val": {"loss": 1}}`` → ``val/loss``); anything else (strings,
``None``) is skipped with one warning. Nothing here raises into the training loop.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np

from ..sdk.run import Run
from ..store.batch_schema import MAX_NAME, MAX_TAG, MAX_TAGS
from .data_types import Histogram, Pixels
from .history import History, StepBehind
from .mappings import Config, Summary
from .metrics import GOALS, Aggregates, MetricRule, Metrics, parse_summary
from .warn import OnceWarner, Unsupported

#: Run methods wandb has and traindeck does not: they warn once and do nothing.
UNSUPPORTED_METHODS: Final = frozenset({
    "log_code", "use_artifact", "link_artifact", "log_model", "use_model", "link_model",
    "mark_preempting", "restore", "upsert_artifact", "finish_artifact", "plot_table",
    "to_html", "display",
})
_MEDIA_KEY_MAX: Final = 128


def media_key(key: str) -> str:
    """A wandb key as a traindeck media key (no ``/``, ``..`` or leading ``.``)."""
    out = key.replace("/", ".").replace("\\", ".")
    while ".." in out:
        out = out.replace("..", ".")
    out = out.lstrip(".") or "media"
    return "".join(c if ord(c) >= 32 else "_" for c in out)[:_MEDIA_KEY_MAX]


def _number(value: Any) -> float | int | None:
    """A scalar as a number, or None when it is not one."""
    if value.__class__ in (int, float, bool):
        return value
    if isinstance(value, str | bytes) or value is None:
        return None
    if getattr(value, "ndim", 0) != 0:
        return None  # an array or tensor: a histogram
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def clean_tags(tags: Any) -> list[str]:
    """Tags as traindeck keeps them: strings of 1 to 100 characters, at most 100, in
    order, without repeats (wandb is laxer; a script must not fail on it)."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    out = [str(t).strip()[:MAX_TAG] for t in tags]
    return list(dict.fromkeys(t for t in out if t))[:MAX_TAGS]


def _flatten(row: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in row.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            yield from _flatten(v, key + "/")
        else:
            yield key, v


class _Commit:
    """One committed row on its way to the store (the ``Emitter`` of ``data_types``)."""

    def __init__(self, run: WandbRun, step: int) -> None:
        self.run = run
        self.step = step
        self.scalars: dict[str, float] = {}

    def image(self, key: str, image: Pixels | Path, caption: str | None) -> None:
        self.run._td.log_image(media_key(key), image, step=self.step, caption=caption)

    def table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.run._save_table(key, self.step, columns, rows)

    def skip(self, key: str, why: str) -> None:
        self.run._warn(f"skip:{key}", f"log(): {key!r} not stored: {why}")


class WandbRun:
    """What ``wandb.init()`` returns; ``wandb.run`` while it is the current run."""

    def __init__(self, td_run: Run, *, mode: str, url: str | None, group: str | None,
                 job_type: str | None, tags: list[str], notes: str | None,
                 on_end: Callable[[WandbRun], None] | None = None,
                 warner: OnceWarner | None = None) -> None:
        self._td = td_run
        self._mode = mode
        self._url = url
        self.group = group
        self.job_type = job_type
        self._tags = tuple(tags)
        self.notes = notes
        self._on_end = on_end
        self._warner = warner or OnceWarner()
        self._history = History(td_run.step)
        self._metrics = Metrics()
        self._agg = Aggregates()
        self.config = Config(td_run.config)
        self.summary = Summary(td_run.summary, self._agg.last)
        self._at_end: list[tuple[Path, str]] = []
        self._closed = False
        self._ended = False
        self.start_time = time.time()

    # -- identity ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._td.id

    @property
    def name(self) -> str:
        return self._td.name

    @name.setter
    def name(self, value: str) -> None:
        value = str(value)[:MAX_NAME] or self._td.id
        self._td.name = value
        self._write("renaming the run", {"name": value})

    @property
    def tags(self) -> tuple[str, ...]:
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        self._tags = tuple(clean_tags(value))
        self._write("setting the tags", {"tags": list(self._tags)})

    @property
    def project(self) -> str:
        return self._td.project

    def project_name(self) -> str:
        return self._td.project

    @property
    def entity(self) -> str:
        return ""

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def url(self) -> str | None:
        """The run in the dashboard (``<TRAINDECK_URL>/?run=<id>``); None without a server."""
        return f"{self._url.rstrip('/')}/?run={self.id}" if self._url else None

    def get_url(self) -> str | None:
        return self.url

    @property
    def dir(self) -> str:
        """The run's folder (``<traindeck dir>/runs/<id>``; the working folder when the
        run is disabled)."""
        return str(self._td.dir) if self._td.dir is not None else os.getcwd()

    @property
    def step(self) -> int:
        return self._history.step

    @property
    def resumed(self) -> bool:
        return self._td.is_resumed

    @property
    def offline(self) -> bool:
        return self._mode == "offline"

    @property
    def disabled(self) -> bool:
        return self._mode == "disabled"

    @property
    def sweep_id(self) -> None:
        return None

    @property
    def traindeck_run(self) -> Run:
        """The traindeck ``Run`` underneath (commands, checkpoints)."""
        return self._td

    # -- logging -------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None,
            commit: bool | None = None, sync: bool | None = None) -> None:
        """wandb's ``log``: see ``history.py`` for the step rules."""
        if self._closed:
            self._warn("log-after-finish", "log() after finish(): ignored")
            return
        if not isinstance(data, Mapping):
            self._warn("log-type", f"log() takes a dict, got {type(data).__name__}: ignored")
            return
        if step is not None:
            if isinstance(step, bool) or not hasattr(step, "__index__"):
                try:
                    if not float(step).is_integer():
                        raise ValueError
                    step = int(float(step))
                except (TypeError, ValueError):
                    self._warn("log-step", f"log(step={step!r}): not an integer; row dropped")
                    return
            step = int(step.__index__())
        try:
            rows = self._history.log({str(k): v for k, v in data.items()}, step,
                                     None if commit is None else bool(commit))
        except StepBehind as exc:
            self._warn("step-behind", f"log(): {exc}; that row is dropped (as in wandb)")
            return
        for at, row in rows:
            self._commit(at, row)

    def _commit(self, step: int, row: Mapping[str, Any]) -> None:
        out = _Commit(self, step)
        for key, value in _flatten(row):
            num = _number(value)
            if num is not None:
                out.scalars[key] = num
                continue
            emit = getattr(value, "_td_emit", None)
            if callable(emit):
                emit(out, key)
            elif isinstance(value, list | tuple) and value and all(
                    callable(getattr(v, "_td_emit", None)) for v in value):
                for item in value:
                    item._td_emit(out, key)
            elif isinstance(value, list | tuple | np.ndarray) or hasattr(value, "numel"):
                Histogram(value)._td_emit(out, key)
            else:
                out.skip(key, f"a {type(value).__name__} is not a number; traindeck "
                              "stores numbers, images, histograms and tables")
        if out.scalars:
            self._store_scalars(step, out.scalars)

    def _store_scalars(self, step: int, scalars: dict[str, float]) -> None:
        by_step: dict[int, dict[str, float]] = {step: {}}
        changed: dict[str, float] = {}
        for key, value in scalars.items():
            rule = self._metrics.rule(key)
            at = step
            if rule is not None and rule.step_metric:
                at = self._step_of(rule.step_metric, scalars, step)
            by_step.setdefault(at, {})[key] = value
            changed.update(self._agg.add(key, value, rule))
        for at, values in by_step.items():
            if values:
                self._td.log(values, step=at)
        if changed:
            self._td.summary.update(changed)

    def _step_of(self, metric: str, scalars: Mapping[str, float], default: int) -> int:
        value = scalars.get(metric, self._agg.last.get(metric))
        if value is None:
            return default
        try:
            f = float(value)
        except (TypeError, ValueError):
            return default
        if not math.isfinite(f) or not f.is_integer():
            self._warn(f"step-metric:{metric}",
                       f"step metric {metric!r} = {value!r} is not a whole number; its "
                       "metrics stay at the run's step")
            return default
        return int(f)

    def _save_table(self, key: str, step: int, columns: list[str],
                    rows: list[list[Any]]) -> None:
        if self._td.dir is None:
            return  # a disabled run stores nothing
        name = f"{media_key(key)}_{step}.csv"
        staging = self._td.dir / "wandb" / "tables"
        try:
            staging.mkdir(parents=True, exist_ok=True)
            path = staging / name
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                writer.writerows([[_cell(c) for c in r] for r in rows])
        except OSError as exc:
            self._warn(f"table:{key}", f"log(): table {key!r} not written: {exc}")
            return
        self._td.log_artifact(path, name=f"tables/{name}")

    # -- define_metric, alert, save, watch -----------------------------------------

    def define_metric(self, name: str, step_metric: str | None = None,
                      step_sync: bool | None = None, hidden: bool | None = None,
                      summary: str | None = None, goal: str | None = None,
                      overwrite: bool | None = None, **kwargs: Any) -> MetricRule:
        """wandb's ``define_metric``: see ``metrics.py`` for what traindeck keeps."""
        aggs, unknown = parse_summary(summary)
        if unknown:
            self._warn("define-summary", f"define_metric(summary={summary!r}): "
                                         f"{', '.join(unknown)} not supported; ignored")
        g = GOALS.get(str(goal).lower()) if goal is not None else None
        if goal is not None and g is None:
            self._warn("define-goal", f"define_metric(goal={goal!r}): not minimize or "
                                      "maximize; ignored")
        if kwargs:
            self._warn("define-kwargs", f"define_metric({', '.join(kwargs)}=…): ignored")
        rule = MetricRule(str(name), step_metric=step_metric, summary=aggs, goal=g,
                          hidden=bool(hidden))
        self._metrics.define(rule)
        return rule

    def alert(self, title: str, text: str, level: Any = None,
              wait_duration: Any = None) -> None:
        """An ``alert`` event on the run (shown in the dashboard's event list)."""
        payload = {"title": str(title), "text": str(text),
                   "level": str(getattr(level, "value", level or "INFO"))}
        self._td.event("alert", payload)

    def save(self, glob_str: str | os.PathLike[str] | None = None,
             base_path: str | os.PathLike[str] | None = None, policy: str = "live"
             ) -> list[str]:
        """Keep the files matching ``glob_str`` as artifacts (named by their path below
        ``base_path``, else by their file name); ``policy="end"`` copies them at
        ``finish()``, ``"live"``/``"now"`` at once."""
        if glob_str is None:
            return []
        pattern = os.fspath(glob_str)
        files = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))
                 if Path(p).is_file()]
        if not files:
            self._warn(f"save:{pattern}", f"save({pattern!r}): no such file; nothing saved")
        stored = []
        for f in files:
            try:
                name = (f.resolve().relative_to(Path(base_path).resolve()).as_posix()
                        if base_path is not None else f.name)
            except ValueError:
                name = f.name
            if policy == "end":
                self._at_end.append((f, name))
                stored.append(f"artifacts/{name}")
            elif (path := self._td.log_artifact(f, name=name)) is not None:
                stored.append(path)
        return stored

    def log_artifact(self, artifact_or_path: Any, name: str | None = None,
                     type: str | None = None, aliases: Any = None, **kwargs: Any) -> Any:
        """A file or folder path is kept as an artifact; a ``wandb.Artifact`` is not
        supported (warns once)."""
        if isinstance(artifact_or_path, str | os.PathLike):
            return self._td.log_artifact(artifact_or_path, name=name)
        self._warn("artifact-object", "log_artifact() of a wandb.Artifact is not supported; "
                                      "pass a path")
        return None

    def watch(self, models: Any = None, criterion: Any = None, log: str | None = "gradients",
              log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
        """A no-op: traindeck does not record gradients or parameters (warns once)."""
        self._warn("watch", "watch() is a no-op in traindeck (no gradients or parameters "
                            "are recorded); log what you need with log()")

    def unwatch(self, models: Any = None) -> None:
        """A no-op, like ``watch``."""

    # -- the end -------------------------------------------------------------------

    def close_out(self) -> None:
        """Commit the pending row, write the summary's last values and the files saved
        with ``policy="end"``; the traindeck run is still open. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for at, row in self._history.flush():
            self._commit(at, row)
        final = self._agg.final(self._metrics, self.summary.explicit)
        if final:
            self._td.summary.update(final)
        for path, name in self._at_end:
            if path.is_file():
                self._td.log_artifact(path, name=name)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: ``completed`` (exit code 0 or None), else ``failed``."""
        self.close_out()
        self._td.finish("completed" if not exit_code else "failed")
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end(self)

    def __enter__(self) -> WandbRun:
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close_out()
        self._td.__exit__(tp, exc, tb)
        self._end()

    # -- the rest ------------------------------------------------------------------

    def _write(self, what: str, fields: dict[str, Any]) -> None:
        self._td.update(name=fields.get("name"), tags=fields.get("tags"),
                        notes=fields.get("notes"))

    def _warn(self, key: str, message: str) -> None:
        self._warner.warn(key, message)

    def __getattr__(self, name: str) -> Any:
        if name in UNSUPPORTED_METHODS:
            return Unsupported(f"run.{name}", self._warner)
        raise AttributeError(f"'Run' has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<traindeck.wandb Run {self.id} {self.project}/{self.name}>"


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, np.generic):
        return value.item()
    caption = getattr(value, "caption", None)
    return caption if isinstance(caption, str) else type(value).__name__
