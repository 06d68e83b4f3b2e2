"""Importing an MLflow tracking store: each MLflow run becomes one traindeck run.

The store is read through MLflow's own client (``mlflow.MlflowClient(tracking_uri=URI)``,
imported only here, when an import starts), so every store the client reads works: a
tracking server (``http://…``), a local ``mlruns`` folder (MLflow's file store), a
database store (``sqlite://…``, with the full ``mlflow`` package, which brings SQLAlchemy).

How an MLflow run reads as a traindeck run (the same as traindeck's MLflow API reads its
runs back, ``traindeck.server.mlflow.mapping``, where the two can agree):

- experiment → project (its name; or one ``project`` for all); run → run, named after the
  run's name; deleted experiments and runs are skipped;
- params → config, at the top level: MLflow keeps every param as a string; one that reads
  back exactly as an int, a finite float or a bool (``"3"``, ``"0.001"``, ``"True"``) becomes
  one, anything else (``"1e-3"``, ``"007"``, ``"nan"``) stays a string;
- tags → ``config["mlflow.tags"]`` (all of them but ``mlflow.runName``, the name, and
  ``mlflow.note.content``, the run's notes); the user's tags (not ``mlflow.*``) are also the
  run's traindeck tags, ``key:value`` (``key`` when the value is empty); the MLflow status is
  ``config["mlflow.status"]``;
- status ``FINISHED``/``FAILED``/``KILLED`` → ``completed``/``failed``/``cancelled``; a run
  still ``RUNNING`` (or ``SCHEDULED``) is ``completed`` as of this import (an import is a
  snapshot; importing again once it ends sets its final status); ``start_time``/``end_time``
  (ms) → ``started_at``/``ended_at`` (s); ``mlflow.source.git.commit`` → ``git_commit``;
- metrics → series: every key's whole history (``get_metric_history``, which pages through
  a server's answers), a point's ``timestamp`` (ms) its wall time, its step its step, NaN and
  ±Inf kept.

The run's id comes from ``"mlflow:" + URI + ":" + run id`` (a local store's URI made
absolute; the import core's
:func:`~traindeck.importing.core.run_id_for`), and the cursor is, per metric key, ``[points,
last timestamp, its step]`` with a digest of the config: a run that has not changed is
"already imported" (nothing written), one that grew adds only the points after its last
(timestamp, step). Points logged out of time order (an explicit older timestamp) make that
key's whole history be written again, which is still exact: the store keeps one value per
(key, step), the last written.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from traindeck.store import Store
from traindeck.store.codec import dumps

from .core import CommitResult, Importer, Source

#: What to install for this importer.
MLFLOW_EXTRA: Final = "pip install 'traindeck[mlflow]'"
#: The config key holding a run's MLflow tags (as traindeck's MLflow API keeps them).
TAGS_KEY: Final = "mlflow.tags"
#: The config key holding a run's MLflow status.
STATUS_KEY: Final = "mlflow.status"
RUN_NAME_TAG: Final = "mlflow.runName"
NOTE_TAG: Final = "mlflow.note.content"
GIT_COMMIT_TAG: Final = "mlflow.source.git.commit"
#: MLflow's statuses that traindeck has; others (RUNNING, SCHEDULED) stay ``completed``.
STATUSES: Final[dict[str, str]] = {"FINISHED": "completed", "FAILED": "failed",
                                   "KILLED": "cancelled"}
#: SQLAlchemy database stores (``sqlite://``, ``postgresql+psycopg2://``, …).
DB_SCHEMES: Final = frozenset({"sqlite", "postgresql", "mysql", "mssql"})
#: Runs and experiments asked for at once.
PAGE: Final = 1000
#: Longest traindeck name, project and tag (the store's limits on a batch).
_MAX_NAME: Final = 200
_MAX_TAG: Final = 100
_MAX_TAGS: Final = 100


class MLflowUnavailable(RuntimeError):
    """The MLflow client is not installed, or the store cannot be read."""


def local_store(uri: str) -> Path | None:
    """The folder of a file store URI (``file:///…`` or a plain path); None otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        return Path(uri)
    return None


def _check_local(path: Path) -> None:
    """A file store must exist: MLflow's client would make an empty one at a typo."""
    try:
        found = path.is_dir() and any((p / "meta.yaml").is_file() for p in path.iterdir())
    except OSError:
        found = False
    if not found:
        raise MLflowUnavailable(f"no MLflow store at {path} (a folder of experiment "
                                "folders, each with a meta.yaml)")


def _check_database(uri: str, scheme: str) -> None:
    if importlib.util.find_spec("sqlalchemy") is None:
        raise MLflowUnavailable(
            f"reading a database store ({scheme}://…) needs MLflow's SQLAlchemy: "
            "pip install mlflow (mlflow-skinny lacks it), or serve the store with "
            f"`mlflow server --backend-store-uri {uri}` and import from its http:// address")
    if scheme == "sqlite":
        path = Path(uri.split(":///", 1)[-1]) if ":///" in uri else None
        if path is not None and not path.is_file():
            raise MLflowUnavailable(f"no MLflow database at {path}")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(slots=True, frozen=True)
class MLflowRun:
    """One MLflow run (``run``: the client's ``mlflow.entities.Run``) and its experiment."""

    experiment: str
    run: Any

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def name(self) -> str:
        info, tags = self.run.info, self.run.data.tags
        return str(getattr(info, "run_name", None) or tags.get(RUN_NAME_TAG) or self.run_id)

    @property
    def label(self) -> str:
        """How the CLI names it: experiment/name and the run id's start."""
        return f"{self.experiment}/{self.name} [{self.run_id[:8]}]"


class MLflowStore:
    """An MLflow tracking store, read through ``mlflow.MlflowClient``."""

    def __init__(self, uri: str) -> None:
        """Check ``uri`` and make its client (``MLflowUnavailable`` when it cannot be)."""
        try:
            self._mlflow: Any = importlib.import_module("mlflow")
        except ImportError as exc:
            raise MLflowUnavailable(
                f"importing from MLflow needs its client: {MLFLOW_EXTRA}") from exc
        self.uri = uri
        #: The store's identity in run ids: a local store's absolute file:// URI (so
        #: ``mlruns`` and ``file:///…/mlruns`` import into the same runs), else ``uri``.
        self.key = uri.rstrip("/")
        path = local_store(uri)
        scheme = urlparse(uri).scheme.split("+")[0].lower()
        if path is not None:
            _check_local(path)
            self.key = path.resolve().as_uri()
        elif scheme in DB_SCHEMES:
            _check_database(uri, scheme)
        with self._errors():
            self.client: Any = self._mlflow.MlflowClient(tracking_uri=uri)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """MLflow's errors (an unknown URI, a server that does not answer) as ours."""
        exceptions = importlib.import_module("mlflow.exceptions")
        try:
            yield
        except exceptions.MlflowException as exc:
            raise MLflowUnavailable(
                f"cannot read the MLflow store at {self.uri}: {_first_line(exc)}") from exc

    def _active(self) -> Any:
        return importlib.import_module("mlflow.entities").ViewType.ACTIVE_ONLY

    def experiments(self, names: Sequence[str] = ()) -> list[Any]:
        """The store's active experiments (those named, in that order, if any are)."""
        with self._errors():
            if names:
                found = {n: self.client.get_experiment_by_name(n) for n in names}
                absent = [n for n, e in found.items()
                          if e is None or e.lifecycle_stage != "active"]
                if absent:
                    raise MLflowUnavailable(
                        f"no MLflow experiment {', '.join(map(repr, absent))} at {self.uri}")
                return list(found.values())
            out: list[Any] = []
            token = None
            while True:
                page = self.client.search_experiments(view_type=self._active(),
                                                      max_results=PAGE, page_token=token)
                out += page
                token = page.token
                if not token:
                    return sorted(out, key=lambda e: str(e.name))

    def runs(self, experiment: Any) -> list[MLflowRun]:
        """An experiment's active runs, oldest first."""
        out: list[MLflowRun] = []
        token = None
        with self._errors():
            while True:
                page = self.client.search_runs(
                    [experiment.experiment_id], run_view_type=self._active(),
                    max_results=PAGE, order_by=["attribute.start_time ASC"], page_token=token)
                out += [MLflowRun(str(experiment.name), r) for r in page]
                token = page.token
                if not token:
                    return out

    def history(self, run_id: str, key: str) -> tuple[Any, Any, Any]:
        """A metric's whole history as steps, times (ms) and values, by (time, step)."""
        with self._errors():
            points = self.client.get_metric_history(run_id, key)
        steps = np.fromiter((m.step for m in points), dtype=np.int64, count=len(points))
        times = np.fromiter((m.timestamp for m in points), dtype=np.int64, count=len(points))
        values = np.fromiter((m.value for m in points), dtype=np.float64, count=len(points))
        order = np.lexsort((steps, times))
        return steps[order], times[order], values[order]


def param_value(text: str) -> Any:
    """A param (a string in MLflow) as the int, finite float or bool it reads back as."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if str(number) == text else text
    try:
        real = float(text)
    except ValueError:
        return text
    return real if np.isfinite(real) and repr(real) == text else text


def run_config(mrun: MLflowRun) -> dict[str, Any]:
    """The traindeck config of an MLflow run: its params, its tags and its status."""
    data = mrun.run.data
    config: dict[str, Any] = {k: param_value(v) for k, v in sorted(data.params.items())}
    config[TAGS_KEY] = {k: v for k, v in sorted(data.tags.items())
                        if k not in (RUN_NAME_TAG, NOTE_TAG)}
    config[STATUS_KEY] = str(mrun.run.info.status)
    return config


def user_tags(mrun: MLflowRun) -> list[str]:
    """The run's own tags (not ``mlflow.*``) as traindeck tags: ``key:value`` or ``key``."""
    out = [f"{k}:{v}" if v else k for k, v in sorted(mrun.run.data.tags.items())
           if not k.startswith("mlflow.")]
    return [t for t in out if len(t) <= _MAX_TAG]


@dataclass(slots=True, frozen=True)
class Outcome:
    """What importing one MLflow run did."""

    run: MLflowRun
    run_id: str
    result: CommitResult | None
    #: MLflow points read that the last import had not (0 when unchanged).
    new_points: int
    #: The traindeck status set by this import when it changed (e.g. the run ended since).
    status: str | None


def _new_rows(steps: Any, times: Any, old: Any) -> Any:
    """The rows of a history after the last import's ``[count, time, step]`` (all of them
    when it is not a plain continuation)."""
    if not (isinstance(old, list) and len(old) == 3):
        return slice(None)
    count, t, s = (int(x) for x in old)
    after = (times > t) | ((times == t) & (steps > s))
    return after if int(after.sum()) == len(steps) - count else slice(None)


def import_run(importer: Importer, store: MLflowStore, mrun: MLflowRun, *,
               project: str | None = None, tags: Sequence[str] = ()) -> Outcome:
    """Import one MLflow run: the points it gained since the last import, at once."""
    data = mrun.run.data
    config = run_config(mrun)
    run = importer.open(Source(
        key=f"mlflow:{store.key}:{mrun.run_id}",
        project=(project or mrun.experiment)[:_MAX_NAME], name=mrun.name[:_MAX_NAME],
        config=config, tags=list(dict.fromkeys([*tags, *user_tags(mrun)]))[:_MAX_TAGS],
        origin=store.uri))
    before: Mapping[str, Any] = run.cursor if isinstance(run.cursor, dict) else {}
    old_metrics: Mapping[str, Any] = before.get("metrics") or {}
    metrics: dict[str, list[int]] = {}
    new = 0
    for key in sorted(data.metrics):
        steps, times, values = store.history(mrun.run_id, key)
        if not len(steps):
            continue
        metrics[key] = [len(steps), int(times[-1]), int(steps[-1])]
        old = old_metrics.get(key)
        if old == metrics[key]:
            continue
        new += max(len(steps) - (int(old[0]) if isinstance(old, list) and old else 0), 0)
        rows = _new_rows(steps, times, old)
        run.add_points(key, steps[rows], times[rows] / 1000.0, values[rows])
    cursor = {"metrics": metrics, "config": hashlib.sha256(dumps(config)).hexdigest()[:32]}
    result = None
    if not run.exists or cursor != before:
        if run.exists and cursor["config"] != before.get("config"):
            run.set_config(config)
        result = run.commit(cursor)
    created = result is not None and result.created
    status = _reconcile(importer.store, run.run_id, mrun, created=created)
    return Outcome(mrun, run.run_id, result, new if result is not None else 0, status)


def _reconcile(store: Store, run_id: str, mrun: MLflowRun, *, created: bool) -> str | None:
    """Give the run its MLflow status and times (and, when new, notes and git commit),
    writing only what differs; the new status when it changed."""
    info, tags = mrun.run.info, mrun.run.data.tags
    current = store.get_run(run_id)
    status = STATUSES.get(str(info.status), current.status)
    want: dict[str, Any] = {}
    if info.start_time is not None:
        want["started_at"] = int(info.start_time) / 1000.0
    if info.end_time is not None:
        want["ended_at"] = int(info.end_time) / 1000.0
    if created:
        if tags.get(NOTE_TAG):
            want["notes"] = str(tags[NOTE_TAG])
        if tags.get(GIT_COMMIT_TAG):
            want["git_commit"] = str(tags[GIT_COMMIT_TAG])
    fields = {k: v for k, v in want.items() if getattr(current, k) != v}
    if status == current.status and not fields:
        return None
    store.set_status(run_id, status, **fields)
    return status if status != current.status else None


__all__ = ["MLFLOW_EXTRA", "MLflowRun", "MLflowStore", "MLflowUnavailable", "Outcome",
           "import_run", "local_store", "param_value", "run_config",
           "user_tags"]
