"""The messages of the live protocol (``/ws``), typed: what clients send, what they get.

``hub.py`` holds the protocol's description; these models are its exact shapes. Client
messages are parsed with :data:`CLIENT_MESSAGE`; the hub writes server messages as plain
dicts for speed, and the tests check every message they receive against
:data:`SERVER_MESSAGE`. ``GET /api/ws/schema`` serves both as JSON Schema, for the
dashboard's generated types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from traindeck.store import Event, Points
from traindeck.store.codec import float_list

from .alerts.models import AlertMessage
from .schemas import CommandOut, EventOut, LogLineOut, RunOut, RunStatus, Value

Id = Annotated[str, Field(min_length=1, max_length=200)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- client → server -------------------------------------------------------------------


class Cursor(_Msg):
    """What a client already has: events up to ``event_seq``, and per metric key the
    points up to that step. A key the cursor does not name is sent from its first point."""

    event_seq: Annotated[int, Field(ge=0)] | None = None
    steps: dict[str, int] = Field(default_factory=dict)
    log_seq: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="the last console line held; later ones are sent first")


class _Target(_Msg):
    run_id: Id | None = None
    project: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _Target:
        if (self.run_id is None) == (self.project is None):
            raise ValueError("give exactly one of run_id and project")
        return self


class Subscribe(_Target):
    type: Literal["subscribe"]
    since: Cursor | None = None


class Unsubscribe(_Target):
    type: Literal["unsubscribe"]


class Ping(_Msg):
    type: Literal["ping"]
    id: Any = None


ClientMessage = Annotated[Subscribe | Unsubscribe | Ping, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[Subscribe | Unsubscribe | Ping] = TypeAdapter(ClientMessage)


# -- server → client -------------------------------------------------------------------


class CursorOut(_Msg):
    event_seq: int
    steps: dict[str, int]
    log_seq: int | None = Field(
        default=None, description="the run's last console line at subscription (run "
                                  "subscriptions; null for a project)")


class Subscribed(_Msg):
    type: Literal["subscribed"]
    run_id: str | None = None
    project: str | None = None
    cursor: CursorOut


class Unsubscribed(_Msg):
    type: Literal["unsubscribed"]
    run_id: str | None = None
    project: str | None = None


class MetricUpdate(_Msg):
    type: Literal["metric_update"]
    run_id: str
    points: dict[str, list[tuple[int, float, Value]]] = Field(
        description="per key, new points as [step, time, value], by step"
    )


class LogMessage(_Msg):
    type: Literal["log"]
    run_id: str
    lines: list[LogLineOut] = Field(description="new console lines, by seq")


class StatusChange(_Msg):
    type: Literal["status_change"]
    run_id: str
    seq: int
    old_status: RunStatus | None
    new_status: RunStatus
    reason: str | None = None


class EventMessage(_Msg):
    type: Literal["event"]
    event: EventOut


class CommandUpdate(_Msg):
    type: Literal["command_update"]
    command: CommandOut


class CheckpointSaved(_Msg):
    type: Literal["checkpoint_saved"]
    run_id: str
    seq: int
    checkpoint: dict[str, Any]


class RunUpdate(_Msg):
    type: Literal["run_update"]
    run: RunOut


class RunDeleted(_Msg):
    type: Literal["run_deleted"]
    run_id: str


class ErrorMessage(_Msg):
    type: Literal["error"]
    code: str
    message: str


class Pong(_Msg):
    type: Literal["pong"]
    id: Any = None


ServerMessage = Annotated[
    Subscribed | Unsubscribed | MetricUpdate | LogMessage | StatusChange | EventMessage
    | CommandUpdate | CheckpointSaved | RunUpdate | RunDeleted | ErrorMessage | Pong
    | AlertMessage,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[Any] = TypeAdapter(ServerMessage)


def json_schema() -> dict[str, Any]:
    return {
        "client": CLIENT_MESSAGE.json_schema(),
        "server": SERVER_MESSAGE.json_schema(),
    }


# -- building server messages (the hub writes plain dicts, for speed) ---------------------


#: A point as a ``metric_update`` carries it: step, time, value (non-finite values spelled).
Triple = tuple[int, float, float | str]


def point_triples(p: Points) -> list[Triple]:
    return list(zip(p.steps.tolist(), p.times.tolist(), float_list(p.values), strict=True))


def event_messages(event: Event) -> list[dict[str, Any]]:
    """The messages one event becomes: always ``event``, plus a typed one for some kinds."""
    out: list[dict[str, Any]] = [{"type": "event", "event": event.to_dict()}]
    if event.kind == "status_change":
        msg = {
            "type": "status_change", "run_id": event.run_id, "seq": event.seq,
            "old_status": event.payload.get("old_status"),
            "new_status": event.payload.get("new_status"),
        }
        if "reason" in event.payload:
            msg["reason"] = event.payload["reason"]
        out.append(msg)
    elif event.kind == "checkpoint_saved":
        out.append({"type": "checkpoint_saved", "run_id": event.run_id, "seq": event.seq,
                    "checkpoint": event.payload})
    return out
