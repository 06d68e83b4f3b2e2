"""``traindeck templates``: list, show, check and add launch templates.

They live in one folder: ``--templates DIR``, else ``TRAINDECK_TEMPLATES``, else
``templates/`` in the traindeck folder (``--dir``: ``./traindeck/templates`` by default);
``traindeck serve`` serves the same folder. The format is in ``docs/launch.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table
from rich.text import Text

from traindeck.launch.estimate import run_estimate
from traindeck.launch.templates import Template, Templates, resolve
from traindeck.store import db_path

from .output import cli_errors, console
from .workspace import DEFAULT_DIR, DirOption

TemplatesOption = Annotated[
    str | None,
    typer.Option(
        "--templates", "-t", envvar="TRAINDECK_TEMPLATES", metavar="DIR",
        help="The templates folder (one sub-folder per template); default: templates/ in "
             "the traindeck folder (--dir).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

app = typer.Typer(
    name="templates",
    help="List, show, check and add launch templates (see docs/launch.md).",
    no_args_is_help=True,
)


def templates_folder(templates: str | Path | None, dir: str | Path) -> Path:
    """``--templates`` when given, else ``templates/`` beside the store's database."""
    return Path(templates) if templates else db_path(dir).parent / "templates"


def _open(templates: str | None, dir: str) -> Templates:
    return Templates(templates_folder(templates, dir))


def _detail(t: Template) -> dict[str, Any]:
    return {"name": t.name, "folder": str(t.folder), "description": t.description,
            "command": t.command, "config": t.config, "schema": t.schema,
            "schema_inferred": t.schema_inferred, "presets": t.presets,
            "estimate": t.estimate, "hydra": t.hydra}


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                          allow_unicode=True).rstrip()


@app.command("ls")
@cli_errors
def ls(templates: TemplatesOption = None, dir: DirOption = DEFAULT_DIR,
       as_json: JsonOption = False) -> None:
    """List the templates: name, presets, command, description; and the broken ones, why."""
    folder = _open(templates, dir)
    good, broken = folder.scan()
    out = console()
    if as_json:
        out.print_json(json.dumps({
            "configs": [{"name": t.name, "description": t.description,
                         "presets": list(t.presets), "command": t.command} for t in good],
            "broken": [{"name": n, "error": e} for n, e in broken]}))
        return
    if not good and not broken:
        out.print(f"no templates in {folder.root} (add one: traindeck templates add DIR)")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("name", "presets", "command", "description"):
        table.add_column(col, no_wrap=col != "description")
    for t in good:
        table.add_row(t.name, ", ".join(t.presets) or "-", " ".join(t.command),
                      t.description.splitlines()[0] if t.description else "")
    for name, error in broken:
        table.add_row(Text(name, style="red"), "", "", Text(error, style="red"))
    out.print(table)


@app.command("show")
@cli_errors
def show(
    name: Annotated[str, typer.Argument(help="The template's name.")],
    templates: TemplatesOption = None, dir: DirOption = DEFAULT_DIR,
    as_json: JsonOption = False,
) -> None:
    """Show a template: command, defaults, schema, presets, estimate hook."""
    t = _open(templates, dir).get(name)
    out = console()
    if as_json:
        out.print_json(json.dumps(_detail(t)))
        return
    inferred = " (inferred from the defaults)" if t.schema_inferred else ""
    out.print(f"[bold]{t.name}[/bold]  {t.folder}", highlight=False)
    if t.description:
        out.print(t.description, highlight=False)
    out.print(Text.assemble(("command: ", "bold"), " ".join(t.command)),
              Text.assemble(("hydra: ", "bold"), "yes" if t.hydra else "no"),
              Text.assemble(("estimate: ", "bold"), t.estimate or "-"), sep="\n")
    for title, data in (("config", t.config), ("presets", t.presets),
                        (f"schema{inferred}", t.schema)):
        out.print(Text(f"{title}:", style="bold"))
        out.print(Text(_yaml(data) if data else "{}"), highlight=False)


@app.command("check")
@cli_errors
def check(
    name: Annotated[str, typer.Argument(help="The template's name.")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help="Overrides: key=value, +key=value, ++key=value, ~key.")] = None,
    preset: Annotated[str | None, typer.Option("--preset", "-p", help="A preset.")] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Also run the template's estimate hook on a valid config.")]
    = False,
    templates: TemplatesOption = None, dir: DirOption = DEFAULT_DIR,
    as_json: JsonOption = False,
) -> None:
    """Print the effective config of a preset and overrides, or every error in it (exit 1)."""
    t = _open(templates, dir).get(name)
    resolved = resolve(t, overrides or [], preset)
    result = None
    if estimate and t.estimate and resolved.valid:
        result = run_estimate(t.folder, t.estimate, resolved.config).to_json()
    out = console()
    if as_json:
        out.print_json(json.dumps({
            "valid": resolved.valid, "config": resolved.config,
            "overrides": resolved.overrides,
            "errors": [e._asdict() for e in resolved.errors], "estimate": result}))
    else:
        err = console(stderr=True)
        for e in resolved.errors:
            err.print(Text.assemble((e.path, "bold red"), f"  {e.message}"), highlight=False)
        if resolved.valid:
            out.print(Text(_yaml(resolved.config)), highlight=False)
        if result is not None:
            text = _yaml({"estimate": result["value"]}) if result["ok"] else \
                f"estimate failed: {result['error']}"
            (out if result["ok"] else err).print(Text(text), highlight=False)
    if not resolved.valid:
        raise typer.Exit(1)


@app.command("add")
@cli_errors
def add(
    source: Annotated[Path, typer.Argument(
        help="A template's folder (with its traindeck.yaml).", file_okay=False)],
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="Its name in the templates folder (default: the folder's).")]
    = None,
    templates: TemplatesOption = None, dir: DirOption = DEFAULT_DIR,
) -> None:
    """Check a template and copy it into the templates folder (a broken one is refused)."""
    folder = _open(templates, dir)
    t = folder.add(source, name)
    console().print(f"added template {t.name} to {folder.root} "
                    f"({len(t.presets)} presets)", highlight=False)
