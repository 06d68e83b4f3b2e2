"""``traindeck token``: create, list and revoke the API tokens of a store.

``create`` prints the secret once, alone on stdout (``TOKEN=$(traindeck token create ci)``
works), with a note on stderr; only its sha256 is kept. ``list`` never shows a secret.
A server whose store holds a token requires one (see ``docs/security.md``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from traindeck.store.token_rows import TOKEN_SCOPES

from .output import cli_errors, console, fail, when
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store, open_workspace

app = typer.Typer(
    name="token",
    help="Create, list and revoke API tokens (the server requires one once any exists).",
    no_args_is_help=True,
)


@app.command("create")
@cli_errors
def create(
    name: Annotated[str, typer.Argument(help="What the token is for (e.g. laptop, ci).")],
    scope: Annotated[str, typer.Option(
        "--scope", "-s", help="read (dashboard, GETs), write (+ log runs, send commands) or "
                              "admin (+ token management).")] = "read",
    run: Annotated[str | None, typer.Option(
        "--run", help="Bind the token to this run: it may write to that run only (the "
                      "token to give one training script).")] = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
) -> None:
    """Create a token and print it once (only its hash is stored).

    The secret goes alone to stdout; keep it: it cannot be shown again.
    """
    if scope not in TOKEN_SCOPES:
        fail(f"unknown scope {scope!r}; one of {', '.join(TOKEN_SCOPES)}")
    with open_workspace(dir, store_url) as store:
        if run is not None:
            store.get_run(run)  # an unknown run is an error, not a useless token
        token, secret = store.create_token(name, scope, run_id=run)
    typer.echo(secret)
    bound = f", run {token.run_id} only" if token.run_id else ""
    console(stderr=True).print(
        f"created token {token.id} ({token.name}, scope {token.scope}{bound}); it is shown once "
        "and cannot be shown again. Use it as 'Authorization: Bearer <token>', "
        "TRAINDECK_TOKEN=<token>, or log in at /login.",
        style="dim", soft_wrap=True,
    )


@app.command("list")
@cli_errors
def list_tokens(
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
    = False,
) -> None:
    """List tokens: id, name, scope, created, last used, revoked (never the secrets)."""
    with open_existing_store(dir, store_url) as store:
        tokens = store.list_tokens()
    out = console()
    if as_json:
        out.print_json(json.dumps([
            {"id": t.id, "name": t.name, "scope": t.scope, "created_at": t.created_at,
             "last_used_at": t.last_used_at, "revoked_at": t.revoked_at, "run_id": t.run_id}
            for t in tokens]))
        return
    if not tokens:
        out.print("no tokens yet (traindeck token create NAME --scope read)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "name", "scope", "run", "created", "last used", "revoked"):
        table.add_column(col, no_wrap=True)
    for t in tokens:
        table.add_row(t.id, t.name, t.scope, t.run_id or "any", when(t.created_at),
                      when(t.last_used_at),
                      Text(when(t.revoked_at), style="red") if t.revoked else "-")
    out.print(table)


@app.command("revoke")
@cli_errors
def revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
) -> None:
    """Revoke a token: requests with it fail (401) from now on."""
    with open_existing_store(dir, store_url) as store:
        token = store.revoke_token(token_id)
    console().print(f"revoked token {token.id} ({token.name}, scope {token.scope})")
