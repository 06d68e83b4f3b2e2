"""Commands: the dashboard asks a live run to do something; the SDK picks it up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from ..deps import StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from ..schemas import CommandIn, CommandList, CommandOut, CommandStatus

router = APIRouter(prefix="/api", tags=["commands"], responses=ERROR_RESPONSES)


@router.post("/runs/{run_id}/commands", response_model=CommandOut, status_code=201,
             responses=CONFLICT_RESPONSE, summary="Send a command to a live run")
def create_command(run_id: str, body: CommandIn, store: StoreDep) -> Response:
    # requested_by becomes the caller's identity once auth lands.
    command = store.create_command(run_id, body.name, body.args, requested_by=None)
    return json_response(command.to_dict(), status_code=201)


@router.get("/runs/{run_id}/commands", response_model=CommandList,
            summary="Commands of a run, newest first")
def list_commands(
    run_id: str,
    store: StoreDep,
    status: CommandStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    commands = store.list_commands(run_id, status=status, limit=limit)
    return json_response({"commands": [c.to_dict() for c in commands]})


@router.get("/commands/{command_id}", response_model=CommandOut, summary="One command")
def get_command(command_id: str, store: StoreDep) -> Response:
    return json_response(store.get_command(command_id).to_dict())
