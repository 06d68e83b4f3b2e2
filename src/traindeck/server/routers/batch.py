"""Remote SDK writes: batches applied exactly once; command delivery.

``POST /api/runs/{run_id}/batch`` takes one batch object, or an array of them (a backlog,
applied in order in one transaction; the answer is then ``{"batches": n, "applied": k}``).
The wire format and its checks are ``traindeck.store.batch_wire``'s (shared with the SDK;
see docs/api.md); applying it exactly once is the store's (``apply_batch``): a batch the
SDK sends again after a lost answer is acknowledged without being applied twice
(``{"applied": false}``), and a server killed mid-batch applied none of it.

``POST /api/batches`` takes the batches of several runs in one request (a training process
with several runs sends them so: one request a tick, not one a run); each run is applied
as its own route would and answered apart, so one run refused does not refuse the others.

``POST /api/runs/{run_id}/commands/deliver?wait=S`` hands the run's pending commands to
its script (marking them delivered), waiting up to ``S`` seconds for one to arrive: woken
by the change feed (``command_bell.py``), not by reading the store over and over. It also
answers, with what is pending, when the run reaches a final status meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.store import StoreError
from traindeck.store.batch_wire import Batch, check_batches, parse_body, parse_runs
from traindeck.store.tokens import Token

from ..batch_group import GroupWriter
from ..batch_openapi import OPENAPI_EXTRA, RUNS_OPENAPI_EXTRA
from ..command_bell import RECHECK, CommandBell
from ..deps import StoreDep, json_response
from ..errors import ERROR_RESPONSES, UNAVAILABLE_RESPONSE, store_error_status

router = APIRouter(prefix="/api", tags=["batch"],
                   responses={**ERROR_RESPONSES, **UNAVAILABLE_RESPONSE})

#: The longest ``wait`` of a command long-poll (seconds).
MAX_WAIT: Final = 30.0
#: A run of a ``POST /api/batches`` body that the request's token may not write.
_FORBIDDEN: Final = object()
#: A ``POST /api/batches`` body up to this size is decoded on the event loop (tens of
#: microseconds); a bigger one (a backlog) in a thread, so that the loop stays free.
INLINE_PARSE: Final = 256 * 1024


#: The answer: one batch's id and whether it was new, or for an array how many were new.
BATCH_ANSWER: Final[dict[str, Any]] = {"anyOf": [
    {"type": "object", "title": "BatchApplied", "required": ["batch_id", "applied"],
     "properties": {"batch_id": {"type": "string"}, "applied": {"type": "boolean"}}},
    {"type": "object", "title": "BatchesApplied", "required": ["batches", "applied"],
     "properties": {"batches": {"type": "integer"}, "applied": {"type": "integer"}}},
]}
#: ``POST /api/batches``'s answer: per run, how many of its batches were new, or why the
#: run's batches were refused (the status its own route would have answered).
RUNS_ANSWER: Final[dict[str, Any]] = {
    "type": "object", "required": ["runs"], "properties": {"runs": {"type": "array", "items": {
        "anyOf": [
            {"type": "object", "title": "RunApplied",
             "required": ["run_id", "batches", "applied"],
             "properties": {"run_id": {"type": "string"}, "batches": {"type": "integer"},
                            "applied": {"type": "integer"}}},
            {"type": "object", "title": "RunRefused", "required": ["run_id", "status", "error"],
             "properties": {"run_id": {"type": "string"}, "status": {"type": "integer"},
                            "error": {"type": "object", "required": ["code", "message"],
                                      "properties": {"code": {"type": "string"},
                                                     "message": {"type": "string"}}}}},
        ]}}}}


# The body is read raw and checked by batch_wire (fast, shared with the SDK); its schema
# is published by hand from the same declarations (batch_openapi.py).
@router.post("/runs/{run_id}/batch", summary="Write a batch from the SDK (exactly once)",
             openapi_extra=OPENAPI_EXTRA,
             responses={200: {"content": {"application/json": {"schema": BATCH_ANSWER}},
                              "description": "{batch_id, applied} or {batches, applied}"}})
async def write_batch(run_id: str, request: Request) -> Response:
    # Most requests never get here: ``batch_lane.py`` answers them before the framework,
    # with the same function. This route answers the rest (a browser's, with an Origin),
    # and publishes the route in the OpenAPI schema.
    return json_response(await apply_body(request.app.state, run_id, await request.body()))


async def apply_body(state: Any, run_id: str, data: bytes) -> dict[str, Any]:
    """Check a batch request's body and apply it: the answer (or a ``StoreError``)."""
    writer: GroupWriter = state.batch_writer
    body: list[Batch | list[Batch]] = []

    def batches() -> list[Batch]:
        parsed = parse_body(data)
        body.append(parsed)
        return parsed if isinstance(parsed, list) else [parsed]

    # The busiest route: the body is parsed and applied on the writer's thread, with the
    # requests that wait beside it in one transaction (batch_group.py); nothing holds a
    # thread while it waits. Then the follower reads them at once.
    applied = await asyncio.wrap_future(writer.submit(run_id, batches))
    state.follower.nudge()
    parsed = body[0]
    if isinstance(parsed, list):
        return {"batches": len(parsed), "applied": applied}
    return {"batch_id": parsed.batch_id, "applied": applied == 1}


@router.post("/batches", summary="Write the batches of several runs (one training process)",
             openapi_extra=RUNS_OPENAPI_EXTRA,
             responses={200: {"content": {"application/json": {"schema": RUNS_ANSWER}},
                              "description": "each run's answer, in the body's order"}})
async def write_runs(request: Request) -> Response:
    # As ``write_batch``: ``batch_lane.py`` answers most of these before the framework.
    token: Token | None = getattr(request.state, "token", None)
    return json_response(await apply_runs(request.app.state, await request.body(),
                                          bound=token.run_id if token else None))


async def apply_runs(state: Any, data: bytes, *, bound: str | None = None) -> dict[str, Any]:
    """``POST /api/batches``: each run's batches applied as ``POST /api/runs/{id}/batch``
    would, side by side in the writer's queue (so in one transaction when they can be);
    a run refused (unknown, a bad batch) is answered with its status and error, and the
    others are applied. A body whose outer shape is wrong refuses the whole request.
    ``bound``: the run the request's token is bound to (a launched process's); every
    other run of the body is refused (403), as its own route would be."""
    writer: GroupWriter = state.batch_writer
    runs = (parse_runs(data) if len(data) <= INLINE_PARSE
            else await asyncio.to_thread(parse_runs, data))
    allowed = [(run_id, raw) for run_id, raw in runs if bound is None or run_id == bound]
    futures = writer.submit_many([(run_id, functools.partial(check_batches, raw))
                                  for run_id, raw in allowed])
    done = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures),
                                return_exceptions=True)
    state.follower.nudge()
    result_of = {run_id: result for (run_id, _), result in zip(allowed, done, strict=True)}
    answers: list[dict[str, Any]] = []
    for run_id, raw in runs:
        result = result_of.get(run_id, _FORBIDDEN)
        if result is _FORBIDDEN:
            answers.append({"run_id": run_id, "status": 403, "error": {
                "code": "forbidden", "message": f"this token is bound to run {bound!r}; "
                                                f"run {run_id!r} is outside it"}})
        elif isinstance(result, StoreError):
            answers.append({"run_id": run_id, "status": store_error_status(result),
                            "error": {"code": result.code, "message": str(result)}})
        elif isinstance(result, BaseException):
            raise result  # a bug: the 500 handler (the SDK sends all again; ids keep once)
        else:
            answers.append({"run_id": run_id, "batches": len(raw), "applied": result})
    return {"runs": answers}


@router.post("/runs/{run_id}/commands/deliver",
             summary="Hand pending commands to the run's script (long-poll)")
async def deliver_commands(
    run_id: str,
    request: Request,
    store: StoreDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
) -> Response:
    await run_in_threadpool(store.get_run, run_id)  # unknown run: 404
    bell: CommandBell = request.app.state.command_bell
    deadline = time.monotonic() + wait
    with bell.listen(run_id) as rung:  # before reading: a command posted meanwhile rings
        while True:
            rung.clear()
            commands = await run_in_threadpool(store.take_pending_commands, run_id)
            left = deadline - time.monotonic()
            if commands or left <= 0 or rung.ended:
                return json_response({"commands": [c.to_dict() for c in commands]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rung.wait(), min(left, RECHECK))
            if await request.is_disconnected():  # the script went away: stop waiting
                return json_response({"commands": []})
