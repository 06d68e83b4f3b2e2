"""How traindeck's records read as MLflow's, and MLflow's writes as traindeck fields.

- experiment ↔ project: the experiment id is the project's number (``Store.get_project``),
  ``"0"`` the ``default`` project, which MLflow calls ``Default``;
- run ↔ run: the same id; ``run_name`` (and the ``mlflow.runName`` tag) ↔ ``name``;
  status ``RUNNING``/``SCHEDULED``/``FINISHED``/``FAILED``/``KILLED`` ↔
  ``running``/``queued``/``completed``/``failed``/``cancelled`` (``paused`` reads as
  ``RUNNING``, ``interrupted`` as ``FAILED``); ``start_time``/``end_time`` (ms) ↔
  ``started_at``/``ended_at`` (s);
- params ↔ ``config`` (strings, as MLflow logs them; a nested config of a run made by the
  SDK reads as dotted keys, values as JSON);
- tags: ``mlflow.note.content`` ↔ ``notes``, ``mlflow.source.git.commit`` also sets
  ``git_commit``; every other tag is kept in ``config["mlflow.tags"]`` (shown with the
  config in the dashboard);
- metrics ↔ series: a point's ``timestamp`` (ms) is its wall time, ``step`` its step; a run's
  metrics are each series' newest point.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from traindeck.store import Project, Run
from traindeck.store.batch_schema import MAX_NAME
from traindeck.store.codec import dumps_str, float_out

from .errors import invalid

#: The config key holding a run's MLflow tags.
TAGS_KEY: Final = "mlflow.tags"
RUN_NAME_TAG: Final = "mlflow.runName"
NOTE_TAG: Final = "mlflow.note.content"
GIT_COMMIT_TAG: Final = "mlflow.source.git.commit"
USER_TAG: Final = "mlflow.user"
#: What MLflow calls the experiment of the ``default`` project (number 0).
DEFAULT_EXPERIMENT: Final = "Default"
DEFAULT_PROJECT: Final = "default"

TO_MLFLOW: Final[dict[str, str]] = {
    "queued": "SCHEDULED", "running": "RUNNING", "paused": "RUNNING",
    "completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED",
    "interrupted": "FAILED",
}
FROM_MLFLOW: Final[dict[str, str]] = {
    "RUNNING": "running", "SCHEDULED": "queued", "FINISHED": "completed",
    "FAILED": "failed", "KILLED": "cancelled",
}
#: RunStatus's enum numbers (a status may come as its number).
STATUS_NUMBERS: Final[dict[int, str]] = {
    1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED",
}


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def seconds(milliseconds: int) -> float:
    return milliseconds / 1000.0


def status_in(raw: Any) -> str:
    """A traindeck status from MLflow's ``RunStatus`` (its name or number)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = STATUS_NUMBERS.get(raw, raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = STATUS_NUMBERS.get(int(raw), raw)
    if not isinstance(raw, str) or raw not in FROM_MLFLOW:
        raise invalid(f"Invalid value {raw!r:.40} for parameter 'status': one of "
                      f"{', '.join(FROM_MLFLOW)}")
    return FROM_MLFLOW[raw]


# -- experiments ---------------------------------------------------------------------------


def experiment_name(project: Project) -> str:
    return DEFAULT_EXPERIMENT if project.id == 0 else project.name


def project_name(experiment: str) -> str:
    """The project an experiment name stands for (``Default`` is ``default``)."""
    return DEFAULT_PROJECT if experiment == DEFAULT_EXPERIMENT else experiment


def experiment_id(raw: str) -> int:
    """A project number from an experiment id."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise invalid(f"Invalid experiment ID {raw!r:.60}: traindeck's are numbers")
    return int(text)


def experiment(project: Project) -> dict[str, Any]:
    created = ms(project.created_at)
    return {
        "experiment_id": str(project.id), "name": experiment_name(project),
        "artifact_location": f"mlflow-artifacts:/{project.id}",
        "lifecycle_stage": "active", "creation_time": created, "last_update_time": created,
        "tags": [],
    }


# -- runs -------------------------------------------------------------------------------


def mlflow_tags(run: Run) -> dict[str, str]:
    """A run's tags as MLflow reads them."""
    kept = run.config.get(TAGS_KEY)
    tags = {k: v for k, v in kept.items() if isinstance(v, str)} \
        if isinstance(kept, dict) else {}
    tags[RUN_NAME_TAG] = run.name
    if run.notes:
        tags[NOTE_TAG] = run.notes
    if run.git_commit and GIT_COMMIT_TAG not in tags:
        tags[GIT_COMMIT_TAG] = run.git_commit
    return tags


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}", v)
    elif isinstance(value, str):
        yield prefix, value
    else:
        yield prefix, dumps_str(value)


def params(run: Run) -> dict[str, str]:
    """A run's config as MLflow params (strings; nested keys dotted)."""
    out: dict[str, str] = {}
    for key, value in run.config.items():
        if key != TAGS_KEY:
            out.update(_flat(key, value))
    return out


def run_info(run: Run, experiment_id: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id, "run_uuid": run.id, "run_name": run.name,
        "experiment_id": str(experiment_id),
        "user_id": mlflow_tags(run).get(USER_TAG, ""),
        "status": TO_MLFLOW.get(run.status, "RUNNING"),
        "start_time": ms(run.started_at if run.started_at is not None else run.created_at),
        "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run.id}/artifacts",
        "lifecycle_stage": "active",
    }
    if run.ended_at is not None:
        info["end_time"] = ms(run.ended_at)
    return info


def metric(key: str, step: int, time: float, value: float) -> dict[str, Any]:
    return {"key": key, "value": float_out(value), "timestamp": ms(time), "step": step}


def run_out(run: Run, experiment_id: int,
            latest: Mapping[str, tuple[int, float, float]]) -> dict[str, Any]:
    """A run as MLflow's ``Run``: info, and data (newest metrics, params, tags)."""
    return {
        "info": run_info(run, experiment_id),
        "data": {
            "metrics": [metric(k, *point) for k, point in latest.items()],
            "params": [{"key": k, "value": v} for k, v in params(run).items()],
            "tags": [{"key": k, "value": v} for k, v in mlflow_tags(run).items()],
        },
        "inputs": {},
    }


def tag_fields(tags: Mapping[str, str], config: Mapping[str, Any]) -> dict[str, Any]:
    """The run fields that setting ``tags`` changes, given the run's ``config`` (with the
    params of the same call already in it)."""
    fields: dict[str, Any] = {}
    kept: dict[str, str] = {}
    for key, value in tags.items():
        if key == RUN_NAME_TAG:
            if value:
                fields["name"] = check_run_name(value)
        elif key == NOTE_TAG:
            fields["notes"] = value
        else:
            kept[key] = value
            if key == GIT_COMMIT_TAG:
                fields["git_commit"] = value
    if kept:
        old = config.get(TAGS_KEY)
        fields["config"] = {**config, TAGS_KEY: {**(old if isinstance(old, dict) else {}),
                                                 **kept}}
    return fields


def param_config(run: Run, new: Mapping[str, str]) -> dict[str, Any] | None:
    """The run's config with params ``new`` added (``None``: nothing new). A param is
    logged once: another value for a logged key is refused, as MLflow does."""
    changed = False
    config = dict(run.config)
    for key, value in new.items():
        if key == TAGS_KEY:
            raise invalid(f"the param key {TAGS_KEY!r} is where traindeck keeps MLflow's "
                          "tags; choose another")
        if key in config:
            old = config[key]
            if old != value and not (not isinstance(old, str)
                                     and dumps_str(old) == value):
                raise invalid(
                    f"Changing param values is not allowed. Param with key='{key}' was "
                    f"already logged with value='{old}' for run ID='{run.id}'. Attempted "
                    f"logging new value '{value}'.")
            continue
        config[key] = value
        changed = True
    return config if changed else None


def check_run_name(name: str) -> str:
    if len(name) > MAX_NAME:
        raise invalid(f"a run name is at most {MAX_NAME} characters in traindeck")
    return name
