"""Media rows of the SQLite store: images a run logged.

Rows only; the files live under the run's folder (``<store folder>/runs/<run id>/``) and
``path`` is relative to it. Recording a new row also writes an event ``media_logged``
(payload ``{id, key, step, caption}``), so live clients hear of it as an ``event``.
Recording the same (run, key, step, path) again changes nothing (a re-sent upload): the
file writer given to ``add_media`` runs only for a new row, inside its transaction, so a
re-sent upload rewrites no file and a failed write records no row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from .common_rows import fetch_run, insert_event
from .engine import Core
from .errors import InvalidInput, NotFound
from .models import Media

_COLS: Final = "id, run_id, key, step, kind, path, caption, created_at, width, height, size"
MEDIA_KINDS: Final = ("image",)
#: Most rows one listing returns.
MAX_LIST: Final = 10_000


def _media(r: Sequence[Any]) -> Media:
    return Media(id=int(r[0]), run_id=r[1], key=r[2], step=int(r[3]), kind=r[4], path=r[5],
                 caption=r[6], created_at=r[7], width=r[8], height=r[9], size=r[10])


class MediaTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def add_media(
        self,
        run_id: str,
        *,
        key: str,
        step: int,
        path: str,
        kind: str = "image",
        caption: str | None = None,
        width: int | None = None,
        height: int | None = None,
        size: int | None = None,
        write: Callable[[], object] | None = None,
    ) -> tuple[Media, bool]:
        """Record a media file; returns ``(row, created)``. Idempotent by
        (run, key, step, path): a second call returns the first row and ``False``.

        ``write`` (which writes the file) is called only when the row is new, inside the
        transaction and before the row is recorded: if it raises, nothing is recorded."""
        if not key or len(key) > 256:
            raise InvalidInput("a media key is 1 to 256 characters")
        if kind not in MEDIA_KINDS:
            raise InvalidInput(f"media kind is one of {MEDIA_KINDS}")
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise InvalidInput("a media path is relative to the run folder")
        clock = self._core.clock
        with self._core.write() as tx:
            fetch_run(tx.conn, run_id)
            found = tx.execute(
                f"SELECT {_COLS} FROM media WHERE run_id = ? AND key = ? AND step = ? "
                "AND path = ?", (run_id, key, int(step), path)).fetchone()
            if found is not None:
                return _media(found), False
            if write is not None:
                write()
            media = _media(tx.execute(
                f"INSERT INTO media (run_id, key, step, kind, path, caption, created_at, "
                f"width, height, size) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING {_COLS}",
                (run_id, key, int(step), kind, path, caption, clock(), width, height,
                 size)).fetchone())
            insert_event(tx, clock(), run_id, "media_logged", {
                "id": media.id, "key": key, "step": media.step, "caption": caption,
                "kind": kind})
            return media, True

    def get_media(self, media_id: int) -> Media:
        row = self._core.reader().execute(f"SELECT {_COLS} FROM media WHERE id = ?",
                                     (media_id,)).fetchone()
        if row is None:
            raise NotFound(f"no media {media_id}")
        return _media(row)

    def list_media(
        self,
        run_id: str,
        *,
        key: str | None = None,
        step_min: int | None = None,
        step_max: int | None = None,
        limit: int = 1000,
    ) -> list[Media]:
        """The run's media by key, then step, then id. ``NotFound`` for an unknown run."""
        sql = f"SELECT {_COLS} FROM media WHERE run_id = ?"
        args: list[Any] = [run_id]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        if step_min is not None:
            sql += " AND step >= ?"
            args.append(step_min)
        if step_max is not None:
            sql += " AND step <= ?"
            args.append(step_max)
        sql += " ORDER BY key, step, id LIMIT ?"
        args.append(max(1, min(limit, MAX_LIST)))
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            rows = conn.execute(sql, args).fetchall()
        return [_media(r) for r in rows]

    def media_keys(self, run_id: str) -> list[str]:
        with self._core.read() as conn:
            fetch_run(conn, run_id)
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT key FROM media WHERE run_id = ? ORDER BY key", (run_id,))]
