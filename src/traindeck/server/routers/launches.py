"""``/api/launches`` (start a run from a template, list and read launches) and the run
actions the launcher carries out: ``/api/runs/{id}/cancel|pause|resume`` and
``/api/checkpoints/{id}/resume``. The work is the launcher's (``traindeck.launch``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from traindeck.launch.launcher import Launcher
from traindeck.launch.spec import LaunchRejected, LaunchRequest, Retry
from traindeck.store.codec import dumps

from ..deps import StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES, error_response
from ..schemas import ConfigRejectedBody, RunOut

router = APIRouter(prefix="/api", tags=["launches"], responses=ERROR_RESPONSES)

LaunchStatus = Literal["queued", "starting", "running", "paused", "cancelling", "completed",
                       "failed", "cancelled"]


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_restarts: int = Field(0, ge=0, le=100)
    exit_codes: list[int] = Field(default_factory=list, max_length=256,
                                  description="exit codes that always restart the run")
    backoff_s: float = Field(1.0, ge=0, le=300,
                             description="restart n waits backoff_s·2ⁿ seconds (at most 300)")


class LaunchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(min_length=1, max_length=200)
    overrides: list[Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=list, max_length=1000)
    preset: str | None = Field(None, max_length=200)
    name: str | None = Field(None, min_length=1, max_length=200)
    project: str | None = Field(None, min_length=1, max_length=200)
    executor: str = Field("local", max_length=100)
    resources: dict[str, Any] = Field(default_factory=dict)
    retry: RetryIn = Field(default_factory=lambda: RetryIn(max_restarts=0, backoff_s=1.0))
    grace_s: float = Field(10.0, ge=0, le=3600, description="SIGTERM → SIGKILL (seconds)")
    host: str | None = Field(None, min_length=1, max_length=64,
                             description="ssh: the host to run on; slurm: its login node")


class LaunchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    run_id: str | None
    status: LaunchStatus
    template: str | None
    overrides: list[str]
    preset: str | None
    executor: str
    resources: dict[str, Any]
    retry: dict[str, Any]
    grace_s: float | None
    pid: int | None
    exit_code: int | None
    restarts: int
    error: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    host: str | None = None
    #: Where it stands, in a few words ("waiting for SSH on gpu:22 (12 s)", "pending:
    #: Resources", "uploading 45%"), when the executor says more than the status.
    detail: str | None = None


class LaunchList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    launches: list[LaunchOut]


class ExecutorOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    needs_host: bool = Field(description="a launch on it names a host (ssh)")
    hosts: list[str] = Field(description="the hosts it can use (empty: this machine only)")
    resources: list[str] = Field(description="the resources it takes (empty: none)")


class ExecutorList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    executors: list[ExecutorOut]


def _launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


def _rejected(exc: LaunchRejected) -> Response:
    body = {"error": {"code": "invalid_input", "message": str(exc)}, "errors": exc.errors}
    return Response(dumps(body), status_code=422, media_type="application/json")


@router.get("/executors", response_model=ExecutorList,
            summary="Where launches can run: each executor, its hosts and resources")
def list_executors(request: Request, store: StoreDep) -> Response:
    hosts = [h.name for h in store.list_hosts()]
    out = []
    for name, executor in sorted(_launcher(request).executors.items()):
        remote = name != "local"
        out.append({"name": name, "needs_host": bool(getattr(executor, "needs_host", False)),
                    "hosts": hosts if remote else [],
                    "resources": list(getattr(executor, "resource_keys", ()))})
    return json_response({"executors": out})


@router.post("/launches", response_model=LaunchOut, status_code=201,
             responses={422: {"model": ConfigRejectedBody}},
             summary="Launch a run from a template")
def create_launch(body: LaunchIn, request: Request) -> Response:
    req = LaunchRequest(
        template=body.template, overrides=tuple(body.overrides), preset=body.preset,
        name=body.name, executor=body.executor, resources=body.resources,
        retry=Retry(body.retry.max_restarts, tuple(body.retry.exit_codes),
                    body.retry.backoff_s),
        grace_s=body.grace_s, project=body.project, host=body.host)
    try:
        launch = _launcher(request).launch(req)
    except LaunchRejected as exc:
        return _rejected(exc)
    return json_response(launch.to_dict(), status_code=201)


@router.get("/launches", response_model=LaunchList, summary="Launches, oldest first")
def list_launches(
    store: StoreDep,
    run_id: Annotated[str | None, Query(max_length=200)] = None,
    status: LaunchStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    launches = store.list_launches(run_id=run_id, status=status, limit=limit)
    return json_response({"launches": [x.to_dict() for x in launches]})


@router.get("/launches/{launch_id}", response_model=LaunchOut, summary="One launch")
def get_launch(launch_id: str, store: StoreDep) -> Response:
    return json_response(store.get_launch(launch_id).to_dict())


@router.post("/runs/{run_id}/cancel", response_model=RunOut, status_code=202,
             responses=CONFLICT_RESPONSE,
             summary="Cancel a launched run (SIGTERM, SIGKILL after its grace period)")
def cancel_run(run_id: str, request: Request) -> Response:
    return json_response(_launcher(request).cancel(run_id).to_dict(), status_code=202)


@router.post("/runs/{run_id}/pause", response_model=RunOut, responses=CONFLICT_RESPONSE,
             summary="Pause a launched run (its SDK's command, else SIGSTOP)")
def pause_run(run_id: str, request: Request) -> Response:
    return json_response(_launcher(request).pause(run_id).to_dict())


@router.post("/runs/{run_id}/resume", response_model=RunOut, responses=CONFLICT_RESPONSE,
             summary="Resume a paused launched run (its SDK's command, else SIGCONT)")
def resume_run(run_id: str, request: Request) -> Response:
    return json_response(_launcher(request).resume(run_id).to_dict())


@router.post("/checkpoints/{checkpoint_id}/resume", response_model=LaunchOut, status_code=201,
             responses=CONFLICT_RESPONSE,
             summary="Launch the checkpoint's run again, continuing from that checkpoint")
def resume_checkpoint(checkpoint_id: str, request: Request) -> Response:
    """The same run continues from the checkpoint: a launched run with its launch spec; a
    run started by hand by replaying its recorded command line in its recorded folder
    (409 with the reason when it cannot: none recorded, a secret blanked out of it, the
    folder gone, the run still going)."""
    launcher = _launcher(request)
    token = getattr(request.state, "token", None)
    if token is not None and token.scope != "admin" and launcher.replays_recorded(checkpoint_id):
        # A recorded command line is whatever the run's writer said it was: running it
        # again is for admins (a write token may only launch templates).
        return error_response(
            403, "forbidden", "resuming a run started by hand replays the command line it "
            "recorded, which needs an admin token (launch it from a template instead)")
    return json_response(launcher.resume_from(checkpoint_id).to_dict(), status_code=201)
