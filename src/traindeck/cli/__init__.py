"""The ``traindeck`` command: one root app, one module per command group.

``serve`` (serve.py), ``demo`` (demo.py), ``runs ls|show|rm`` (runs.py),
``ckpt ls|pick|verify|prune`` (ckpt.py), ``token create|list|revoke`` (token.py),
``templates ls|show|check|add`` (templates.py), ``hosts add|ls|trust|check|rm``
(hosts.py), ``rules add|ls|rm`` and ``webhooks add|ls|rm`` (alerts.py), ``tail``
(tail.py), ``launch``, ``cancel``, ``resume`` (launch.py, through a server's API),
``migrate`` (migrate.py), ``version`` (version.py),
``import tensorboard`` (importing.py). Environment variables (``TRAINDECK_DIR``) are read
here, at the edge, through the options' ``envvar``, and passed down as plain values.
"""

from __future__ import annotations

import typer

from . import (
    alerts,
    ckpt,
    demo,
    export,
    hosts,
    importing,
    launch,
    migrate,
    runs,
    serve,
    store,
    sync,
    tail,
    templates,
    token,
    version,
)

app = typer.Typer(
    name="traindeck",
    help="traindeck: track, watch, steer and launch machine-learning training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.add_typer(runs.app, name="runs")
app.add_typer(ckpt.app, name="ckpt")
app.add_typer(token.app, name="token")
app.add_typer(templates.app, name="templates")
app.add_typer(hosts.app, name="hosts")
app.add_typer(alerts.rules_app, name="rules")
app.add_typer(alerts.webhooks_app, name="webhooks")
app.command("tail")(tail.tail)
app.command("launch")(launch.launch)
app.command("cancel")(launch.cancel)
app.command("resume")(launch.resume)
app.command("sync")(sync.sync)
app.command("export")(export.export)
app.add_typer(importing.app, name="import")
app.add_typer(store.app, name="store")
app.command("migrate")(migrate.migrate)
app.command("version")(version.version)


def main() -> None:
    """The console entry point (``traindeck = "traindeck.cli:main"``)."""
    app()


__all__ = ["app", "main"]
