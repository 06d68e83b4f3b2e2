"""``traindeck hosts``: the SSH hosts launches can run on (``add``, ``ls``, ``trust``,
``check``, ``rm``), kept in the store; their trusted host keys in ``known_hosts`` beside it.

A host is usable once its key is trusted: ``trust`` shows the key the host presents (type
and SHA256 fingerprint) and enters it only when confirmed (a prompt, ``--yes``, or
``--fingerprint`` naming the key expected). Keys come from files (``--key``) or the
ssh-agent; no password is ever asked for or kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.table import Table

from traindeck.launch.executor import ExecutorError
from traindeck.store import Store
from traindeck.store.hosts import parse_destination

from .output import cli_errors, console, fail, when
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store, open_workspace

app = typer.Typer(
    name="hosts",
    help="SSH hosts launches run on: add, ls, trust (its host key), check, rm.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The host's name in traindeck.")]


def _remote() -> ModuleType:
    """``traindeck.remote.hosts``: SSH needs the ``[ssh]`` extra (asyncssh)."""
    try:
        from traindeck.remote import hosts
    except ImportError as exc:
        fail(f"SSH needs asyncssh: pip install 'traindeck[ssh]' ({exc})")
    return hosts


def _known_hosts(store: Store) -> Path:
    """Where the server looks too: beside the store (``known_hosts``)."""
    path: Path = _remote().known_hosts_file(Path(store.files_root))
    return path


@app.command("add")
@cli_errors
def add(
    name: NameArg,
    destination: Annotated[str, typer.Argument(metavar="USER@HOST[:PORT]",
                                               help="Who to log in as, and where.")],
    key: Annotated[str | None, typer.Option(
        "--key", "-i", metavar="PATH",
        help="Private key file (default: the ssh-agent, then ~/.ssh's keys).")] = None,
    workdir: Annotated[str, typer.Option(
        "--workdir", metavar="DIR",
        help="Folder on the host for code, data and runs (relative: in the user's home).")]
    = "traindeck",
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
) -> None:
    """Add a host. Nothing is sent to it yet: trust its key next (hosts trust)."""
    user, address, port = parse_destination(destination)
    if key is not None and not Path(key).expanduser().is_file():
        fail(f"no key file {key}")
    with open_workspace(dir, store_url) as store:
        host = store.add_host(name, user=user, address=address, port=port,
                              key_path=str(Path(key).expanduser().resolve()) if key else None,
                              workdir=workdir)
    console().print(f"added host {host.name} ({host.user}@{host.address}:{host.port}); next: "
                    f"traindeck hosts trust {host.name}, then traindeck hosts check "
                    f"{host.name}", soft_wrap=True)


@app.command("ls")
@cli_errors
def ls(
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List hosts: where, which key, workdir, and the last check."""
    with open_existing_store(dir, store_url) as store:
        hosts = store.list_hosts()
    if as_json:
        console().print_json(json.dumps([h.to_dict() for h in hosts]))
        return
    if not hosts:
        console().print("no hosts yet (traindeck hosts add NAME user@host)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("name", "destination", "key", "workdir", "checked", "last check"):
        table.add_column(col, no_wrap=col != "last check")
    for h in hosts:
        table.add_row(h.name, f"{h.user}@{h.address}:{h.port}", h.key_path or "ssh-agent",
                      h.workdir, when(h.checked_at),
                      "-" if h.checked_at is None else (h.check_error or "ok"))
    console().print(table)


@app.command("trust")
@cli_errors
def trust(
    name: NameArg,
    fingerprint: Annotated[str | None, typer.Option(
        "--fingerprint", metavar="SHA256:…",
        help="The key expected (ssh-keygen -lf on the host): trusted only if it matches.")]
    = None,
    yes: Annotated[bool, typer.Option("--yes", "-y",
                                      help="Trust the key shown without asking.")] = False,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
) -> None:
    """Show the host's key and trust it (replacing a key trusted before for this host)."""
    remote_hosts = _remote()
    with open_existing_store(dir, store_url) as store:
        host, known = store.get_host(name), _known_hosts(store)
    try:
        key = remote_hosts.presented_key(host)
    except ExecutorError as exc:
        fail(str(exc))
    out = console()
    out.print(f"{host.name} ({host.address}:{host.port}) presents {key}")
    if remote_hosts.is_trusted(host, known, key):
        out.print("already trusted")
        return
    if fingerprint is not None:
        if not remote_hosts.fingerprint_matches(key, fingerprint):
            fail(f"that is not the key expected ({fingerprint}): not trusted. Check the "
                 "host's key on the host itself (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)")
    elif not yes:
        if not sys.stdin.isatty():
            fail("confirm with --yes, or pass --fingerprint with the key you expect")
        if not typer.confirm("trust this key?", default=False):
            fail("not trusted")
    remote_hosts.trust(host, known, key)
    out.print(f"trusted: {known}")


@app.command("check")
@cli_errors
def check(name: NameArg, dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Log in and look for python, tmux and traindeck; exit 1 when a launch cannot run."""
    with open_existing_store(dir, store_url) as store:
        host = store.get_host(name)
        result = _remote().check(host, _known_hosts(store))
        store.note_host_check(name, None if result.ok else result.message)
    if not result.ok:
        fail(result.message)
    console().print(result.message, soft_wrap=True)


@app.command("rm")
@cli_errors
def rm(name: NameArg, dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Forget a host (its runs and their files stay)."""
    with open_existing_store(dir, store_url) as store:
        store.remove_host(name)
    console().print(f"removed host {name}")
