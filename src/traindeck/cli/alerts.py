"""``traindeck rules add|ls|rm`` and ``traindeck webhooks add|ls|rm``: alert rules and where
alerts are posted, kept in the store (like ``traindeck hosts``: configuration, not a run's
work, so the CLI writes the store with ``--dir`` and a running server picks the change up
within a second, see ``server/alerts``). The checks are the store's: the CLI and
``POST /api/rules`` accept and refuse the same rules.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from traindeck.store import InvalidInput
from traindeck.store.rules import RULE_KINDS, WEBHOOK_FORMATS

from .output import cli_errors, console
from .workspace import DEFAULT_DIR, DirOption, StoreOption, open_existing_store, open_workspace

rules_app = typer.Typer(name="rules", no_args_is_help=True,
                        help="Alert rules evaluated by the server: add, ls, rm.")
webhooks_app = typer.Typer(name="webhooks", no_args_is_help=True,
                           help="Webhooks alerts are posted to: add, ls, rm.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def parse_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are JSON when they parse (numbers), text otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, raw = item.partition("=")
        if not eq or not name:
            raise InvalidInput(f"--param {item!r} is not NAME=VALUE")
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


@rules_app.command("add")
@cli_errors
def add_rule(
    kind: Annotated[str, typer.Argument(metavar="KIND", help=" | ".join(RULE_KINDS))],
    key: Annotated[str | None, typer.Option(
        "--key", "-k", help="The metric, or a glob (train/*). nan: every key by default; "
                            "gpu_idle: sys/*gpu*/util; disk: sys/*disk_percent.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", metavar="NAME=VALUE",
        help="A param of the kind, e.g. -p op='<' -p value=0.5 -p after_step=10000 "
             "(see docs/alerts.md).")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", help="The project's runs (neither --project nor --run: every run).")]
    = None,
    run: Annotated[str | None, typer.Option("--run", metavar="RUN_ID", help="One run.")]
    = None,
    severity: Annotated[str, typer.Option(help="info | warning | error")] = "warning",
    cooldown: Annotated[float, typer.Option(
        "--cooldown", metavar="SECONDS",
        help="Quiet time of the rule on a run after it fired.")] = 300.0,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a rule, e.g. ``traindeck rules add threshold -k val/acc -p op='<' -p value=0.5
    -p after_step=10000 --project vision``."""
    params = parse_params(param or [])
    with open_workspace(dir, store_url) as store:
        rule = store.create_rule(kind=kind, project=project, run_id=run, key=key,
                                 params=params, severity=severity, cooldown_s=cooldown)
    if as_json:
        console().print_json(json.dumps(rule.to_dict()))
    else:
        console().print(f"added rule {rule.id}: {_describe(rule.to_dict())}", soft_wrap=True)


def _describe(rule: dict[str, Any]) -> str:
    scope = (f"run {rule['run_id']}" if rule["run_id"] else
             f"project {rule['project']}" if rule["project"] else "every run")
    params = " ".join(f"{k}={v}" for k, v in rule["params"].items())
    key = f" {rule['key']}" if rule["key"] else ""
    return f"{rule['kind']}{key} {params} ({scope}, {rule['severity']})".replace("  ", " ")


@rules_app.command("ls")
@cli_errors
def list_rules(
    project: Annotated[str | None, typer.Option("--project")] = None,
    run: Annotated[str | None, typer.Option("--run", metavar="RUN_ID")] = None,
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """List rules."""
    with open_existing_store(dir, store_url) as store:
        rules = [r.to_dict() for r in store.list_rules(project=project, run_id=run)]
    if as_json:
        console().print_json(json.dumps(rules))
        return
    if not rules:
        console().print("no rules yet (traindeck rules add KIND …)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "kind", "key", "params", "scope", "severity", "cooldown"):
        table.add_column(col, no_wrap=col == "id")
    for r in rules:
        scope = (f"run {r['run_id']}" if r["run_id"] else
                 f"project {r['project']}" if r["project"] else "every run")
        table.add_row(r["id"], r["kind"], r["key"] or "-",
                      " ".join(f"{k}={v}" for k, v in r["params"].items()) or "-", scope,
                      r["severity"], f"{r['cooldown_s']:g}s")
    console().print(table)


@rules_app.command("rm")
@cli_errors
def remove_rule(rule_id: Annotated[str, typer.Argument(metavar="RULE_ID")],
                dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Remove a rule."""
    with open_existing_store(dir, store_url) as store:
        store.delete_rule(rule_id)
    console().print(f"removed rule {rule_id}")


@webhooks_app.command("add")
@cli_errors
def add_webhook(
    url: Annotated[str, typer.Argument(metavar="URL")],
    format: Annotated[str, typer.Option(
        "--format", "-f", help=" | ".join(WEBHOOK_FORMATS))] = "json",
    dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a webhook every alert is posted to (Slack and Discord incoming-webhook URLs
    with --format slack / discord)."""
    with open_workspace(dir, store_url) as store:
        hook = store.create_webhook(url, format)
    if as_json:
        console().print_json(json.dumps(hook.to_dict()))
    else:
        console().print(f"added webhook {hook.id}: {hook.masked_url} ({hook.format})",
                        soft_wrap=True)


@webhooks_app.command("ls")
@cli_errors
def list_webhooks(dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None,
                  as_json: JsonOption = False) -> None:
    """List webhooks (their URLs' secret parts masked)."""
    with open_existing_store(dir, store_url) as store:
        hooks = [h.to_dict() for h in store.list_webhooks()]
    if as_json:
        console().print_json(json.dumps(hooks))
        return
    if not hooks:
        console().print("no webhooks yet (traindeck webhooks add URL)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("id", "format", "url"):
        table.add_column(col, no_wrap=True)
    for h in hooks:
        table.add_row(h["id"], h["format"], h["url"])
    console().print(table)


@webhooks_app.command("rm")
@cli_errors
def remove_webhook(webhook_id: Annotated[str, typer.Argument(metavar="WEBHOOK_ID")],
                   dir: DirOption = DEFAULT_DIR, store_url: StoreOption = None) -> None:
    """Remove a webhook."""
    with open_existing_store(dir, store_url) as store:
        store.delete_webhook(webhook_id)
    console().print(f"removed webhook {webhook_id}")


__all__ = ["rules_app", "webhooks_app"]
