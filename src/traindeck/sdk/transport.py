"""The wire between a remote run and its server: batch encoding, posting, backoff.

Used by a process's sender (``courier.py``) and by ``traindeck sync``.
A batch is compact JSON (non-finite floats spelled ``"NaN"``, ``"Infinity"``,
``"-Infinity"``) posted to ``POST /api/runs/{id}/batch``; several spooled batches go in one
request as a JSON array. Refusals that retrying cannot fix (4xx) raise
:class:`BatchRejected` (the batch is set aside in ``spool/rejected/``); anything else is
retried with :func:`backoff`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from .._version import __version__
from ..store.batch_schema import MetricColumns
from ..store.codec import float_list
from .lite_http import BatchPoster, SendError
from .spool import Spool

#: Most points one spooled batch holds (a bigger flush becomes several batches): about
#: 0.9 MB of JSON, under the 1 MiB body limit common in front of servers (nginx).
MAX_BATCH_POINTS: Final = 25_000
#: Most console lines one spooled batch holds.
MAX_BATCH_LINES: Final = 5_000
#: Backoff of the sender: first wait, and its cap (seconds); each wait is jittered.
BACKOFF_FIRST: Final = 1.0
BACKOFF_MAX: Final = 30.0
#: A run's sender never waits longer than this share of its heartbeat timeout (jitter
#: included), so that a server back from a short outage hears from the run well before it
#: would judge the run's heartbeat lost.
BACKOFF_SHARE: Final = 0.2
#: Most spooled batches, and bytes, sent in one request (a backlog drains in big steps).
GROUP_BATCHES: Final = 512
GROUP_BYTES: Final = 16 * 1024 * 1024
#: Statuses after which the server refuses a batch for good (the batch goes aside).
REJECTED: Final = frozenset({400, 404, 409, 413, 422})

Series = Mapping[str, tuple[Any, Any, Any]]


def _column(a: Any, dtype: Any) -> Any:
    arr = np.asarray(a, dtype=dtype)
    if dtype is np.float64 and not bool(np.isfinite(arr).all()):
        return float_list(arr)
    return arr


def encode_metrics(series: Series) -> list[tuple[dict[str, MetricColumns], int]]:
    """``{key: (steps, times, values)}`` as batch ``metrics`` objects of at most
    ``MAX_BATCH_POINTS`` points each: ``[(metrics, points), …]``. The columns stay numpy
    arrays (the JSON encoder writes them without per-point Python work)."""
    out: list[tuple[dict[str, MetricColumns], int]] = []
    current: dict[str, MetricColumns] = {}
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


def post_batches(poster: BatchPoster, run_id: str, payloads: list[bytes]) -> None:
    """Send spooled batches in one request (one batch: its object; several: a JSON array
    of them, applied by the server in one transaction). Returns once the server has them;
    raises ``BatchRejected`` for a refusal that retrying cannot fix, ``OSError`` (or
    ``httpx.HTTPError``) otherwise."""
    body = payloads[0] if len(payloads) == 1 else b"[" + b",".join(payloads) + b"]"
    status, answer = poster.post(f"/api/runs/{run_id}/batch", body)
    if status in REJECTED:
        raise BatchRejected(status, answer[:300].decode("utf-8", "replace"))
    if not 200 <= status < 300:
        raise SendError(f"the server answered {status}: "
                        f"{answer[:300].decode('utf-8', 'replace')}")


def post_runs(poster: BatchPoster,
              runs: list[tuple[str, list[bytes]]]) -> list[Exception | None]:
    """Send several runs' spooled batches in one request (``POST /api/batches``): per run,
    ``None`` (the server has them), ``BatchRejected`` (it refused that run's batches for
    good) or ``SendError`` (it could not take them now: retry). Raises ``BatchRejected``
    when the whole request is refused (413: too large; 404 or 405: a server without the
    route; 403, 400, 409, 422: something else, each run's own route says what),
    ``OSError`` (or ``httpx.HTTPError``) when there is no answer."""
    body = b"[" + b",".join(
        b'{"run_id":' + orjson.dumps(run_id) + b',"batches":[' + b",".join(payloads) + b"]}"
        for run_id, payloads in runs) + b"]"
    status, answer = poster.post("/api/batches", body)
    if status in REJECTED or status in (403, 405):
        raise BatchRejected(status, answer[:300].decode("utf-8", "replace"))
    if not 200 <= status < 300:
        raise SendError(f"the server answered {status}: "
                        f"{answer[:300].decode('utf-8', 'replace')}")
    try:
        answers = orjson.loads(answer)["runs"]
    except Exception:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(runs):
        raise SendError(f"the server's answer is not a list of the runs: {answer[:300]!r}")
    out: list[Exception | None] = []
    for (run_id, _), item in zip(runs, answers, strict=True):
        code = item.get("status", 200)
        if 200 <= code < 300:
            out.append(None)
            continue
        message = f"{item.get('error', {}).get('message', '')} (run {run_id})"
        out.append(BatchRejected(code, message) if code in REJECTED
                   else SendError(f"the server answered {code} for run {run_id}: {message}"))
    return out


def set_aside(spool: Spool, seq: int, payload: bytes, why: str) -> Path:
    """Keep a refused batch in ``spool/rejected/`` (for a person to look at)."""
    folder = spool.folder / "rejected"
    folder.mkdir(exist_ok=True)
    path = folder / f"{seq:016d}.json"
    path.write_bytes(payload)
    (folder / f"{seq:016d}.why").write_text(why + "\n")
    return path


def backoff(attempt: int, heartbeat_timeout: float | None = None) -> float:
    """1 s doubling to 30 s, each with ±25 % jitter (``attempt`` counts from 1); with a
    ``heartbeat_timeout``, never more than ``BACKOFF_SHARE`` of it."""
    cap = BACKOFF_MAX
    if heartbeat_timeout is not None:
        cap = min(cap, BACKOFF_SHARE * heartbeat_timeout / 1.25)
    base: float = min(BACKOFF_FIRST * 2.0 ** max(attempt - 1, 0), cap)
    return base * random.uniform(0.75, 1.25)


