"""``traindeck serve``: the dashboard and the API over one store, on loopback by default."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Final

import typer

from .output import cli_errors, fail
from .workspace import DEFAULT_DIR, DirOption

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")

HostOption = Annotated[str, typer.Option(
    "--host", help="Address to bind. Anything but loopback needs --insecure (tokens: later).")]
PortOption = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cli_errors
def serve(
    dir: DirOption = DEFAULT_DIR,
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow binding beyond loopback without a token (trusted networks "
                           "only: anyone who reaches the port can read and steer runs).")]
    = False,
    log_level: Annotated[str, typer.Option(
        "--log-level", help=f"uvicorn's log level: {', '.join(LOG_LEVELS)}.")] = "warning",
) -> None:
    """Serve the dashboard and the HTTP API for the runs in --dir (until Ctrl-C).

    Training scripts may start before or after the server: it follows the store by itself.
    """
    if not is_loopback(host) and not insecure:
        fail(f"binding to {host} would expose the dashboard and the command API to the "
             "network without a token; bind to 127.0.0.1 (the default) behind a reverse proxy, "
             "or pass --insecure on a trusted network")
    if log_level not in LOG_LEVELS:
        fail(f"unknown log level {log_level!r}; one of {', '.join(LOG_LEVELS)}")
    # Imported here: the server pulls in FastAPI and uvicorn, which other commands don't need.
    from traindeck.server import Settings
    from traindeck.server import serve as run_server

    run_server(Settings(dir=dir, host=host, port=port, log_level=log_level))
