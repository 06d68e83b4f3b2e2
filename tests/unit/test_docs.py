"""Docs that cannot rot: the CLI reference is generated and fresh, every command, SDK name,
parameter and environment variable is documented, links resolve, the README opens with
the two commands a newcomer runs."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import traindeck
from traindeck.sdk import init as sdk_init

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
#: Pages other engineers are writing: linked from the index before they land.
PENDING = {DOCS / "performance.md"}

DEMO_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/traindeck demo"
)
TEST_COMMAND = "bash .ci/run"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" /
                                                  "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_fresh() -> None:
    gen = load_generator()
    assert (DOCS / "cli.md").read_text() == gen.render(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/gen_cli_docs.py")


def test_every_cli_command_is_documented() -> None:
    gen = load_generator()
    text = (DOCS / "cli.md").read_text()
    paths = [" ".join(path) for path, _ in gen.commands()]
    assert {"traindeck serve", "traindeck demo", "traindeck runs ls", "traindeck runs show",
            "traindeck runs rm", "traindeck tail", "traindeck version"} <= set(paths)
    for path in paths:
        assert f"## `{path}`" in text, f"{path} is missing from docs/cli.md"


def sdk_text() -> str:
    return (DOCS / "sdk.md").read_text()


@pytest.mark.parametrize("name", [n for n in traindeck.__all__])
def test_every_public_sdk_name_is_documented(name: str) -> None:
    assert f"td.{name}" in sdk_text(), f"traindeck.{name} is not documented in docs/sdk.md"


@pytest.mark.parametrize("param", list(inspect.signature(traindeck.init).parameters))
def test_every_init_parameter_is_documented(param: str) -> None:
    assert f"| `{param}` |" in sdk_text(), f"init({param}=...) is not in docs/sdk.md's table"


def public_run_members() -> list[str]:
    return [n for n in dir(traindeck.Run) if not n.startswith("_")]


@pytest.mark.parametrize("member", public_run_members())
def test_every_run_method_and_attribute_is_documented(member: str) -> None:
    assert f"run.{member}" in sdk_text(), f"Run.{member} is not documented in docs/sdk.md"


def test_run_instance_attributes_are_documented() -> None:
    # Set in Run.__init__ rather than on the class.
    source = inspect.getsource(traindeck.Run.__init__)
    attrs = set(re.findall(r"^\s+self\.([a-z][a-z_]*) = ", source, re.M))
    for attr in sorted(attrs):
        assert f"run.{attr}" in sdk_text(), f"Run.{attr} is not documented in docs/sdk.md"


def test_every_sdk_environment_variable_is_documented() -> None:
    names = set(re.findall(r"TRAINDECK_[A-Z_]+", inspect.getsource(sdk_init)))
    assert {"TRAINDECK_DIR", "TRAINDECK_PROJECT"} <= names
    for name in sorted(names):
        assert f"`{name}`" in sdk_text(), f"{name} is not documented in docs/sdk.md"


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not link {page.name}"
    for page in ("sdk.md", "cli.md", "api.md", "deployment.md", "performance.md"):
        assert f"]({page})" in index


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (page.parent / target).resolve()
        assert path.exists() or path in PENDING, f"{page.name} links a missing {target}"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    assert text.startswith("# traindeck\n\n```bash\n"), "the README must open with them"
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines()
                if line and not line.startswith("#")]
    assert commands == [DEMO_COMMAND, TEST_COMMAND]


def test_ci_script_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script
    assert "export TRAINDECK_REQUIRE_ALL=1" in script
    assert "pip install -q -e '.[dev]'" in script
    # the whole suite on SQLite and the store, server and integration tests on PostgreSQL,
    # side by side, each pass's output printed whole, a failing pass's last; the script's
    # status is a failing pass's
    assert '.venv/bin/python -m pytest tests "$@" > "$LOGS/sqlite"' in script
    assert "tests/unit tests/integration --engine postgresql" in script
    assert 'cat "$LOGS/sqlite" "$LOGS/postgresql"' in script
    ending = [line for line in script.splitlines() if line.strip()][-2:]
    assert ending == ['if [ "$SQLITE_RC" != 0 ]; then exit "$SQLITE_RC"; fi', 'exit "$PG_RC"']
