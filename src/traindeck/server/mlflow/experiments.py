"""MLflow's experiment calls over the store's projects: create, get, get by name, search.

An experiment is a project, its id the project's number (``Store.get_project``); a project
that the SDK made has one from its first run. Experiments are never deleted here (a
project is its runs), and their tags are not kept.
"""

from __future__ import annotations

from typing import Any, Final

from traindeck.store import Conflict, NotFound, Project, Store
from traindeck.store.batch_schema import MAX_PROJECT

from . import mapping as m
from .errors import MlflowError, invalid
from .search import check_keys, order, parse_filter, parse_order, select
from .wire import Fields

SEARCH_DEFAULT: Final = 1000
SEARCH_MAX: Final = 50_000
#: Keys an experiment search may filter or order by.
_ATTRIBUTES: Final = frozenset({"name", "experiment_id", "creation_time",
                                "last_update_time"})
_ENTITIES: Final = {"attribute": "attribute", "attributes": "attribute",
                    "attr": "attribute", "tag": "tag", "tags": "tag"}


class Experiments:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, f: Fields) -> dict[str, Any]:
        name = f.required("name", max_len=MAX_PROJECT)
        try:
            project = self.store.create_project(m.project_name(name))
        except Conflict:
            raise MlflowError("RESOURCE_ALREADY_EXISTS",
                              f"Experiment(name={name}) already exists.") from None
        return {"experiment_id": str(project.id)}

    def get(self, f: Fields) -> dict[str, Any]:
        raw = f.required("experiment_id")
        try:
            project = self.store.get_project(m.experiment_id(raw))
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"No Experiment with id={raw!r:.40} exists") from None
        return {"experiment": m.experiment(project)}

    def get_by_name(self, f: Fields) -> dict[str, Any]:
        name = f.required("experiment_name")
        try:
            project = self.store.find_project(m.project_name(name))
        except NotFound:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Could not find experiment with name '{name:.200}'") from None
        return {"experiment": m.experiment(project)}

    def search(self, f: Fields) -> dict[str, Any]:
        clauses = parse_filter(f.string("filter"), _ENTITIES)
        orders = parse_order(f.strings("order_by"), _ENTITIES)
        check_keys([*clauses, *orders], _ATTRIBUTES)
        size = f.int64("max_results")
        if size is not None and not 0 < size <= SEARCH_MAX:
            raise invalid(f"Invalid value {size} for parameter 'max_results': 1 to "
                          f"{SEARCH_MAX}")
        limit = size or SEARCH_DEFAULT
        token = f.string("page_token")
        if token and not (token.isascii() and token.isdigit()):
            raise invalid(f"Invalid page token {token!r:.40}")
        offset = int(token) if token else 0
        if f.raw.get("view_type") in ("DELETED_ONLY", 2, "2"):
            return {"experiments": []}
        chosen = select(self.store.list_projects(), clauses, _value)
        default = parse_order(["creation_time DESC", "experiment_id ASC"], _ENTITIES)
        chosen = order(chosen, orders or default, _value)
        out: dict[str, Any] = {
            "experiments": [m.experiment(p) for p in chosen[offset:offset + limit]]}
        if offset + limit < len(chosen):
            out["next_page_token"] = str(offset + limit)
        return out


def _value(project: Project, entity: str, key: str) -> Any:
    if entity != "attribute":
        return None  # experiment tags are not kept
    if key == "experiment_id":
        return project.id
    return m.experiment(project).get(key)
