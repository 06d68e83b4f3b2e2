"""``traindeck templates ls|show|check|add`` through typer's CliRunner, over real template
folders in a temp folder (the example template, copied in)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from traindeck.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "numpy_mlp"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    base: dict[str, str | None] = {"TRAINDECK_DIR": None, "TRAINDECK_TEMPLATES": None,
                                   "FORCE_COLOR": None, "TERM": "dumb"}
    return CliRunner().invoke(app, list(args), env={**base, **(env or {})})


def test_add_then_list_show_and_check(tmp_path: Path) -> None:
    td = str(tmp_path / "td")
    r = invoke("templates", "ls", "--dir", td)
    assert r.exit_code == 0 and "no templates in" in r.output
    r = invoke("templates", "add", str(EXAMPLE), "--dir", td)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "td" / "templates" / "numpy_mlp" / "traindeck.yaml").exists()
    r = invoke("templates", "add", str(EXAMPLE), "--dir", td)
    assert r.exit_code == 1 and "already exists" in r.output
    r = invoke("templates", "ls", "--dir", td, "--json")
    assert [c["name"] for c in json.loads(r.output)["configs"]] == ["numpy_mlp"]
    r = invoke("templates", "show", "numpy_mlp", "--dir", td, "--json")
    assert json.loads(r.output)["presets"]["small"] == ["width=16", "steps=2000"]
    r = invoke("templates", "check", "numpy_mlp", "width=8", "--preset", "small", "--dir", td,
               "--json")
    body = json.loads(r.output)
    assert r.exit_code == 0 and body["valid"] and body["config"]["width"] == 8


def test_check_prints_every_error_and_fails(tmp_path: Path) -> None:
    r = invoke("templates", "check", "numpy_mlp", "lr=0", "nope=1",
               env={"TRAINDECK_TEMPLATES": str(EXAMPLE.parent)})
    assert r.exit_code == 1
    assert "$.lr  0 is less than or equal to the minimum of 0" in r.output
    assert "$.nope  'nope=1': unknown key 'nope'; use +nope=VALUE to add it" in r.output


def test_a_broken_template_is_refused_and_shown(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "traindeck.yaml").write_text("config: {a: 1}\n")
    folder = tmp_path / "templates"
    r = invoke("templates", "add", str(bad), "--templates", str(folder))
    assert r.exit_code == 1 and "template 'bad': traindeck.yaml has no command" in r.output
    assert not folder.exists()
    folder.mkdir()
    (folder / "bad").mkdir()
    (folder / "bad" / "traindeck.yaml").write_text("command: x\nconfig: nope.yaml\n")
    r = invoke("templates", "ls", "--templates", str(folder))
    assert "config file 'nope.yaml' does not exist" in r.output
    r = invoke("templates", "show", "missing", "--templates", str(folder))
    assert r.exit_code == 1 and "no template 'missing'" in r.output
