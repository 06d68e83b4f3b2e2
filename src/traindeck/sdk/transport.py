"""Where a run's background thread writes: the store itself, or a server over HTTP.

The worker (``worker.py``) talks to a :class:`Sink`:

- :class:`StoreSink` (embedded): ``write`` is one store transaction; commands are read
  from the store.
- :class:`RemoteSink` (``TRAINDECK_URL`` / ``init(url=...)``, or ``TRAINDECK_MODE=offline``):
  ``write`` encodes the batch (compact JSON, non-finite floats spelled ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``) and appends it to the run's durable spool
  (``runs/<id>/spool/``, fsynced; see ``spool.py``) and returns. A sender thread posts the
  spooled batches, oldest first, to ``POST /api/runs/{id}/batch`` and acknowledges each in
  the spool only once the server answered 2xx; failures back off exponentially with jitter
  (1 s doubling to 30 s) and never drop anything. A command thread long-polls
  ``POST /api/runs/{id}/commands/deliver?wait=…``. Offline, nothing is sent: the spool
  waits for ``traindeck sync``.

The run and ``init()`` call store methods (create the run, set its status, save its
config, answer commands); :class:`RemoteStore` takes their place in remote mode and turns
each change into a spooled batch of its own, so that they are as durable as the points and
arrive in order with them.

Console lines (``write_logs``) and images (``write_media``) take the same two roads:
embedded, a store call (the image file is already under the run's folder); remote, a
spooled batch (``{"logs": [[time, stream, text], …]}``, ``{"media": [{key, step,
filename, caption, data}]}`` with the file's bytes in base64), retried and applied once
like the points, and uploaded by ``traindeck sync`` too.
"""

from __future__ import annotations

import base64
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import numpy as np
import orjson

from .._version import __version__
from ..store import Command, NotFound, Run, SeriesInfo, Store
from ..store.codec import float_list, jsonable
from .media import safe_name
from .policy import FailurePolicy
from .spool import Spool

#: Most points one spooled batch holds (a bigger flush becomes several batches): about
#: 0.9 MB of JSON, under the 1 MiB body limit common in front of servers (nginx).
MAX_BATCH_POINTS: Final = 25_000
#: Most console lines one spooled batch holds.
MAX_BATCH_LINES: Final = 5_000
#: Backoff of the sender: first wait, cap (seconds); each wait is jittered.
BACKOFF_FIRST: Final = 1.0
BACKOFF_MAX: Final = 30.0
#: Seconds a finishing run waits for its spool to reach the server.
DRAIN_TIMEOUT: Final = 10.0
#: Seconds the server may hold a command long-poll (it answers at once when one comes;
#: short so that a finished run's poller, a daemon thread, is gone soon after).
COMMAND_WAIT: Final = 1.0
#: Most spooled batches, and bytes, sent in one request (a backlog drains in big steps).
GROUP_BATCHES: Final = 512
GROUP_BYTES: Final = 16 * 1024 * 1024
#: Statuses after which the server refuses a batch for good (the batch goes aside).
REJECTED: Final = frozenset({400, 404, 409, 413, 422})

Series = Mapping[str, tuple[Any, Any, Any]]


class Sink(Protocol):
    """What the background thread writes to."""

    def write(self, run_id: str, series: Series, *, summary: dict[str, Any] | None,
              heartbeat: float | None) -> None:
        """Make the points durable (raises ``OSError``/``sqlite3.OperationalError`` for a
        passing failure: the caller keeps the points and tries again)."""

    def write_logs(self, run_id: str, lines: list[tuple[float, str, str]]) -> None:
        """Make console lines ``(time, stream, text)`` durable, in order (same failures as
        ``write``)."""

    def write_media(self, run_id: str, *, key: str, step: int, filename: str, data: bytes,
                    caption: str | None, width: int | None, height: int | None) -> None:
        """Record an image file (already written under the run's folder, embedded) and, for
        a server, send its bytes."""

    def poll_commands(self, run_id: str) -> list[Command]:
        """Commands that reached the run since the last call (marked delivered)."""

    @property
    def drained(self) -> bool:
        """Whether everything written has reached its final place."""

    def close(self) -> None:
        """Finish sending what can be sent, then let go of files and connections."""


class StoreSink:
    """Embedded: one store transaction per write."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, run_id: str, series: Series, *, summary: dict[str, Any] | None,
              heartbeat: float | None) -> None:
        self.store.write_metrics(run_id, series, summary=summary, replace_summary=True,
                                 heartbeat=heartbeat)

    def write_logs(self, run_id: str, lines: list[tuple[float, str, str]]) -> None:
        self.store.write_log_lines(run_id, lines)

    def write_media(self, run_id: str, *, key: str, step: int, filename: str, data: bytes,
                    caption: str | None, width: int | None, height: int | None) -> None:
        self.store.add_media(run_id, key=key, step=step,
                             path=f"media/{safe_name(key)}/{filename}", caption=caption,
                             width=width, height=height, size=len(data))

    def poll_commands(self, run_id: str) -> list[Command]:
        if self.store.has_pending_commands(run_id):
            return self.store.take_pending_commands(run_id)
        return []

    @property
    def drained(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _column(a: Any, dtype: Any) -> Any:
    arr = np.asarray(a, dtype=dtype)
    if dtype is np.float64 and not bool(np.isfinite(arr).all()):
        return float_list(arr)
    return arr


def encode_metrics(series: Series) -> list[tuple[dict[str, Any], int]]:
    """``{key: (steps, times, values)}`` as batch ``metrics`` objects of at most
    ``MAX_BATCH_POINTS`` points each: ``[(metrics, points), …]``."""
    out: list[tuple[dict[str, Any], int]] = []
    current: dict[str, Any] = {}
    count = 0
    for key, (steps, times, values) in series.items():
        n = len(steps)
        start = 0
        while start < n:
            take = min(n - start, MAX_BATCH_POINTS - count)
            end = start + take
            current[key] = {
                "steps": _column(steps[start:end], np.int64),
                "times": _column(times[start:end], np.float64),
                "values": _column(values[start:end], np.float64),
            }
            count += take
            start = end
            if count >= MAX_BATCH_POINTS:
                out.append((current, count))
                current, count = {}, 0
    if current or not out:
        out.append((current, count))
    return out


def dumps_batch(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def auth_headers(token: str | None) -> dict[str, str]:
    headers = {"user-agent": f"traindeck/{__version__}", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


class BatchRejected(Exception):
    """The server refused a batch for good (4xx): it is set aside, not retried."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


def post_batches(client: httpx.Client, url: str, run_id: str, payloads: list[bytes]) -> None:
    """Send spooled batches in one request (one batch: its object; several: a JSON array
    of them, applied by the server in one transaction). Returns once the server has them;
    raises ``BatchRejected`` for a refusal that retrying cannot fix,
    ``httpx.HTTPError``/``OSError`` otherwise."""
    body = payloads[0] if len(payloads) == 1 else b"[" + b",".join(payloads) + b"]"
    resp = client.post(f"{url}/api/runs/{run_id}/batch", content=body)
    if resp.status_code in REJECTED:
        raise BatchRejected(resp.status_code, resp.text[:300])
    resp.raise_for_status()


def set_aside(spool: Spool, seq: int, payload: bytes, why: str) -> Path:
    """Keep a refused batch in ``spool/rejected/`` (for a person to look at)."""
    folder = spool.folder / "rejected"
    folder.mkdir(exist_ok=True)
    path = folder / f"{seq:016d}.json"
    path.write_bytes(payload)
    (folder / f"{seq:016d}.why").write_text(why + "\n")
    return path


def backoff(attempt: int) -> float:
    """1 s doubling to 30 s, each with ±25 % jitter (``attempt`` counts from 1)."""
    base: float = min(BACKOFF_FIRST * 2.0 ** max(attempt - 1, 0), BACKOFF_MAX)
    return base * random.uniform(0.75, 1.25)


class RemoteSink:
    """Spool first, then send (see the module docstring). One per run."""

    def __init__(self, run_id: str, spool_dir: Path, *, url: str | None,
                 token: str | None, policy: FailurePolicy,
                 drain_timeout: float = DRAIN_TIMEOUT) -> None:
        self.run_id = run_id
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.policy = policy
        self.drain_timeout = drain_timeout
        self.spool = Spool(spool_dir)
        if self.spool.repaired:
            policy.report("opening the spool", OSError(
                f"{self.spool.repaired} bytes of a torn last batch were cut from "
                f"{spool_dir}"), raise_in_strict=False)
        self._lock = threading.Lock()  # the spool
        self._wake = threading.Event()
        self._retry = threading.Event()  # cut a backoff short
        self._stop = threading.Event()
        self._commands: deque[Command] = deque()
        self.sent = 0
        self.failures = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        if self.url is not None:
            for target, name in ((self._send_loop, "send"), (self._command_loop, "commands")):
                t = threading.Thread(target=target, name=f"traindeck-{name}-{run_id}",
                                     daemon=True)
                t.start()
                self._threads.append(t)

    # -- the worker's side -----------------------------------------------------------

    def append(self, body: dict[str, Any]) -> int:
        with self._lock:
            seq = self.spool.next_seq
            body["batch_id"] = f"{self.spool.uid}:{seq}"
            self.spool.append(dumps_batch(body))
        self._wake.set()
        return seq

    def write(self, run_id: str, series: Series, *, summary: dict[str, Any] | None,
              heartbeat: float | None) -> None:
        parts = encode_metrics(series)
        for i, (metrics, _) in enumerate(parts):
            body: dict[str, Any] = {}
            if metrics:
                body["metrics"] = metrics
            if i == len(parts) - 1:
                if summary is not None:
                    body["summary"] = summary
                if heartbeat is not None:
                    body["heartbeat"] = heartbeat
            if body:
                self.append(body)

    def write_logs(self, run_id: str, lines: list[tuple[float, str, str]]) -> None:
        for i in range(0, len(lines), MAX_BATCH_LINES):
            self.append({"logs": [list(x) for x in lines[i:i + MAX_BATCH_LINES]]})

    def write_media(self, run_id: str, *, key: str, step: int, filename: str, data: bytes,
                    caption: str | None, width: int | None, height: int | None) -> None:
        # The bytes travel inside the batch (base64): as durable as the points, retried
        # like them, applied once (the server keeps the batch id; the media route is
        # idempotent by run, key, step and file name), and ``traindeck sync`` carries them.
        self.append({"media": [{"key": key, "step": step, "filename": filename,
                                "caption": caption,
                                "data": base64.b64encode(data).decode("ascii")}]})

    def poll_commands(self, run_id: str) -> list[Command]:
        out = []
        while self._commands:
            out.append(self._commands.popleft())
        return out

    @property
    def drained(self) -> bool:
        return self.url is None or len(self.spool) == 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.url is not None:
            deadline = time.monotonic() + self.drain_timeout
            next_retry = 0.0
            while len(self.spool) and time.monotonic() < deadline:
                if time.monotonic() >= next_retry:  # finishing: no long backoff now
                    next_retry = time.monotonic() + 1.0
                    self._retry.set()
                self._wake.set()
                time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._retry.set()
        for t in self._threads:
            if t.name.startswith("traindeck-send"):
                t.join(timeout=5.0)
        left = len(self.spool)
        with self._lock:
            self.spool.close()
        if left:
            where = self.spool.folder
            if self.url is None:
                msg = (f"traindeck: run {self.run_id} was recorded offline in {where}; "
                       f"upload it with: traindeck sync {where} --url URL")
            else:
                msg = (f"traindeck: {left} batches of run {self.run_id} did not reach "
                       f"{self.url}; they are kept in {where}; upload them with: "
                       f"traindeck sync {where} --url {self.url}")
            try:
                print(msg, file=sys.stderr, flush=True)
            except Exception:
                pass

    # -- the sender thread ---------------------------------------------------------

    def _client(self, timeout: float) -> httpx.Client:
        return httpx.Client(headers=auth_headers(self.token),
                            timeout=httpx.Timeout(timeout, connect=5.0))

    def _send_loop(self) -> None:
        assert self.url is not None
        attempt = 0
        singly = 0  # after a refused group: send its batches one by one to find the bad one
        group_bytes = GROUP_BYTES  # smaller after a 413 (a proxy with a lower body limit)
        with self._client(60.0) as client:
            while not self._stop.is_set():
                with self._lock:
                    head = (self.spool.peek(1 if singly else GROUP_BATCHES, group_bytes)
                            if len(self.spool) else [])
                if not head:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                singly = max(singly - 1, 0)
                try:
                    post_batches(client, self.url, self.run_id, [p for _, p in head])
                except BatchRejected as exc:
                    if len(head) > 1:
                        if exc.status == 413:
                            group_bytes = max(group_bytes // 4, 1)
                        else:
                            singly = len(head)
                        continue
                    seq, payload = head[0]
                    path = set_aside(self.spool, seq, payload, str(exc))
                    self.policy.report("sending a batch (refused; kept in "
                                       f"{path.parent})", exc, raise_in_strict=False)
                except Exception as exc:
                    attempt += 1
                    self.failures += 1
                    self.policy.report(
                        f"sending to {self.url} (kept in the spool, retrying)", exc,
                        raise_in_strict=False)
                    self._retry.wait(backoff(attempt))
                    self._retry.clear()
                    if self._stop.is_set():
                        break
                    continue
                attempt = 0
                with self._lock:
                    self.spool.ack(head[-1][0])
                self.sent += len(head)

    def _command_loop(self) -> None:
        assert self.url is not None
        attempt = 0
        with self._client(COMMAND_WAIT + 10.0) as client:
            while not self._stop.is_set():
                try:
                    resp = client.post(
                        f"{self.url}/api/runs/{self.run_id}/commands/deliver",
                        params={"wait": COMMAND_WAIT})
                    resp.raise_for_status()
                    for c in resp.json()["commands"]:
                        self._commands.append(Command(
                            id=c["id"], run_id=c["run_id"], name=c["name"],
                            args=c.get("args") or {}, status=c["status"],
                            created_at=c["created_at"], delivered_at=c.get("delivered_at"),
                            finished_at=None, result=None, error=None,
                            requested_by=c.get("requested_by"), seq=c.get("seq", 0)))
                    attempt = 0
                except Exception:
                    # The run may not have reached the server yet, or the server is away:
                    # the sender reports that; here only wait and ask again.
                    attempt += 1
                    if self._stop.wait(min(0.25 * 2 ** (attempt - 1), 5.0)):
                        return


def _run_from(d: Mapping[str, Any]) -> Run:
    fields = {k: d[k] for k in Run.__dataclass_fields__ if k in d}
    return Run(**fields)


class RemoteStore:
    """The store methods ``init()`` and ``Run`` call, for a run on a server (or offline).

    Changes become spooled batches (durable, in order with the points); the few reads
    (``get_run``, ``metric_keys``, to resume a run) are HTTP requests.
    """

    def __init__(self, root: Path, *, url: str | None, token: str | None,
                 policy: FailurePolicy, drain_timeout: float = DRAIN_TIMEOUT) -> None:
        self.root = root
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.policy = policy
        self.drain_timeout = drain_timeout
        self._sinks: dict[str, RemoteSink] = {}
        self._runs: dict[str, Run] = {}

    def sink(self, run_id: str) -> RemoteSink:
        s = self._sinks.get(run_id)
        if s is None:
            s = self._sinks[run_id] = RemoteSink(
                run_id, self.root / "runs" / run_id / "spool", url=self.url, token=self.token,
                policy=self.policy, drain_timeout=self.drain_timeout)
        return s

    def _get(self, path: str) -> Any:
        if self.url is None:
            raise NotFound("offline: the server is not asked")
        resp = httpx.get(f"{self.url}{path}", headers=auth_headers(self.token), timeout=10.0)
        if resp.status_code == 404:
            raise NotFound(resp.text[:300])
        resp.raise_for_status()
        return resp.json()

    # -- reads ---------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        try:
            run = _run_from(self._get(f"/api/runs/{run_id}"))
        except NotFound:
            raise
        except Exception as exc:
            self.policy.report("asking the server for the run", exc, raise_in_strict=False)
            raise NotFound(str(exc)) from exc
        self._runs[run_id] = run
        return run

    def metric_keys(self, run_id: str) -> list[SeriesInfo]:
        try:
            data = self._get(f"/api/runs/{run_id}/metrics")
        except Exception:
            return []
        return [SeriesInfo(run_id=run_id, key=m["key"], count=m.get("count", 0),
                           first_step=m.get("first_step"), last_step=m.get("last_step"),
                           last_time=None, last_value=None, min=None, max=None, seq=0)
                for m in data.get("metrics", [])]

    # -- changes: spooled ----------------------------------------------------------

    def create_run(self, *, project: str, name: str | None = None, id: str | None = None,
                   status: str = "running", **fields: Any) -> Run:
        from ..store.ids import new_id

        run_id = id or new_id()
        now = time.time()
        record = {"project": project, "name": name or run_id, **fields}
        self.sink(run_id).append({"run": jsonable(record), "status": status, "heartbeat": now})
        run = _run_from({"id": run_id, "status": status, "created_at": now, "started_at": now,
                         "heartbeat_at": now, **record})
        self._runs[run_id] = run
        return run

    def update_run(self, run_id: str, **fields: Any) -> Run:
        self.sink(run_id).append({"update": jsonable(fields)})
        run = self._runs.get(run_id)
        if run is None:
            run = _run_from({"id": run_id, "project": "default", "name": run_id,
                             "status": "running"})
        for k, v in fields.items():
            if k in Run.__dataclass_fields__:
                setattr(run, k, v)
        self._runs[run_id] = run
        return run

    def set_status(self, run_id: str, status: str, **fields: Any) -> Run:
        body: dict[str, Any] = {"status": status}
        if fields:
            body["update"] = jsonable(fields)
        self.sink(run_id).append(body)
        run = self.update_run(run_id) if run_id not in self._runs else self._runs[run_id]
        run.status = status
        return run

    def add_event(self, run_id: str, kind: str, payload: Mapping[str, Any] | None = None
                  ) -> int:
        self.sink(run_id).append({"events": [{"kind": kind, "payload": jsonable(payload or {})}]})
        return 0

    def finish_command(self, cmd_id: str, *, ok: bool, result: Any = None,
                       error: str | None = None) -> None:
        run_id = self._command_run(cmd_id)
        self.sink(run_id).append({"command_results": [
            {"id": cmd_id, "ok": ok, "result": jsonable(result), "error": error}]})

    def _command_run(self, cmd_id: str) -> str:
        # Every command this process answers came through one of its sinks.
        if len(self._sinks) == 1:
            return next(iter(self._sinks))
        raise NotFound(f"which run command {cmd_id!r} belongs to is unknown")

    def heartbeat(self, run_id: str, at: float | None = None) -> None:
        self.sink(run_id).append({"heartbeat": time.time() if at is None else at})

    def close(self) -> None:
        for s in self._sinks.values():
            s.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError(
                f"{name}() is not available with a remote server yet (TRAINDECK_URL); "
                "it works with the embedded store")

        return unavailable


def sink_for(store: Any, run_id: str) -> Sink:
    """The sink the worker of run ``run_id`` writes to."""
    if isinstance(store, RemoteStore):
        return store.sink(run_id)
    return StoreSink(store)
