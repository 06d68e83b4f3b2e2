"""``traindeck serve``: the dashboard and the API over one store, on loopback by default."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Final

import typer

from traindeck.store import db_path

from .output import cli_errors, console, fail
from .templates import TemplatesOption, templates_folder
from .workspace import DEFAULT_DIR, DirOption, FilesRootOption, StoreOption, open_workspace

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")

HostOption = Annotated[str, typer.Option(
    "--host", help="Address to bind. Anything but loopback needs authentication (a token in "
                   "the store, or --auth) or --insecure.")]
PortOption = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")]
ServeRootOption = Annotated[list[Path] | None, typer.Option(
    "--serve-root", envvar="TRAINDECK_SERVE_ROOTS", metavar="DIR", exists=True,
    file_okay=False, dir_okay=True, resolve_path=True,
    help="A folder whose files the server may serve or delete when a checkpoint recorded "
         "there is downloaded or deleted (repeatable; the environment variable takes a "
         "list separated like PATH). Besides these, only the data folder is served.")]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cli_errors
def serve(
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow binding beyond loopback without a token (trusted networks "
                           "only: anyone who reaches the port can read and steer runs).")]
    = False,
    log_level: Annotated[str, typer.Option(
        "--log-level", help=f"uvicorn's log level: {', '.join(LOG_LEVELS)}.")] = "warning",
    auth: Annotated[bool | None, typer.Option(
        "--auth/--no-auth", help="Require a token for every request (default: only once the "
                                 "store holds one; see: traindeck token create).")] = None,
    serve_root: ServeRootOption = None,
    files_root: FilesRootOption = None,
    templates: TemplatesOption = None,
    ssh_wheel: Annotated[Path | None, typer.Option(
        "--ssh-wheel", envvar="TRAINDECK_WHEEL", metavar="WHEEL", exists=True,
        dir_okay=False, resolve_path=True,
        help="The traindeck wheel to install on an SSH host whose python lacks traindeck "
             "(default: built from this installation's source tree, when it has one).")]
    = None,
) -> None:
    """Serve the dashboard and the HTTP API for the runs in --dir (until Ctrl-C).

    Training scripts may start before or after the server: it follows the store by itself.
    """
    if log_level not in LOG_LEVELS:
        fail(f"unknown log level {log_level!r}; one of {', '.join(LOG_LEVELS)}")
    ever_had_tokens = has_live_tokens = False
    if store_url or db_path(dir).exists():  # never create a SQLite store just to look
        with open_workspace(dir, store_url) as store:
            ever_had_tokens = store.has_tokens(include_revoked=True)
            has_live_tokens = store.has_tokens()
    if auth is None and ever_had_tokens:
        auth = True
    if not is_loopback(host) and not auth and not insecure:
        fail(f"refusing to bind to {host} without authentication: anyone on the network "
             "could read and steer runs. Create a token first (traindeck token create NAME "
             "--scope admin) or pass --auth; or bind to 127.0.0.1 (the default) behind a "
             "reverse proxy; or pass --insecure on a trusted network")
    if auth and not has_live_tokens:
        console(stderr=True).print(
            "note: authentication is on but no token is valid: nobody can log in until you "
            "create one (traindeck token create NAME --scope read)", soft_wrap=True)
    # Imported here: the server pulls in FastAPI and uvicorn, which other commands don't need.
    from traindeck.server import Settings
    from traindeck.server import serve as run_server

    run_server(Settings(dir=store_url or dir, host=host, port=port, log_level=log_level, auth=auth,
                        serve_roots=tuple(serve_root or ()),
                        files_root=files_root or (dir if store_url else None),
                        templates_dir=templates_folder(templates, dir), ssh_wheel=ssh_wheel))
