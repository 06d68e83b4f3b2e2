"""Launch templates and their configs: list, read, validate a preset and overrides.

The templates come from the folder given at ``traindeck serve --templates DIR``
(``Settings.templates_dir``; format in ``docs/launch.md``); without one every route here
answers 404 saying so. A broken template answers 422 with what is wrong. Validation never
fails on bad overrides or values: they are listed in ``errors``, each with its JSON path.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from traindeck.launch.estimate import run_estimate
from traindeck.launch.templates import Template, Templates, resolve
from traindeck.store import NotFound

from ..deps import json_response
from ..errors import ERROR_RESPONSES
from ..schemas import ConfigErrorOut

#: How long a validation waits for a free estimate slot before answering "busy" (s).
ESTIMATE_WAIT_S: Final = 2.0
#: Most overrides one validation takes, and the longest one.
MAX_OVERRIDES: Final = 1000
MAX_OVERRIDE_CHARS: Final = 10_000

router = APIRouter(prefix="/api", tags=["configs"], responses=ERROR_RESPONSES)


def get_templates(request: Request) -> Templates:
    templates: Templates | None = getattr(request.app.state, "templates", None)
    if templates is None:
        raise NotFound("this server has no templates folder: start it with "
                       "traindeck serve --templates DIR")
    return templates


TemplatesDep = Annotated[Templates, Depends(get_templates)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigSummary(_Out):
    name: str
    description: str
    presets: list[str]
    command: list[str]


class BrokenTemplate(_Out):
    name: str
    error: str = Field(description="what is wrong with it")


class ConfigList(_Out):
    configs: list[ConfigSummary]
    broken: list[BrokenTemplate] = Field(
        description="templates in the folder that do not load, and why")


class ConfigOut(_Out):
    name: str
    description: str
    command: list[str]
    config: dict[str, Any] = Field(description="the defaults")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the config")
    schema_inferred: bool = Field(description="true: inferred from the defaults")
    presets: dict[str, list[str]]
    estimate: bool = Field(description="whether the template has an estimate hook")
    hydra: bool = Field(description="true: overrides go on the command line")


Override = Annotated[str, StringConstraints(max_length=MAX_OVERRIDE_CHARS)]


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: list[Override] = Field(default_factory=list, max_length=MAX_OVERRIDES,
                                      description="key=value, +key=value, ++key=value, ~key")
    preset: str | None = None
    estimate: bool = Field(False, description="also run the estimate hook on a valid config")


class EstimateOut(_Out):
    ok: bool
    value: dict[str, Any] | None
    error: str | None


class ValidateOut(_Out):
    valid: bool
    config: dict[str, Any] = Field(description="the effective config")
    overrides: list[str] = Field(description="the effective overrides: the preset's, then "
                                             "the request's")
    errors: list[ConfigErrorOut]
    estimate: EstimateOut | None


def summary(t: Template) -> dict[str, Any]:
    return {"name": t.name, "description": t.description, "presets": list(t.presets),
            "command": t.command}


@router.get("/configs", response_model=ConfigList, summary="Launch templates")
def list_configs(templates: TemplatesDep) -> Response:
    good, broken = templates.scan()
    return json_response({"configs": [summary(t) for t in good],
                          "broken": [{"name": n, "error": e} for n, e in broken]})


@router.get("/configs/{name}", response_model=ConfigOut, response_model_by_alias=True,
            summary="One template: command, defaults, schema, presets")
def get_config(name: str, templates: TemplatesDep) -> Response:
    t = templates.get(name)
    return json_response({**summary(t), "config": t.config, "schema": t.schema,
                          "schema_inferred": t.schema_inferred, "presets": t.presets,
                          "estimate": t.estimate is not None, "hydra": t.hydra})


def _estimate(request: Request, t: Template, config: dict[str, Any]) -> dict[str, Any]:
    """The hook's result, or "busy" when the server's estimate slots stay taken (each hook
    is a child process: a flood of validations must not start a flood of them)."""
    slots: threading.BoundedSemaphore = request.app.state.estimate_slots
    if not slots.acquire(timeout=ESTIMATE_WAIT_S):
        return {"ok": False, "value": None,
                "error": "busy: other estimates are running on this server; try again"}
    try:
        return run_estimate(t.folder, t.estimate or "", config).to_json()
    finally:
        slots.release()


@router.post("/configs/{name}/validate", response_model=ValidateOut,
             summary="The effective config of a preset and overrides, and its errors")
def validate_config(name: str, body: ValidateIn, templates: TemplatesDep,
                    request: Request) -> Response:
    t = templates.get(name)
    resolved = resolve(t, body.overrides, body.preset)
    estimate: dict[str, Any] | None = None
    if body.estimate and t.estimate is not None:
        if resolved.errors:
            estimate = {"ok": False, "value": None,
                        "error": "not run: the config has errors"}
        else:
            estimate = _estimate(request, t, resolved.config)
    return json_response({
        "valid": not resolved.errors, "config": resolved.config,
        "overrides": resolved.overrides,
        "errors": [{"path": e.path, "message": e.message} for e in resolved.errors],
        "estimate": estimate,
    })
