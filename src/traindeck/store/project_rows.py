"""Projects of the store: a stable number for each project name.

A run's project is a name on the run; this table gives each name a number that stays (the
MLflow API's experiment ids). A project is registered inside the transaction that creates
its first run (or moves a run into it), or on its own by ``create_project``; ``default``
is number 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .batch_schema import MAX_PROJECT
from .engine import Core, WriteTx
from .errors import Conflict, InvalidInput, NotFound
from .models import Project

_COLS: Final = "id, name, created_at"


def _project(r: Sequence[Any]) -> Project:
    return Project(id=int(r[0]), name=str(r[1]), created_at=float(r[2]))


def check_project_name(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_PROJECT:
        raise InvalidInput(f"a project name is 1 to {MAX_PROJECT} characters")


def register_project(tx: WriteTx, name: str, now: float) -> None:
    """Number ``name`` if it has no number yet (inside a run's write)."""
    tx.execute("INSERT OR IGNORE INTO projects (name, created_at) VALUES (?, ?)", (name, now))


class ProjectTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_project(self, name: str) -> Project:
        """Number a new project; ``Conflict`` when the name has one."""
        check_project_name(name)
        with self._core.write() as tx:
            row = tx.execute(
                f"INSERT OR IGNORE INTO projects (name, created_at) VALUES (?, ?) "
                f"RETURNING {_COLS}", (name, self._core.clock())).fetchone()
        if row is None:
            raise Conflict(f"a project {name!r} exists already")
        return _project(row)

    def get_project(self, project_id: int) -> Project:
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM projects WHERE id = ?", (project_id,)).fetchone()
        if row is None:
            raise NotFound(f"no project number {project_id}")
        return _project(row)

    def find_project(self, name: str) -> Project:
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM projects WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no project {name!r}")
        return _project(row)

    def list_projects(self) -> list[Project]:
        """Every numbered project, by number."""
        rows = self._core.reader().execute(
            f"SELECT {_COLS} FROM projects ORDER BY id").fetchall()
        return [_project(r) for r in rows]
