"""MLflow 3's logged models over the store: what ``mlflow.<flavour>.log_model`` and
autologging call.

``log_model`` creates a model (``pending``) in the run's experiment, names it among the
run's outputs, uploads its folder to the model's ``artifact_uri`` and finalizes it
(``ready``, or ``failed`` when the upload failed). traindeck keeps the record in the store
(``LoggedModel``) and the files in the source run's ``artifacts/models/<model id>/`` folder:
the model's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run id>/artifacts/models/<model
id>``, which MLflow's artifacts service (``artifacts.py``) writes into, so the files show
with the run's other artifacts. A model that becomes ``ready`` adds a ``model_logged``
event to its run (``{id, name, path, model_type}``, ``path`` as the run's files API names
it: ``artifacts/models/<model id>``). A model needs a source run: one logged with no run
active is refused.

The model's metrics are the run's (MLflow links metrics to a model; traindeck keeps them
once, in the run's series): a model reads back with none.
"""

from __future__ import annotations

from typing import Any, Final

from traindeck.runfiles import RunFiles
from traindeck.store import NotFound, Store
from traindeck.store.logged_models import MAX_MODEL_NAME, MAX_MODEL_TYPE, LoggedModel

from . import mapping as m
from .artifacts import ROOT
from .artifacts import delete as delete_files
from .errors import MlflowError, invalid
from .search import ENTITIES, Order, check_keys, order, parse_filter, parse_order, select
from .wire import MAX_PARAM_VALUE, MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VALUE, Fields, key_value

#: MLflow's ``LoggedModelStatus`` names (and enum numbers) ↔ traindeck's.
STATUS_OUT: Final[dict[str, str]] = {
    "pending": "LOGGED_MODEL_PENDING", "ready": "LOGGED_MODEL_READY",
    "failed": "LOGGED_MODEL_UPLOAD_FAILED",
}
STATUS_IN: Final[dict[str, str]] = {v: k for k, v in STATUS_OUT.items()}
_STATUS_NUMBERS: Final[dict[int, str]] = {1: "pending", 2: "ready", 3: "failed"}
#: search: default and largest page.
SEARCH_DEFAULT: Final = 100
SEARCH_MAX: Final = 10_000
#: The attributes a model search filters and orders by.
ATTRIBUTES: Final = frozenset({
    "name", "model_id", "source_run_id", "status", "model_type", "experiment_id",
    "creation_timestamp", "creation_time", "last_updated_timestamp",
})
EVENT: Final = "model_logged"


def status_in(raw: Any) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[raw]
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() \
            and int(raw) in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[int(raw)]
    if isinstance(raw, str) and raw in STATUS_IN:
        return STATUS_IN[raw]
    raise invalid(f"Invalid value {raw!r:.40} for parameter 'status': one of "
                  f"{', '.join(STATUS_IN)}")


def _pairs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


class LoggedModels:
    def __init__(self, store: Store, files: RunFiles) -> None:
        self.store = store
        self.files = files

    # -- reading ---------------------------------------------------------------------------

    def _model(self, model_id: str) -> LoggedModel:
        try:
            return self.store.get_logged_model(model_id)
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Logged model with ID {model_id!r:.80} not found") from None

    def _experiment_id(self, project: str) -> int:
        try:
            return self.store.find_project(project).id
        except NotFound:
            return self.store.create_project(project).id

    def out(self, model: LoggedModel, experiment_id: int | None = None) -> dict[str, Any]:
        """A model as MLflow's ``LoggedModel``: info and data."""
        exp = self._experiment_id(model.project) if experiment_id is None else experiment_id
        info: dict[str, Any] = {
            "model_id": model.id, "experiment_id": str(exp), "name": model.name,
            "creation_timestamp_ms": m.ms(model.created_at),
            "last_updated_timestamp_ms": m.ms(model.updated_at),
            "artifact_uri": f"mlflow-artifacts:/{exp}/{model.run_id}/artifacts/{model.folder}",
            "status": STATUS_OUT[model.status], "source_run_id": model.run_id,
            "tags": _pairs(model.tags),
        }
        if model.model_type:
            info["model_type"] = model.model_type
        return {"info": info, "data": {"params": _pairs(model.params), "metrics": []}}

    def get(self, model_id: str, f: Fields) -> dict[str, Any]:
        return {"model": self.out(self._model(model_id))}

    # -- writing ---------------------------------------------------------------------------

    def create(self, f: Fields) -> dict[str, Any]:
        raw = f.required("experiment_id")
        number = m.experiment_id(raw)
        name = f.string("name", max_len=MAX_MODEL_NAME) or "model"
        model_type = f.string("model_type", max_len=MAX_MODEL_TYPE) or None
        params = _entries(f, "params", MAX_PARAM_VALUE)
        tags = _entries(f, "tags", MAX_TAG_VALUE)
        run_id = f.string("source_run_id")
        if not run_id:
            raise invalid("traindeck keeps a logged model's files in the run that made it: "
                          "log the model inside a run (mlflow.start_run()), or pass "
                          "source_run_id")
        try:
            project = self.store.get_project(number)
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"No Experiment with id={raw!r:.40} exists") from None
        try:
            model = self.store.create_logged_model(
                project=project.name, run_id=run_id, name=name, model_type=model_type,
                params=params, tags=tags)
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Run with id={run_id!r:.80} not found") from None
        return {"model": self.out(model, project.id)}

    def finalize(self, model_id: str, f: Fields) -> dict[str, Any]:
        raw = f.raw.get("status")
        if raw is None:
            raise invalid("Missing value for required parameter 'status'")
        status = status_in(raw)
        old = self._model(model_id)
        model = self.store.update_logged_model(old.id, status=status)
        if status == "ready" and old.status != "ready":
            self.store.add_event(model.run_id, EVENT, {
                "id": model.id, "name": model.name, "path": f"{ROOT}/{model.folder}",
                "model_type": model.model_type})
        return {"model": self.out(model)}

    def log_params(self, model_id: str, f: Fields) -> dict[str, Any]:
        params = _entries(f, "params", MAX_PARAM_VALUE)
        self.store.update_logged_model(self._model(model_id).id, params=params)
        return {}

    def set_tags(self, model_id: str, f: Fields) -> dict[str, Any]:
        tags = _entries(f, "tags", MAX_TAG_VALUE)
        self.store.update_logged_model(self._model(model_id).id, tags=tags)
        return {}

    def delete_tag(self, model_id: str, key: str) -> dict[str, Any]:
        model = self._model(model_id)
        if key not in model.tags:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"No tag with key {key!r:.80} on logged model {model.id}")
        self.store.update_logged_model(model.id, drop_tags=[key])
        return {}

    def delete(self, model_id: str, f: Fields) -> dict[str, Any]:
        """The model and its files, for good."""
        model = self._model(model_id)
        parts = tuple(model.folder.split("/"))
        delete_files(self.files, model.run_id, parts, model.folder)
        self.store.delete_logged_model(model.id)
        return {}

    def log_outputs(self, f: Fields) -> dict[str, Any]:
        """A run's outputs: its models are checked to exist (a model's source run is where
        traindeck shows it; nothing more is recorded)."""
        run_id = f.run_id()
        ids = []
        for o in f.messages("models", MAX_PARAMS_TAGS_PER_BATCH):
            ids.append(o.required("model_id", max_len=100))
            o.int64("step")
        try:
            self.store.get_run(run_id)
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Run with id={run_id!r:.80} not found") from None
        for model_id in ids:
            self._model(model_id)
        return {}

    # -- search ----------------------------------------------------------------------------

    def search(self, f: Fields) -> dict[str, Any]:
        numbers = [m.experiment_id(raw) for raw in f.strings("experiment_ids")]
        entities = {k: v for k, v in ENTITIES.items() if k != "run"}
        clauses = parse_filter(f.string("filter"), entities)
        orders: list[Order] = []
        for o in f.messages("order_by"):
            field = o.required("field_name", max_len=MAX_PARAM_VALUE)
            ascending = o.raw.get("ascending", True)
            if not isinstance(ascending, bool):
                raise invalid(f"'{o.where}ascending' must be true or false")
            o.string("dataset_name")
            o.string("dataset_digest")
            order_of = parse_order([field], entities)[0]
            orders.append(Order(order_of.entity, order_of.key, not ascending))
        for d in f.messages("datasets"):
            d.string("dataset_name")
            d.string("dataset_digest")
        check_keys([*clauses, *orders], ATTRIBUTES)
        size = f.int64("max_results")
        if size is None or size == 0:
            size = SEARCH_DEFAULT
        if not 0 < size <= SEARCH_MAX:
            raise invalid(f"Invalid value {size} for parameter 'max_results': 1 to "
                          f"{SEARCH_MAX}")
        token = f.string("page_token") or "0"
        if not (token.isascii() and token.isdigit()) or len(token) > 18:
            raise invalid(f"Invalid page token {token!r:.40}")
        offset = int(token)
        projects: dict[str, int] = {}
        for number in numbers:
            try:
                projects[self.store.get_project(number).name] = number
            except NotFound:
                continue  # as MLflow: an unknown experiment has no models
        rows = [(model, projects[model.project]) for model in
                self.store.list_logged_models(projects=list(projects))]
        chosen = select(rows, clauses, _value)
        chosen = order(chosen, orders or parse_order(["creation_timestamp DESC"], entities),
                       _value)
        page = chosen[offset:offset + size]
        out: dict[str, Any] = {"models": [self.out(model, number) for model, number in page]}
        if offset + size < len(chosen):
            out["next_page_token"] = str(offset + size)
        return out


def _value(row: tuple[LoggedModel, int], entity: str, key: str) -> Any:
    model, number = row
    if entity == "param":
        return model.params.get(key)
    if entity == "tag":
        return model.tags.get(key)
    if entity == "metric":
        return None
    return {
        "name": model.name, "model_id": model.id, "source_run_id": model.run_id,
        "status": STATUS_OUT[model.status], "model_type": model.model_type,
        "experiment_id": str(number), "creation_timestamp": m.ms(model.created_at),
        "creation_time": m.ms(model.created_at),
        "last_updated_timestamp": m.ms(model.updated_at),
    }.get(key)


def _entries(f: Fields, name: str, max_value: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in f.messages(name, MAX_PARAMS_TAGS_PER_BATCH):
        key, value = key_value(item, max_value=max_value)
        out[key] = value
    return out
