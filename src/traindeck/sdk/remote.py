"""The remote backend: a run on a traindeck server (``TRAINDECK_URL`` / ``init(url=...)``),
or offline (``TRAINDECK_MODE=offline``).

Every change (points, summary, heartbeat, status, config, events, command results, console
lines, images, checkpoint records) becomes a batch appended to the run's durable spool
(``runs/<id>/spool/``, fsynced; see ``spool.py``) before the call returns. The process's
sender for the server (``courier.py``, one for all its runs) posts the spooled batches,
oldest first, to ``POST /api/runs/{id}/batch`` (with other runs of the process: all in
one ``POST /api/batches``; several batches in one request when more than one waits;
after a slow answer it waits a little first, so that a busy server gets fewer, bigger
requests) and acknowledges each in the spool only once the server answered 2xx; failures
back off exponentially with jitter (``transport.backoff``, capped well below the run's
heartbeat timeout) and never drop anything. A command thread long-polls
``POST /api/runs/{id}/commands/deliver`` (held up to ``COMMAND_WAIT`` seconds: a run costs
the server one request every ``COMMAND_WAIT`` while no command comes; the server answers at
once when one is posted, and when the run ends). After a failed poll it asks with no wait,
so that its first answer after an outage comes at once and cuts the sender's backoff
short: the run's heartbeat reaches a server as soon as it is back.
Offline, nothing is sent: the spool waits for ``traindeck sync``, which posts the same
batches.

Each batch carries an id (``<spool uid>:<seq>``) that the server keeps, so a batch re-sent
after a lost answer is applied once. Checkpoint records carry their own id too.

A rank above 0 of a distributed job (``ranks.py``) keeps its own spool,
``<dir>/rank{r}/runs/<id>/spool/`` (``traindeck sync`` finds it like any other), and does
not long-poll: it reads the run's command list (``GET /api/runs/{id}/commands``) so that it
sees every command whatever rank 0 did with it.

The few reads (the run's record, its last steps, its checkpoints: what resuming needs)
are HTTP requests; checkpoints recorded by this process and not yet acknowledged are
merged in from memory.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from ..runfiles import RunFiles
from ..store import TERMINAL_STATUSES, Checkpoint, Command, NotFound, Run
from ..store.batch_schema import (
    BatchBody,
    CommandResultBody,
    DeletedBody,
    EventBody,
    MediaBody,
    RunFields,
)
from ..store.codec import jsonable
from . import artifacts
from .backend import CheckpointEntry, MediaFile, Progress, Series
from .courier import Couriers, Lane
from .policy import FailurePolicy
from .ranks import CommandFollower
from .remote_reads import READ_TIMEOUT, Reader, checkpoint_from, command_from, run_from
from .spool import Spool
from .transport import MAX_BATCH_LINES, auth_headers, dumps_batch, encode_metrics

#: Seconds a finishing run waits for its spool to reach the server.
DRAIN_TIMEOUT: Final = 10.0
#: Seconds the server may hold a command long-poll. It answers at once when a command
#: comes, and when the run's final status reaches it (so a finished run's poller, a daemon
#: thread, is gone soon after). Not longer: a poll through an SSH forward to a server
#: that went away hangs until its read timeout (``COMMAND_WAIT + 10``), and only its first
#: answer after the outage cuts the sender's backoff short (25 s left a restarted server's
#: run with batches still spooled when it finished).
COMMAND_WAIT: Final = 5.0
#: The longest poll wait a script may ask for (the server's limit).
MAX_COMMAND_WAIT: Final = 30.0
#: Seconds between a follower rank's reads of the run's commands, and how many it reads.
FOLLOW_INTERVAL: Final = 0.5
FOLLOW_LIMIT: Final = 50


def command_wait_from(value: str | None) -> float:
    """``TRAINDECK_COMMAND_WAIT``: seconds, above 0 and at most ``MAX_COMMAND_WAIT``;
    unset or empty: ``COMMAND_WAIT``."""
    if value is None or not value.strip():
        return COMMAND_WAIT
    try:
        wait = float(value)
    except ValueError:
        wait = float("nan")
    if not 0 < wait <= MAX_COMMAND_WAIT:
        raise ValueError(f"TRAINDECK_COMMAND_WAIT must be seconds in (0, {MAX_COMMAND_WAIT:g}],"
                         f" got {value!r}")
    return wait


class RemoteBackend:
    """One run on a server, through its spool (see the module docstring). ``rank``: this
    process's rank in its job; above 0, its own spool and commands read, not taken.
    ``couriers``: the process's senders, one a server, shared by its runs (by default a
    sender of its own)."""

    def __init__(self, run_id: str, files: RunFiles, *, url: str | None, token: str | None,
                 policy: FailurePolicy, heartbeat_timeout: float | None = None,
                 drain_timeout: float = DRAIN_TIMEOUT, rank: int = 0,
                 couriers: Couriers | None = None,
                 command_wait: float = COMMAND_WAIT) -> None:
        self._run_id = run_id
        self.command_wait = command_wait
        self.reader = Reader(url, token)
        self.url = self.reader.url
        self.token = token
        self.policy = policy
        self.heartbeat_timeout = heartbeat_timeout
        self.drain_timeout = drain_timeout
        folder = (files if rank == 0 else RunFiles(files.root / f"rank{rank}")).spool(run_id)
        self.spool = Spool(folder)
        if self.spool.repaired:
            policy.report("opening the spool", OSError(
                f"{self.spool.repaired} bytes of a torn last batch were cut from {folder}"),
                raise_in_strict=False)
        self._lane = Lane(run_id, self.spool, policy, heartbeat_timeout)
        self._lock = self._lane.lock  # the spool
        self._courier = (None if self.url is None
                         else (couriers or Couriers()).get(self.url, token))
        self._stop = threading.Event()
        #: A final status is spooled: the command thread ends with its next answer.
        self._ended = threading.Event()
        self._commands: deque[Command] = deque()
        self._follower = CommandFollower() if rank > 0 else None
        self._follow_lock = threading.Lock()  # start_following and the follow thread
        # Checkpoints recorded here, until the server lists them; ids deleted here.
        self._checkpoints: dict[str, Checkpoint] = {}
        self._deleted: set[str] = set()
        self._best: str | None = None  # the last best mark made here
        self._ck_lock = threading.Lock()
        self._closed = False
        if self._courier is not None:
            self._courier.join(self._lane)
            commands = self._command_loop if self._follower is None else self._follow_loop
            threading.Thread(target=commands, name=f"traindeck-commands-{run_id}",
                             daemon=True).start()

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def sent(self) -> int:
        """Batches the server acknowledged."""
        return self._lane.sent

    @property
    def failures(self) -> int:
        """Requests that got no answer (retried)."""
        return self._lane.failures

    # -- reads ---------------------------------------------------------------------------

    def read_run(self) -> Run | None:
        try:
            return run_from(self.reader.get(f"/api/runs/{self._run_id}"))
        except NotFound:
            return None

    def progress(self) -> Progress:
        step = system_step = 0
        try:
            data = self.reader.get(f"/api/runs/{self._run_id}/metrics")
        except NotFound:
            return Progress()
        for m in data.get("metrics", []):
            last = m.get("last_step")
            if last is None:
                continue
            if str(m.get("key", "")).startswith("sys/"):
                system_step = max(system_step, last + 1)
            else:
                step = max(step, last + 1)
        return Progress(step, system_step)

    def list_checkpoints(self) -> list[Checkpoint]:
        listed: list[Checkpoint] = []
        try:
            data = self.reader.get(f"/api/runs/{self._run_id}/checkpoints",
                                   {"limit": 10000})
            listed = [checkpoint_from(c) for c in data.get("checkpoints", [])]
        except NotFound:
            pass
        except Exception as exc:
            self.policy.report("asking the server for the run's checkpoints", exc,
                               raise_in_strict=False)
        with self._ck_lock:
            mine = dict(self._checkpoints)
            deleted = set(self._deleted)
            best = self._best
        out = {c.id: c for c in listed if c.id not in deleted}
        if best is not None:
            # A best mark made here is newer than what the server may show yet.
            out = {i: dataclasses.replace(c, is_best=i == best) for i, c in out.items()}
        out.update((i, c) for i, c in mine.items() if i not in deleted)
        return sorted(out.values(), key=lambda c: (c.step, c.created_at), reverse=True)

    # -- writes: spooled -----------------------------------------------------------------

    def append(self, body: BatchBody) -> int:
        """Spool one batch (every body is built as a ``BatchBody``: the schema the server
        checks, ``store/batch_schema.py``); its sequence number."""
        with self._lock:
            seq = self.spool.next_seq
            body["batch_id"] = f"{self.spool.uid}:{seq}"
            self.spool.append(dumps_batch(body))
        if self._courier is not None:
            self._courier.wake()
        return seq

    def create_run(self, fields: Mapping[str, Any]) -> Run:
        now = time.time()
        record: RunFields = jsonable(dict(fields))
        if record.get("name") is None:
            record["name"] = self._run_id
        self.append({"run": record, "status": "running", "heartbeat": now})
        return run_from({"id": self._run_id, "status": "running", "created_at": now,
                          "started_at": now, "heartbeat_at": now, **record})

    def update_run(self, fields: Mapping[str, Any]) -> None:
        self.append({"update": jsonable(dict(fields))})

    def set_status(self, status: str) -> None:
        if status in TERMINAL_STATUSES:
            self._ended.set()  # before the batch can reach the server and end the poll
        self.append({"status": status})

    def add_event(self, kind: str, payload: Mapping[str, Any]) -> None:
        event: EventBody = {"kind": kind, "payload": jsonable(dict(payload))}
        self.append({"events": [event]})

    def write_points(self, series: Series, *, summary: dict[str, Any] | None,
                     heartbeat: float | None) -> None:
        parts = encode_metrics(series)
        for i, (metrics, _) in enumerate(parts):
            body: BatchBody = {}
            if metrics:
                body["metrics"] = metrics
            if i == len(parts) - 1:
                if summary is not None:
                    body["summary"] = summary
                if heartbeat is not None:
                    body["heartbeat"] = heartbeat
            if body:
                self.append(body)

    def write_logs(self, lines: list[tuple[float, str, str]]) -> None:
        for i in range(0, len(lines), MAX_BATCH_LINES):
            self.append({"logs": [list(x) for x in lines[i:i + MAX_BATCH_LINES]]})

    def write_media(self, media: MediaFile) -> None:
        # The bytes travel inside the batch (base64): as durable as the points, retried
        # like them, applied once, and carried by ``traindeck sync`` too.
        item: MediaBody = {"key": media.key, "step": media.step, "filename": media.filename,
                           "caption": media.caption,
                           "data": base64.b64encode(media.data).decode("ascii")}
        self.append({"media": [item]})

    def upload_artifact(self, path: str, local: Path) -> None:
        if self.url is not None:  # offline: the copy stays in the local run folder
            artifacts.upload(self.url, self.token, self._run_id, path, local)

    def add_checkpoint(self, entry: CheckpointEntry) -> None:
        self.append({"checkpoints": [entry.to_wire()]})
        ck = Checkpoint(id=entry.id, run_id=self._run_id, step=entry.step, path=entry.path,
                        kind=entry.kind, metrics=entry.metrics, metadata=entry.metadata,
                        size=entry.size, sha256=entry.sha256, created_at=time.time(),
                        host=entry.host, is_best=entry.is_best, valid=None)
        with self._ck_lock:
            if entry.is_best:
                for i, c in self._checkpoints.items():
                    if c.is_best:
                        self._checkpoints[i] = dataclasses.replace(c, is_best=False)
                self._best = entry.id
            self._checkpoints[entry.id] = ck

    def mark_best(self, ck_id: str) -> None:
        self.append({"checkpoint_best": ck_id})
        with self._ck_lock:
            for i, c in self._checkpoints.items():
                self._checkpoints[i] = dataclasses.replace(c, is_best=i == ck_id)
            self._best = ck_id

    def set_checkpoint_valid(self, ck_id: str, valid: bool, reason: str | None) -> None:
        # The server cannot see this host's files; the verdict is kept here only.
        with self._ck_lock:
            c = self._checkpoints.get(ck_id)
            if c is not None:
                self._checkpoints[ck_id] = dataclasses.replace(c, valid=valid)

    def delete_checkpoint(self, ck_id: str, reason: str) -> None:
        deleted: DeletedBody = {"id": ck_id, "reason": reason}
        self.append({"checkpoints_deleted": [deleted]})
        with self._ck_lock:
            self._deleted.add(ck_id)
            self._checkpoints.pop(ck_id, None)

    def finish_command(self, cmd_id: str, *, ok: bool, result: Any,
                       error: str | None) -> None:
        done: CommandResultBody = {"id": cmd_id, "ok": ok, "result": jsonable(result),
                                   "error": error}
        self.append({"command_results": [done]})

    def take_commands(self) -> list[Command]:
        out = []
        while self._commands:
            out.append(self._commands.popleft())
        return out

    # -- the end -------------------------------------------------------------------------

    def pull_with(self, pull: Callable[[], threading.Event]) -> None:
        self._lane.pull = pull

    @property
    def drained(self) -> bool:
        return self.url is None or len(self.spool) == 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        courier = self._courier
        if courier is not None:
            deadline = time.monotonic() + self.drain_timeout
            next_retry = 0.0
            while len(self.spool) and time.monotonic() < deadline:
                if time.monotonic() >= next_retry:  # finishing: no long backoff now
                    next_retry = time.monotonic() + 1.0
                    courier.retry()
                courier.hurry()
                time.sleep(0.02)
            courier.leave(self._lane)
        self._stop.set()
        with self._lock:
            left = len(self.spool)
            self._lane.closed = True
            self.spool.close()
        if left:
            where = self.spool.folder
            if self.url is None:
                msg = (f"traindeck: run {self._run_id} was recorded offline in {where}; "
                       f"upload it with: traindeck sync {where} --url URL")
            else:
                msg = (f"traindeck: {left} batches of run {self._run_id} did not reach "
                       f"{self.url}; they are kept in {where}; upload them with: "
                       f"traindeck sync {where} --url {self.url}")
            try:
                print(msg, file=sys.stderr, flush=True)
            except Exception:
                pass

    # -- commands ------------------------------------------------------------------------

    def _client(self, timeout: float) -> httpx.Client:
        return httpx.Client(headers=auth_headers(self.token),
                            timeout=httpx.Timeout(timeout, connect=5.0))

    def _command_loop(self) -> None:
        assert self.url is not None
        attempt = 0
        cap = 5.0 if self.heartbeat_timeout is None else min(5.0, self.heartbeat_timeout / 8)
        with self._client(self.command_wait + 10.0) as client:
            while not (self._stop.is_set() or self._ended.is_set()):
                try:
                    resp = client.post(  # after a failure: answered at once (see above)
                        f"{self.url}/api/runs/{self._run_id}/commands/deliver",
                        params={"wait": 0 if attempt else self.command_wait})
                    resp.raise_for_status()
                    self._commands.extend(command_from(c) for c in resp.json()["commands"])
                    if attempt and self._courier is not None:
                        self._courier.retry()  # the server is back: send what waits now
                    attempt = 0
                except Exception:
                    # The run may not have reached the server yet, or the server is away:
                    # the sender reports that; here only wait and ask again.
                    attempt += 1
                    if self._stop.wait(min(0.25 * 2 ** (attempt - 1), cap)):
                        return


    def start_following(self) -> None:
        if self._follower is not None and self.url is not None:
            with self._client(READ_TIMEOUT) as client:
                self._follow(client)

    def _follow(self, client: httpx.Client) -> None:
        """Read the run's newest commands; queue those this rank has still to run."""
        assert self._follower is not None
        try:
            resp = client.get(f"{self.url}/api/runs/{self._run_id}/commands",
                              params={"limit": FOLLOW_LIMIT})
            resp.raise_for_status()
            listed = [command_from(c) for c in resp.json()["commands"]]
        except Exception:
            return  # not there yet, or the server is away: the sender says so
        with self._follow_lock:
            self._commands.extend(self._follower.new(listed))

    def _follow_loop(self) -> None:
        """A rank above 0: read the run's newest commands every ``FOLLOW_INTERVAL``."""
        with self._client(READ_TIMEOUT) as client:
            while not self._stop.wait(FOLLOW_INTERVAL):
                self._follow(client)


class RemoteLocator:
    """Runs on one server (or offline). Finding a run by name asks the server."""

    def __init__(self, files: RunFiles, *, url: str | None, token: str | None,
                 policy: FailurePolicy, heartbeat_timeout: float | None = None,
                 couriers: Couriers | None = None,
                 command_wait: float = COMMAND_WAIT) -> None:
        self._files = files
        self.command_wait = command_wait
        self._couriers = couriers or Couriers()
        self.reader = Reader(url, token)
        self.url = url
        self.token = token
        self.policy = policy
        self.heartbeat_timeout = heartbeat_timeout

    @property
    def files(self) -> RunFiles:
        return self._files

    def find_run(self, project: str, name: str) -> str | None:
        try:
            # ``q`` is a query: the name quoted is one plain word, whatever it holds.
            quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            data = self.reader.get("/api/runs", {"project": project, "q": quoted,
                                                 "limit": 1000, "sort": "created_at",
                                                 "order": "desc"})
        except NotFound:
            return None
        return next((r["id"] for r in data.get("runs", []) if r.get("name") == name), None)

    def backend(self, run_id: str, *, rank: int = 0) -> RemoteBackend:
        return RemoteBackend(run_id, self._files, url=self.url, token=self.token,
                             policy=self.policy, heartbeat_timeout=self.heartbeat_timeout,
                             rank=rank, couriers=self._couriers,
                             command_wait=self.command_wait)

    def close(self) -> None:
        pass
