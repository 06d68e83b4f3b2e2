"""``/api/hosts`` (admin scope): the SSH hosts launches run on, as ``traindeck hosts`` keeps
them. Add, list, read, remove; ``GET …/key`` shows the key the host presents and whether it
is trusted; ``POST …/trust`` trusts it only when the body names that key's fingerprint (the
caller has seen it); ``POST …/check`` logs in and reports what a launch would find.

SSH work (a handshake, a login) runs in a worker thread; it needs the ``[ssh]`` extra, and
answers 501 saying so without it. A host that does not answer is not an error of the
request: ``…/key`` and ``…/check`` say so in their answer, ``…/trust`` answers 409.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from traindeck.launch.executor import ExecutorError
from traindeck.store import Conflict, Host, InvalidInput
from traindeck.store.hosts import parse_destination

from ..deps import StoreDep, json_response
from ..errors import CONFLICT_RESPONSE, ERROR_RESPONSES, error_response

router = APIRouter(prefix="/api/hosts", tags=["hosts"], responses=ERROR_RESPONSES)

Text = Annotated[str, Field(min_length=1, max_length=4096)]


class HostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=3, max_length=400, description="user@host[:port]")
    key_path: Text | None = Field(None, description="a private key file on the server's "
                                                    "machine (none: its ssh-agent)")
    workdir: Text = "traindeck"


class HostOut(BaseModel):
    name: str
    user: str
    address: str
    port: int
    key_path: str | None
    workdir: str
    created_at: float
    checked_at: float | None
    check_error: str | None


class HostList(BaseModel):
    hosts: list[HostOut]


class HostKeyOut(BaseModel):
    algorithm: str | None
    fingerprint: str | None
    trusted: bool
    #: Why the key could not be read now (the host is down, the port closed…).
    error: str | None = None


class TrustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fingerprint: str = Field(min_length=8, max_length=200,
                             description="SHA256:… of the key GET …/key showed")


class CheckOut(BaseModel):
    ok: bool
    message: str
    python: str | None
    tmux: str | None
    traindeck: str | None


def _remote() -> ModuleType | None:
    try:
        from traindeck.remote import hosts
    except ImportError:
        return None
    return hosts


def _no_ssh() -> Response:
    return error_response(501, "not_implemented",
                          "this server has no SSH support: pip install 'traindeck[ssh]'")


def _known_hosts(request: Request) -> Path:
    path: Path = request.app.state.known_hosts
    return path


async def _presented(remote: ModuleType, host: Host) -> tuple[Any, str | None]:
    """The key ``host`` presents now (a handshake in a worker thread), or why not."""
    try:
        return await anyio.to_thread.run_sync(remote.presented_key, host), None
    except ExecutorError as exc:
        return None, str(exc)


def _key_out(key: Any, trusted: bool) -> Response:
    return json_response({"algorithm": key.algorithm, "fingerprint": key.fingerprint,
                          "trusted": trusted, "error": None})


@router.get("", response_model=HostList, summary="List hosts")
def list_hosts(store: StoreDep) -> Response:
    return json_response({"hosts": [h.to_dict() for h in store.list_hosts()]})


@router.post("", response_model=HostOut, status_code=201, summary="Add a host")
def add_host(body: HostIn, store: StoreDep) -> Response:
    user, address, port = parse_destination(body.destination)
    if body.key_path is not None and not Path(body.key_path).is_file():
        raise InvalidInput(f"no key file {body.key_path} on the server's machine")
    host = store.add_host(body.name, user=user, address=address, port=port,
                          key_path=body.key_path, workdir=body.workdir)
    return json_response(host.to_dict(), status_code=201)


@router.get("/{name}", response_model=HostOut, summary="One host")
def get_host(name: str, store: StoreDep) -> Response:
    return json_response(store.get_host(name).to_dict())


@router.delete("/{name}", status_code=204, response_class=Response, summary="Remove a host")
def remove_host(name: str, store: StoreDep) -> Response:
    store.remove_host(name)
    return Response(status_code=204)


@router.get("/{name}/key", response_model=HostKeyOut,
            summary="The key the host presents now, and whether it is trusted")
async def host_key(name: str, store: StoreDep, request: Request) -> Response:
    remote = _remote()
    if remote is None:
        return _no_ssh()
    host = store.get_host(name)
    key, error = await _presented(remote, host)
    if key is None:
        return json_response({"algorithm": None, "fingerprint": None, "trusted": False,
                              "error": error})
    return _key_out(key, remote.is_trusted(host, _known_hosts(request), key))


@router.post("/{name}/trust", response_model=HostKeyOut, responses=CONFLICT_RESPONSE,
             summary="Trust the key the host presents, if it is the one named")
async def trust_host(name: str, body: TrustIn, store: StoreDep, request: Request) -> Response:
    remote = _remote()
    if remote is None:
        return _no_ssh()
    host = store.get_host(name)
    key, error = await _presented(remote, host)
    if key is None:
        raise Conflict(f"cannot read the host key of {name} now: {error}")
    if not remote.fingerprint_matches(key, body.fingerprint):
        raise Conflict(f"{name} presents {key}, not {body.fingerprint}: not trusted")
    remote.trust(host, _known_hosts(request), key)
    return _key_out(key, True)


@router.post("/{name}/check", response_model=CheckOut,
             summary="Log in and look for python, tmux and traindeck")
async def check_host(name: str, store: StoreDep, request: Request) -> Response:
    remote = _remote()
    if remote is None:
        return _no_ssh()
    host = store.get_host(name)
    result = await anyio.to_thread.run_sync(remote.check, host, _known_hosts(request))
    await anyio.to_thread.run_sync(store.note_host_check, name,
                                   None if result.ok else result.message)
    return json_response({"ok": result.ok, "message": result.message, "python": result.python,
                          "tmux": result.tmux, "traindeck": result.traindeck})
