"""MLflow's run calls over the store: create, read, update, delete, log, search.

Each call takes the request's fields and answers MLflow's response message as a dict;
errors leave as :class:`~.errors.MlflowError`. Writes go through the store's write calls
(``create_run``, ``update_run``, ``set_status``, ``write_metrics``), so the change feed
(and so the dashboard, live) sees them like any SDK write. A call that reads a run's
config to change it (params, tags) holds ``lock``, so that two such calls on one server
cannot lose each other's keys.

An MLflow run has no heartbeat: it is created with none, so the reaper never marks it
``interrupted`` while a script runs a long epoch without logging.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np

from traindeck.runfiles import RunFiles
from traindeck.store import LIVE_STATUSES, NotFound, Run, Store
from traindeck.store.batch_schema import MAX_NAME

from . import mapping as m
from .errors import MlflowError, invalid
from .search import check_keys, order, parse_filter, parse_order, select
from .wire import (
    MAX_KEY,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VALUE,
    Fields,
    key_value,
)

#: search_runs: default and largest page; metric history: default and largest page.
SEARCH_DEFAULT: Final = 1000
SEARCH_MAX: Final = 50_000
HISTORY_DEFAULT: Final = 25_000
HISTORY_MAX: Final = 100_000
#: Runs read from the store at once while searching.
_READ_PAGE: Final = 10_000
#: Run attributes MLflow's search knows (``created`` is ``start_time``).
_ATTRIBUTES: Final = frozenset({
    "run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage",
    "start_time", "end_time", "created", "experiment_id",
})


class Runs:
    def __init__(self, store: Store, files: RunFiles, lock: threading.Lock) -> None:
        self.store = store
        self.files = files
        self.lock = lock

    # -- reading -------------------------------------------------------------------------

    def _run(self, run_id: str) -> Run:
        try:
            return self.store.get_run(run_id)
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Run with id={run_id!r:.80} not found") from None

    def _experiment_id(self, run: Run) -> int:
        try:
            return self.store.find_project(run.project).id
        except NotFound:  # a run made before its project was numbered, then moved
            return self.store.create_project(run.project).id

    def out(self, run: Run) -> dict[str, Any]:
        return m.run_out(run, self._experiment_id(run), self.store.latest(run.id))

    def get(self, f: Fields) -> dict[str, Any]:
        return {"run": self.out(self._run(f.run_id()))}

    # -- lifecycle -----------------------------------------------------------------------

    def create(self, f: Fields) -> dict[str, Any]:
        raw = f.string("experiment_id") or "0"
        try:
            project = self.store.get_project(m.experiment_id(raw))
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"No Experiment with id={raw!r:.40} exists") from None
        tags = _tags(f.messages("tags"))
        user = f.string("user_id")
        if user and m.USER_TAG not in tags:
            tags[m.USER_TAG] = user
        name = f.string("run_name", max_len=MAX_NAME) or tags.get(m.RUN_NAME_TAG) or None
        start = f.int64("start_time")
        fields = m.tag_fields(tags, {})
        fields.pop("name", None)
        if start is not None:
            fields["started_at"] = m.seconds(start)
        run = self.store.create_run(project=project.name, name=name and m.check_run_name(name),
                                    status="running", heartbeat_at=None, **fields)
        return {"run": m.run_out(run, project.id, {})}

    def update(self, f: Fields) -> dict[str, Any]:
        run_id = f.run_id()
        raw_status = f.raw.get("status")
        end = f.int64("end_time")
        name = f.string("run_name", max_len=MAX_NAME)
        with self.lock:
            run = self._run(run_id)
            if name:
                run = self.store.update_run(run_id, name=m.check_run_name(name))
            ended: dict[str, float | None] = {} if end is None \
                else {"ended_at": m.seconds(end)}
            if raw_status is not None:
                status = m.status_in(raw_status)
                if status in LIVE_STATUSES:  # no heartbeat (module docstring)
                    ended = {"heartbeat_at": run.heartbeat_at}
                run = self.store.set_status(run_id, status, **ended)
            elif ended:
                run = self.store.update_run(run_id, **ended)
        return {"run_info": m.run_info(run, self._experiment_id(run))}

    def delete(self, f: Fields) -> dict[str, Any]:
        run = self._run(f.run_id())
        if run.status in LIVE_STATUSES:
            raise MlflowError(
                "INVALID_STATE", f"run {run.id!r} is {run.status}; end it before deleting it "
                "(MlflowClient().set_terminated(run_id, 'KILLED'))")
        try:  # files first, as DELETE /api/runs/{id} does: a failure keeps the run
            self.files.remove_run(run.id)
        except OSError as exc:
            raise MlflowError("INVALID_STATE", f"run {run.id!r} was kept: its folder could "
                              f"not be deleted ({exc.strerror or exc})") from None
        self.store.delete_run(run.id)
        return {}

    # -- logging ---------------------------------------------------------------------------

    @contextmanager
    def _changing(self, run_id: str) -> Iterator[Run]:
        with self.lock:
            yield self._run(run_id)

    def log_metric(self, f: Fields) -> dict[str, Any]:
        run_id = f.run_id()
        point = _metric(f)
        self._run(run_id)
        self._write(run_id, [point])
        return {}

    def log_param(self, f: Fields) -> dict[str, Any]:
        key, value = key_value(f, max_value=MAX_PARAM_VALUE)
        return self._log(f.run_id(), [], {key: value}, {})

    def set_tag(self, f: Fields) -> dict[str, Any]:
        key, value = key_value(f, max_value=MAX_TAG_VALUE)
        return self._log(f.run_id(), [], {}, {key: value})

    def log_batch(self, f: Fields) -> dict[str, Any]:
        points = [_metric(p) for p in f.messages("metrics", MAX_METRICS_PER_BATCH)]
        params: dict[str, str] = {}
        for p in f.messages("params", MAX_PARAMS_TAGS_PER_BATCH):
            key, value = key_value(p, max_value=MAX_PARAM_VALUE)
            if params.setdefault(key, value) != value:
                raise invalid(f"Duplicate parameter keys have been submitted: {key!r:.80} "
                              "with different values")
        tags = _tags(f.messages("tags", MAX_PARAMS_TAGS_PER_BATCH))
        return self._log(f.run_id(), points, params, tags)

    def _log(self, run_id: str, points: list[tuple[str, int, float, float]],
             params: dict[str, str], tags: dict[str, str]) -> dict[str, Any]:
        """Params, tags and points, everything checked before anything is written."""
        with self._changing(run_id) as run:
            config = m.param_config(run, params) if params else None
            fields = m.tag_fields(tags, run.config if config is None else config)
            if config is not None:
                fields.setdefault("config", config)
            if fields:
                self.store.update_run(run_id, **fields)
            self._write(run_id, points)
        return {}

    def _write(self, run_id: str, points: list[tuple[str, int, float, float]]) -> None:
        if not points:
            return
        by_key: dict[str, list[tuple[int, float, float]]] = {}
        for key, step, time, value in points:
            by_key.setdefault(key, []).append((step, time, value))
        series = {key: (np.array([p[0] for p in pts], dtype=np.int64),
                        np.array([p[1] for p in pts], dtype=np.float64),
                        np.array([p[2] for p in pts], dtype=np.float64))
                  for key, pts in by_key.items()}
        self.store.write_metrics(run_id, series)

    def delete_tag(self, f: Fields) -> dict[str, Any]:
        run_id = f.run_id()
        key = f.required("key", max_len=MAX_KEY)
        with self._changing(run_id) as run:
            tags = m.mlflow_tags(run)
            if key not in tags:
                raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                                  f"No tag with name: {key!r:.80} in run with id {run_id}")
            if key == m.RUN_NAME_TAG:
                raise invalid(f"the tag {key!r} is the run's name: rename the run instead")
            if key == m.NOTE_TAG:
                self.store.update_run(run_id, notes="")
                return {}
            config = dict(run.config)
            kept = dict(config.get(m.TAGS_KEY) or {})
            kept.pop(key, None)
            config[m.TAGS_KEY] = kept
            self.store.update_run(run_id, config=config)
        return {}

    def log_inputs(self, f: Fields) -> dict[str, Any]:
        """Datasets are recorded as an ``mlflow_inputs`` event (name, digest, source type,
        context); their schemas and profiles, and model inputs, are not kept."""
        run_id = f.run_id()
        datasets = []
        for d in f.messages("datasets", MAX_METRICS_PER_BATCH):
            inner = d.raw.get("dataset")
            ds = Fields(inner if isinstance(inner, dict) else {}, d.where + "dataset.")
            tags = _tags(d.messages("tags"))
            datasets.append({
                "name": ds.string("name", max_len=500), "digest": ds.string("digest",
                                                                             max_len=500),
                "source_type": ds.string("source_type", max_len=500),
                "context": tags.get("mlflow.data.context")})
        self._run(run_id)
        if datasets:
            self.store.add_event(run_id, "mlflow_inputs", {"datasets": datasets})
        return {}

    # -- metric history and search ---------------------------------------------------------

    def metric_history(self, f: Fields) -> dict[str, Any]:
        run_id = f.run_id()
        key = f.required("metric_key", max_len=MAX_KEY)
        limit = _page_size(f, HISTORY_DEFAULT, HISTORY_MAX)
        after = _token(f.string("page_token"))
        self._run(run_id)
        try:
            points = self.store.read_points(run_id, key, after_step=after, limit=limit + 1)
        except NotFound:
            return {"metrics": []}
        n = min(len(points), limit)
        metrics = [m.metric(key, int(s), float(t), float(v)) for s, t, v in
                   zip(points.steps[:n], points.times[:n], points.values[:n], strict=True)]
        out: dict[str, Any] = {"metrics": metrics}
        if len(points) > limit:
            out["next_page_token"] = str(int(points.steps[n - 1]))
        return out

    def search(self, f: Fields) -> dict[str, Any]:
        ids = f.strings("experiment_ids")
        clauses = parse_filter(f.string("filter"))
        orders = parse_order(f.strings("order_by"))
        check_keys([*clauses, *orders], _ATTRIBUTES)
        limit = _page_size(f, SEARCH_DEFAULT, SEARCH_MAX)
        offset = _token(f.string("page_token")) or 0
        view = f.raw.get("run_view_type")
        if view in ("DELETED_ONLY", 2, "2"):  # deleted runs are gone, not kept
            return {"runs": []}
        rows: list[tuple[Run, int, dict[str, Any]]] = []
        for raw in ids:
            number = m.experiment_id(raw)
            try:
                project = self.store.get_project(number)
            except NotFound:
                continue  # as MLflow: an unknown experiment has no runs
            rows.extend((run, number, {}) for run in self._project_runs(project.name))
        needs_metrics = any(c.entity == "metric" for c in clauses) \
            or any(o.entity == "metric" for o in orders)
        if needs_metrics:
            for run, _, cache in rows:
                cache["metrics"] = self.store.latest(run.id)
        chosen = select(rows, clauses, _value)
        chosen.sort(key=lambda r: r[0].id)
        chosen = order(chosen, orders or parse_order(["attributes.start_time DESC"]), _value)
        page = chosen[offset:offset + limit]
        out: dict[str, Any] = {"runs": [
            m.run_out(run, number, cache.get("metrics") or self.store.latest(run.id))
            for run, number, cache in page]}
        if offset + limit < len(chosen):
            out["next_page_token"] = str(offset + limit)
        return out

    def _project_runs(self, project: str) -> list[Run]:
        out: list[Run] = []
        while True:
            runs, total = self.store.list_runs(project=project, limit=_READ_PAGE,
                                               offset=len(out))
            out.extend(runs)
            if not runs or len(out) >= total:
                return out


def _value(row: tuple[Run, int, dict[str, Any]], entity: str, key: str) -> Any:
    """A run's value of a search key (``None``: it has none)."""
    run, number, cache = row
    if entity == "metric":
        point = cache.get("metrics", {}).get(key)
        return None if point is None else point[2]
    if entity == "param":
        return m.params(run).get(key)
    if entity == "tag":
        return m.mlflow_tags(run).get(key)
    if key == "experiment_id":
        return str(number)
    info = m.run_info(run, number)
    return info.get("start_time" if key == "created" else key)


def _metric(f: Fields) -> tuple[str, int, float, float]:
    key = f.required("key", max_len=MAX_KEY)
    value = f.double("value", required=True)
    timestamp = f.int64("timestamp")
    step = f.int64("step", 0)
    assert value is not None and step is not None
    if timestamp is None:
        raise invalid("Missing value for required parameter 'timestamp'")
    return key, step, m.seconds(timestamp), value


def _tags(items: list[Fields]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for t in items:
        key, value = key_value(t, max_value=MAX_TAG_VALUE)
        tags[key] = value
    return tags


def _page_size(f: Fields, default: int, largest: int) -> int:
    size = f.int64("max_results")
    if size is None or size == 0:
        return default
    if not 0 < size <= largest:
        raise invalid(f"Invalid value {size} for parameter 'max_results': 1 to {largest}")
    return size


def _token(raw: str | None) -> int | None:
    """A page token (an offset or a step this API gave out)."""
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Invalid page token {raw!r:.40}") from None
    if not -(2**63) <= value < 2**63 - 1:
        raise invalid(f"Invalid page token {raw!r:.40}")
    return value
