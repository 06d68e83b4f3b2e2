"""Remote SDK writes: one batch per request, applied exactly once; command delivery.

``POST /api/runs/{run_id}/batch`` takes one JSON object (see :func:`parse_batch` and
docs/api.md)::

    {"batch_id": "3f2a…:17",
     "run": {"project": "mnist", "name": "baseline", "config": {…}, …},   # upsert
     "update": {"config": {…}, "commands_offered": […]},                  # run fields
     "metrics": {"loss": {"steps": [0, 1], "times": [t0, t1], "values": [0.5, "NaN"]}},
     "summary": {…}, "heartbeat": 1732460000.1,
     "events": [{"kind": "signal", "payload": {…}}],
     "command_results": [{"id": "…", "ok": true, "result": {…}, "error": null}],
     "logs": [[1732460000.2, "stdout", "epoch 1 done"]],                   # console lines
     "media": [{"key": "samples", "step": 10, "filename": "10_0.png",
                "caption": "…", "data": "<base64 of the file>"}],
     "status": "completed"}

The body may also be an array of such batches (the SDK sends a backlog that way), applied
in order in one transaction; the answer is then ``{"batches": n, "applied": k}``.
Every field but ``batch_id`` is optional; they are applied in that order, all in one
transaction, together with the batch id (the store's ``batches`` table): a batch the SDK
sends again after a lost answer is acknowledged without being applied twice
(``{"applied": false}``), and a server killed mid-batch applied none of it.

``POST /api/runs/{run_id}/commands/deliver?wait=S`` hands the run's pending commands to
its script (marking them delivered), waiting up to ``S`` seconds for one to arrive.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Annotated, Any, Final

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from traindeck.store import (
    RUN_STATUSES,
    Conflict,
    InvalidInput,
    NotFound,
    SQLiteStore,
)
from traindeck.store.codec import NONFINITE_NAMES

from ..deps import StoreDep, json_response
from ..errors import ERROR_RESPONSES
from .media import decode_data, save_media

router = APIRouter(prefix="/api", tags=["batch"], responses=ERROR_RESPONSES)

#: Run fields a batch may set (``run`` upsert and ``update``).
RUN_FIELDS: Final = frozenset({
    "project", "name", "config", "tags", "notes", "started_at", "heartbeat_timeout", "host",
    "pid", "command", "git_commit", "git_dirty", "env", "commands_offered", "launch_spec",
})
#: The longest ``wait`` of a command long-poll (seconds).
MAX_WAIT: Final = 30.0
_NUMBER_TYPES: Final = frozenset({float, int})


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"batch field {name!r} must be an object")
    return value


def _column(key: str, name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"metric {key!r}: {name!r} must be an array")
    return value


def _values(key: str, raw: list[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    types = set(map(type, raw))
    if types <= _NUMBER_TYPES:
        return np.array(raw, dtype=np.float64)
    if not types <= _NUMBER_TYPES | {str}:
        raise InvalidInput(f"metric {key!r}: values are numbers or 'NaN', 'Infinity', "
                           "'-Infinity'")
    out = np.empty(len(raw), dtype=np.float64)
    for i, v in enumerate(raw):
        if v.__class__ is str:
            try:
                out[i] = NONFINITE_NAMES[v]
            except KeyError:
                raise InvalidInput(f"metric {key!r}: value {v!r:.40} is not a number") from None
        else:
            out[i] = v
    return out


def _steps(key: str, raw: list[Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    if not set(map(type, raw)) <= {int}:
        raise InvalidInput(f"metric {key!r}: steps must be integers")
    try:
        return np.array(raw, dtype=np.int64)
    except OverflowError:
        raise InvalidInput(f"metric {key!r}: a step does not fit in 64 bits") from None


def _times(key: str, raw: list[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    if not set(map(type, raw)) <= _NUMBER_TYPES:
        raise InvalidInput(f"metric {key!r}: times must be numbers")
    return np.array(raw, dtype=np.float64)


def parse_body(data: bytes) -> list[dict[str, Any]] | dict[str, Any]:
    """A request's batch (an object) or batches (an array of them), checked."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the batch is not JSON: {exc}") from None
    if isinstance(body, list):
        if not body:
            raise InvalidInput("an array of batches holds at least one")
        return [check_batch(b) for b in body]
    return check_batch(body)


def parse_batch(data: bytes) -> dict[str, Any]:
    """One batch (JSON bytes) as plain values, checked."""
    batch = parse_body(data)
    if isinstance(batch, list):
        raise InvalidInput("one batch is a JSON object")
    return batch


def check_batch(body: Any) -> dict[str, Any]:
    """The batch as plain values, checked; ``InvalidInput`` (422) says what is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("a batch is a JSON object")
    unknown = set(body) - {"batch_id", "run", "update", "metrics", "summary", "heartbeat",
                           "events", "command_results", "logs", "media", "status"}
    if unknown:
        raise InvalidInput(f"unknown batch fields: {sorted(unknown)}")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 200:
        raise InvalidInput("batch_id is a string of 1 to 200 characters")
    out: dict[str, Any] = {"batch_id": batch_id}
    for name in ("run", "update"):
        fields = _object(body, name)
        if fields is not None:
            bad = set(fields) - RUN_FIELDS
            if bad:
                raise InvalidInput(f"batch {name!r}: unknown run fields {sorted(bad)}")
            out[name] = fields
    if "run" in out and not isinstance(out["run"].get("project"), str):
        raise InvalidInput("batch 'run' needs a 'project' string")
    series: dict[str, tuple[Any, Any, Any]] = {}
    for key, col in (_object(body, "metrics") or {}).items():
        if not isinstance(col, dict):
            raise InvalidInput(f"metric {key!r}: give {{steps, times, values}}")
        if not key or len(key) > 256:
            raise InvalidInput(f"metric names are 1 to 256 characters, got {key!r:.80}")
        steps = _steps(key, _column(key, "steps", col.get("steps")))
        times = _times(key, _column(key, "times", col.get("times")))
        values = _values(key, _column(key, "values", col.get("values")))
        if not len(steps) == len(times) == len(values):
            raise InvalidInput(f"metric {key!r}: steps, times and values differ in length")
        series[key] = (steps, times, values)
    out["metrics"] = series
    summary = _object(body, "summary")
    if summary is not None:
        out["summary"] = summary
    hb = body.get("heartbeat")
    if hb is not None:
        if not isinstance(hb, int | float) or isinstance(hb, bool) or not math.isfinite(hb):
            raise InvalidInput("heartbeat is a finite number (seconds since the epoch)")
        out["heartbeat"] = float(hb)
    events = body.get("events") or []
    if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("kind"), str)
            and isinstance(e.get("payload", {}), dict) for e in events):
        raise InvalidInput("events is an array of {kind, payload}")
    out["events"] = events
    results = body.get("command_results") or []
    if not isinstance(results, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), str) for r in results):
        raise InvalidInput("command_results is an array of {id, ok, result, error}")
    out["command_results"] = results
    out["logs"] = _logs(body.get("logs") or [])
    out["media"] = _media(body.get("media") or [])
    status = body.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}; one of {', '.join(RUN_STATUSES)}")
    out["status"] = status
    return out


def _logs(raw: Any) -> list[tuple[float, str, str]]:
    if not isinstance(raw, list):
        raise InvalidInput("logs is an array of [time, stream, text]")
    out = []
    for line in raw:
        if (not isinstance(line, list) or len(line) != 3
                or not isinstance(line[0], int | float) or isinstance(line[0], bool)
                or not math.isfinite(line[0]) or line[1] not in ("stdout", "stderr")
                or not isinstance(line[2], str)):
            raise InvalidInput("logs is an array of [time, 'stdout'|'stderr', text]")
        out.append((float(line[0]), line[1], line[2]))
    return out


def _media(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InvalidInput("media is an array of {key, step, filename, caption, data}")
    out = []
    for m in raw:
        if (not isinstance(m, dict) or not isinstance(m.get("key"), str)
                or type(m.get("step")) is not int or not isinstance(m.get("filename"), str)
                or not isinstance(m.get("caption"), str | None)):
            raise InvalidInput("media is an array of {key, step, filename, caption, data}")
        out.append({"key": m["key"], "step": m["step"], "filename": m["filename"],
                    "caption": m.get("caption"), "data": decode_data(m.get("data"))})
    return out


def apply_batch(store: SQLiteStore, run_id: str, batch: dict[str, Any]) -> bool:
    """Apply a parsed batch once, all of it in one transaction; False when it was applied
    before (then nothing changes)."""
    batch_id = batch["batch_id"]
    with store.write() as tx:
        exists = tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
        if exists and tx.execute("SELECT 1 FROM batches WHERE run_id = ? AND batch_id = ?",
                                 (run_id, batch_id)).fetchone():
            return False
        fields = batch.get("run")
        if not exists:
            if fields is None:
                raise NotFound(f"no run {run_id!r} (a first batch carries 'run' to create it)")
            fields = dict(fields)
            project = fields.pop("project")
            name = fields.pop("name", None)
            fields.pop("started_at", None)
            store.create_run(project=project, name=name, id=run_id, **fields)
        update = batch.get("update")
        if update:
            store.update_run(run_id, **update)
        store.write_metrics(run_id, batch["metrics"], summary=batch.get("summary"),
                            replace_summary=True, heartbeat=_heard(store, batch),
                            batch_id=batch_id)
        for event in batch["events"]:
            store.add_event(run_id, event["kind"], event.get("payload") or {})
        if batch["logs"]:
            store.write_log_lines(run_id, batch["logs"])
        for m in batch["media"]:
            save_media(store, run_id, **m)
        for result in batch["command_results"]:
            try:
                store.finish_command(result["id"], ok=bool(result.get("ok")),
                                     result=result.get("result"), error=result.get("error"))
            except (Conflict, NotFound):
                pass  # expired meanwhile, or deleted: the answer has no one to go to
        if batch["status"] is not None:
            store.set_status(run_id, batch["status"])
    return True


def _heard(store: SQLiteStore, batch: dict[str, Any]) -> float | None:
    """The heartbeat a batch stands for, on the SERVER's clock: the reaper compares it with
    that clock, and a training host's clock may be skewed or jump (its value is only
    checked, never stored)."""
    return store.clock() if batch.get("heartbeat") is not None else None


def _simple(batch: dict[str, Any]) -> bool:
    """Only points, summary and heartbeat: such neighbours can be written as one."""
    return ("run" not in batch and "update" not in batch and not batch["events"]
            and not batch["command_results"] and batch["status"] is None
            and not batch["logs"] and not batch["media"])


def apply_batches(store: SQLiteStore, run_id: str, batches: list[dict[str, Any]]) -> int:
    """Apply several batches in order, in one transaction; returns how many were new.

    Neighbouring batches of only points (the backlog of a long outage) are merged into one
    write: later points of a (key, step) win, as if written one after the other."""
    applied = 0
    group: list[dict[str, Any]] = []
    with store.write() as tx:

        def write_group() -> None:
            nonlocal applied
            if not group:
                return
            cols: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
            summary = heartbeat = None
            for b in group:
                for key, (steps, times, values) in b["metrics"].items():
                    col = cols.setdefault(key, ([], [], []))
                    col[0].append(steps)
                    col[1].append(times)
                    col[2].append(values)
                summary = b.get("summary", summary)
                heartbeat = _heard(store, b) or heartbeat
            series = {k: (np.concatenate(s), np.concatenate(t), np.concatenate(v))
                      for k, (s, t, v) in cols.items()}
            store.write_metrics(run_id, series, summary=summary, replace_summary=True,
                                heartbeat=heartbeat)
            now = store.clock()
            tx.conn.executemany(
                "INSERT INTO batches (run_id, batch_id, applied_at) VALUES (?, ?, ?)",
                [(run_id, b["batch_id"], now) for b in group])
            applied += len(group)
            group.clear()

        seen: set[str] = set()
        for batch in batches:
            batch_id = batch["batch_id"]
            if batch_id in seen or tx.execute(
                    "SELECT 1 FROM batches WHERE run_id = ? AND batch_id = ?",
                    (run_id, batch_id)).fetchone():
                continue
            seen.add(batch_id)
            if _simple(batch) and tx.execute("SELECT 1 FROM runs WHERE id = ?",
                                             (run_id,)).fetchone():
                group.append(batch)
                continue
            write_group()
            applied += apply_batch(store, run_id, batch)
        write_group()
    return applied


@router.post("/runs/{run_id}/batch", summary="Write a batch from the SDK (exactly once)",
             response_description="{batch_id, applied}")
async def write_batch(run_id: str, request: Request, store: StoreDep) -> Response:
    data = await request.body()

    def work() -> dict[str, Any]:
        parsed = parse_body(data)
        if isinstance(parsed, dict):
            return {"batch_id": parsed["batch_id"],
                    "applied": apply_batch(store, run_id, parsed)}
        return {"batches": len(parsed), "applied": apply_batches(store, run_id, parsed)}

    return json_response(await run_in_threadpool(work))


@router.post("/runs/{run_id}/commands/deliver",
             summary="Hand pending commands to the run's script (long-poll)")
async def deliver_commands(
    run_id: str,
    request: Request,
    store: StoreDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
) -> Response:
    await run_in_threadpool(store.get_run, run_id)  # unknown run: 404
    deadline = time.monotonic() + wait
    while True:
        commands = await run_in_threadpool(store.take_pending_commands, run_id)
        if commands or time.monotonic() >= deadline:
            return json_response({"commands": [c.to_dict() for c in commands]})
        if await request.is_disconnected():  # the script went away: stop waiting
            return json_response({"commands": []})
        await asyncio.sleep(0.05)
