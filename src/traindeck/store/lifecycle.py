"""How runs and commands move between statuses, for every engine (no SQL here).

A run is created ``running`` (or queued); a live status (running, paused) means a process
should be heartbeating; a terminal one (completed, failed, cancelled, interrupted) stamps
``ended_at`` and expires the run's open commands. A run reaped for a lost heartbeat comes
back to the status it had when its heartbeat resumes. A command goes pending → delivered
→ done/failed, and any open command may expire (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .errors import Conflict, InvalidInput
from .models import COMMAND_TRANSITIONS, LIVE_STATUSES, RUN_STATUSES, TERMINAL_STATUSES, Run

#: Run fields stored as JSON.
JSON_RUN_FIELDS: Final = frozenset(
    {"config", "tags", "env", "commands_offered", "summary", "launch_spec"}
)
#: Run fields a caller may set (the status goes through ``set_status``).
UPDATABLE_RUN_FIELDS: Final = frozenset(
    {
        "project", "name", "config", "tags", "notes", "started_at", "ended_at", "heartbeat_at",
        "heartbeat_timeout", "host", "pid", "command", "git_commit", "git_dirty", "env",
        "commands_offered", "summary", "launch_spec", "exit_code", "total_steps",
    }
)
#: What a lost heartbeat writes in its ``status_change`` event.
HEARTBEAT_LOST: Final = "heartbeat lost"


def check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")


def check_fields(fields: Mapping[str, Any], verb: str = "update") -> None:
    unknown = set(fields) - UPDATABLE_RUN_FIELDS
    if unknown:
        raise InvalidInput(f"cannot {verb} run fields {sorted(unknown)}")
    if not valid_total(fields.get("total_steps")):
        raise InvalidInput(f"total_steps must be a positive integer or null, not "
                           f"{fields['total_steps']!r}")


def valid_total(value: Any) -> bool:
    """Whether ``value`` can be a run's ``total_steps``: a positive integer, or None."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and 0 < value < 2**63)


def new_run_fields(run_id: str, project: str, name: str | None, status: str, now: float,
                   fields: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of a new run: a live one starts (and heartbeats) now."""
    values: dict[str, Any] = {
        "id": run_id, "project": project, "name": name or run_id, "status": status,
        "created_at": now,
    }
    if status in LIVE_STATUSES:
        values["started_at"] = now
        values["heartbeat_at"] = now
    values.update(fields)
    return values


def status_fields(old: Run, status: str, now: float, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a move of ``old`` to ``status`` sets besides ``fields`` (which win)."""
    out = dict(fields)
    if status != "running":
        out.setdefault("eta_s", None)  # an ETA only while running (``speed.estimate``)
    if status in TERMINAL_STATUSES and old.ended_at is None:
        out.setdefault("ended_at", now)
    if status in LIVE_STATUSES:
        out.setdefault("heartbeat_at", now)
        if old.status not in LIVE_STATUSES:
            out.setdefault("ended_at", None)
        if old.started_at is None:
            out.setdefault("started_at", now)
    return out


def expires_commands(old_status: str, status: str) -> bool:
    """Whether a move ends the run's open commands."""
    return old_status != status and status in TERMINAL_STATUSES


def revived_status(last_change: Mapping[str, Any]) -> str | None:
    """The status a heartbeat brings a run back to, given its last ``status_change``
    payload; ``None`` unless that change was a reap for a lost heartbeat."""
    if (last_change.get("reason") != HEARTBEAT_LOST
            or last_change.get("new_status") != "interrupted"):
        return None
    old = last_change.get("old_status")
    return old if isinstance(old, str) and old in LIVE_STATUSES else "running"


def merge_summary(old: Mapping[str, Any], new: Mapping[str, Any], replace: bool) -> dict[str, Any]:
    """A run's summary after a write: the new values win key by key, or replace all."""
    return dict(new) if replace else {**old, **new}


def check_command_transition(cmd_id: str, old: str, new: str) -> None:
    if new not in COMMAND_TRANSITIONS[old]:
        raise Conflict(f"command {cmd_id!r} is {old}; it cannot become {new}")


def command_time_column(status: str) -> str:
    """The time a command's move to ``status`` stamps."""
    return "delivered_at" if status == "delivered" else "finished_at"


def check_command_name(name: str) -> None:
    if not name or len(name) > 100:
        raise InvalidInput("a command name is 1 to 100 characters")
