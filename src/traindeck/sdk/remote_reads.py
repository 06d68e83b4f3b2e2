"""What the remote backend reads back from a server over HTTP: a run's record, its
checkpoints, its commands (as the store's types), through :class:`Reader`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from ..store import Checkpoint, Command, NotFound, Run
from .transport import auth_headers

#: Seconds an HTTP read (resuming a run) may take.
READ_TIMEOUT: Final = 10.0


def run_from(d: Mapping[str, Any]) -> Run:
    fields = {k: d[k] for k in Run.__dataclass_fields__ if k in d}
    return Run(**fields)


def checkpoint_from(d: Mapping[str, Any]) -> Checkpoint:
    fields = {k: d[k] for k in Checkpoint.__dataclass_fields__ if k in d}
    return Checkpoint(**fields)


def command_from(c: Mapping[str, Any]) -> Command:
    return Command(id=c["id"], run_id=c["run_id"], name=c["name"], args=c.get("args") or {},
                   status=c["status"], created_at=c["created_at"],
                   delivered_at=c.get("delivered_at"), finished_at=c.get("finished_at"),
                   result=None, error=None, requested_by=c.get("requested_by"),
                   seq=c.get("seq", 0))


class Reader:
    """HTTP reads against a server (None: offline, nothing is asked)."""

    def __init__(self, url: str | None, token: str | None) -> None:
        self.url = url.rstrip("/") if url else None
        self.token = token

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer; ``NotFound`` for a 404 or offline, ``httpx.HTTPError``/
        ``OSError`` when the server cannot answer."""
        if self.url is None:
            raise NotFound("offline: the server is not asked")
        resp = httpx.get(f"{self.url}{path}", params=params, headers=auth_headers(self.token),
                         timeout=READ_TIMEOUT)
        if resp.status_code == 404:
            raise NotFound(resp.text[:300])
        resp.raise_for_status()
        return resp.json()
