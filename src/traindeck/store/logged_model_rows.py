"""Logged model rows of the SQLite store (the rules are ``logged_models``'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .codec import dumps_str, loads
from .engine import Core
from .errors import InvalidInput, NotFound
from .logged_models import (
    MODEL_STATUSES,
    LoggedModel,
    check_model,
    is_model_id,
    merged,
    new_model_id,
)

_COLS: Final = ("id, project, run_id, name, status, model_type, params, tags, created_at, "
                "updated_at")
#: Most models one listing returns.
MAX_LISTED_MODELS: Final = 10_000


def _model(r: Sequence[Any]) -> LoggedModel:
    return LoggedModel(id=r[0], project=r[1], run_id=r[2], name=r[3], status=r[4],
                       model_type=r[5], params=loads(r[6], {}), tags=loads(r[7], {}),
                       created_at=r[8], updated_at=r[9])


def _unknown(model_id: str) -> NotFound:
    return NotFound(f"no logged model {model_id!r:.80}")


class LoggedModelTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create_logged_model(self, *, project: str, run_id: str, name: str,
                            model_type: str | None = None,
                            params: Mapping[str, str] | None = None,
                            tags: Mapping[str, str] | None = None) -> LoggedModel:
        """A new ``pending`` model of ``run_id`` (``NotFound`` for an unknown run)."""
        check_model(name, model_type)
        kept_params = merged("param", {}, params or {})
        kept_tags = merged("tag", {}, tags or {})
        now = self._core.clock()
        with self._core.write() as tx:
            if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise NotFound(f"no run {run_id!r:.80}")
            row = tx.execute(
                f"INSERT INTO logged_models ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?) "
                f"RETURNING {_COLS}",
                (new_model_id(), project, run_id, name, "pending", model_type,
                 dumps_str(kept_params), dumps_str(kept_tags), now, now)).fetchone()
        return _model(row)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        if not is_model_id(model_id):
            raise _unknown(model_id)
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM logged_models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise _unknown(model_id)
        return _model(row)

    def list_logged_models(self, *, projects: Sequence[str] | None = None,
                           run_id: str | None = None) -> list[LoggedModel]:
        """Models of some projects and/or one run, oldest first (at most
        ``MAX_LISTED_MODELS``)."""
        where: list[str] = []
        args: list[Any] = []
        if projects is not None:
            if not projects:
                return []
            where.append(f"project IN ({','.join('?' * len(projects))})")
            args.extend(projects)
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        sql = f"SELECT {_COLS} FROM logged_models"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._core.reader().execute(
            f"{sql} ORDER BY created_at, id LIMIT {MAX_LISTED_MODELS}", args).fetchall()
        return [_model(r) for r in rows]

    def update_logged_model(self, model_id: str, *, status: str | None = None,
                            params: Mapping[str, str] | None = None,
                            tags: Mapping[str, str] | None = None,
                            drop_tags: Sequence[str] = ()) -> LoggedModel:
        """Set the status, add params and tags (a tag set again is replaced), drop tags."""
        if status is not None and status not in MODEL_STATUSES:
            raise InvalidInput(f"unknown model status {status!r:.40}; one of "
                               f"{', '.join(MODEL_STATUSES)}")
        old = self.get_logged_model(model_id)
        with self._core.write() as tx:
            row = tx.execute(f"SELECT {_COLS} FROM logged_models WHERE id = ?",
                             (old.id,)).fetchone()
            if row is None:
                raise _unknown(model_id)
            model = _model(row)
            new_tags = merged("tag", model.tags, tags or {})
            for key in drop_tags:
                new_tags.pop(key, None)
            row = tx.execute(
                "UPDATE logged_models SET status = ?, params = ?, tags = ?, updated_at = ? "
                f"WHERE id = ? RETURNING {_COLS}",
                (status or model.status, dumps_str(merged("param", model.params, params or {})),
                 dumps_str(new_tags), self._core.clock(), model.id)).fetchone()
        return _model(row)

    def delete_logged_model(self, model_id: str) -> None:
        if not is_model_id(model_id):
            raise _unknown(model_id)
        with self._core.write() as tx:
            if tx.execute("DELETE FROM logged_models WHERE id = ?",
                          (model_id,)).rowcount == 0:
                raise _unknown(model_id)
