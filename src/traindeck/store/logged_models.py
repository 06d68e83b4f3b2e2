"""Logged models: a model's record, kept for MLflow 3's ``log_model`` (``server/mlflow``).

A logged model belongs to a project (MLflow's experiment) and to the run that made it
(its source run: deleting the run deletes its models); its files live in that run's
``artifacts/models/<model id>/`` folder, written by MLflow's artifacts service. The record
keeps what MLflow's ``LoggedModel`` says: a name, a status (``pending`` while its files
upload, then ``ready`` or ``failed``), string params and tags, an optional model type,
and when it was made and last changed. The checks here are the engines' common rules.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from .errors import InvalidInput

#: A model's statuses (MLflow's ``LOGGED_MODEL_PENDING``, ``_READY``, ``_UPLOAD_FAILED``).
MODEL_STATUSES: Final = ("pending", "ready", "failed")
MAX_MODEL_NAME: Final = 250
MAX_MODEL_TYPE: Final = 250
MAX_MODEL_KEY: Final = 250
MAX_MODEL_VALUE: Final = 8000
#: Params and tags a model may have each.
MAX_MODEL_ENTRIES: Final = 1000
#: The ids this store makes (``m-`` and 32 hex digits, as MLflow's); an id read from a
#: request is looked up only when it has this shape.
_ID: Final = re.compile(r"^m-[0-9a-f]{32}$")


@dataclasses.dataclass(frozen=True, slots=True)
class LoggedModel:
    id: str
    project: str
    run_id: str
    name: str
    status: str
    model_type: str | None
    params: dict[str, str]
    tags: dict[str, str]
    created_at: float
    updated_at: float

    @property
    def folder(self) -> str:
        """Where its files are, below the source run's ``artifacts/`` folder."""
        return f"models/{self.id}"


def new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


def is_model_id(value: str) -> bool:
    return bool(_ID.match(value))


def check_entries(what: str, entries: Mapping[str, Any]) -> dict[str, str]:
    """Params or tags: string keys and values within MLflow's limits."""
    out: dict[str, str] = {}
    for key, value in entries.items():
        if not isinstance(key, str) or not key or len(key) > MAX_MODEL_KEY:
            raise InvalidInput(f"a model's {what} key is 1 to {MAX_MODEL_KEY} characters")
        if not isinstance(value, str) or len(value) > MAX_MODEL_VALUE:
            raise InvalidInput(f"the model {what} {key!r:.80} is a string of at most "
                               f"{MAX_MODEL_VALUE} characters")
        out[key] = value
    return out


def check_model(name: str, model_type: str | None) -> None:
    if not name or len(name) > MAX_MODEL_NAME:
        raise InvalidInput(f"a model's name is 1 to {MAX_MODEL_NAME} characters")
    if "/" in name or "\x00" in name:
        raise InvalidInput(f"a model's name has no '/' or NUL byte, got {name!r:.80}")
    if model_type is not None and len(model_type) > MAX_MODEL_TYPE:
        raise InvalidInput(f"a model type is at most {MAX_MODEL_TYPE} characters")


def merged(what: str, old: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """``old`` with ``new`` set over it, within ``MAX_MODEL_ENTRIES``."""
    out = {**old, **check_entries(what, new)}
    if len(out) > MAX_MODEL_ENTRIES:
        raise InvalidInput(f"a model has at most {MAX_MODEL_ENTRIES} {what}s")
    return out
