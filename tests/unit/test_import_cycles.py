"""No module imports, directly or through others of its package, a module that imports it
back. Read from the source with ``ast`` (nothing is imported): every import counts, also
one inside a function or under ``TYPE_CHECKING``, since those only hide a cycle."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

import traindeck

SRC = Path(traindeck.__file__).parent
#: Packages still cyclic, with who is on it. Empty when done.
KNOWN: dict[str, str] = {}


def packages() -> list[Path]:
    return sorted(p.parent for p in SRC.rglob("__init__.py") if "web" not in p.parts)


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported(path: Path, package: str, modules: Collection[str]) -> Iterator[str]:
    """Every module name ``path`` (a module of ``package``) imports, absolute:
    ``from X import y`` is ``X.y`` when that is one of ``modules`` (or a subpackage), else
    ``X``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative to the package that holds ``path``
                base = package.split(".")
                prefix = ".".join(base[: len(base) - (node.level - 1)])
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in modules else target


def graph(package_dir: Path) -> dict[str, set[str]]:
    """The import graph between the modules directly in one package (``__init__``
    included, as the package's own name)."""
    package = module_name(package_dir / "__init__.py")
    modules = {module_name(p): p for p in package_dir.glob("*.py")}
    subpackages = {module_name(p) for p in package_dir.glob("*/__init__.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target in imported(path, package, modules.keys() | subpackages):
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package_dir", packages(), ids=lambda p: module_name(p / "x.py")[:-2])
def test_no_import_cycle_inside_a_package(package_dir: Path) -> None:
    package = module_name(package_dir / "__init__.py")
    found = cycles(graph(package_dir))
    if found and package in KNOWN:
        pytest.xfail(f"{package}: {KNOWN[package]}")
    assert not found, f"import cycles in {package}: {found}"
