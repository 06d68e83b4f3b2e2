"""Media rows of the SQLite store (a mixin of ``SQLiteStore``): images a run logged.

Rows only; the files live under the run's folder (``<store folder>/runs/<run id>/``) and
``path`` is relative to it. Recording a new row also writes an event ``media_logged``
(payload ``{id, key, step, caption}``), so live clients hear of it as an ``event``.
Recording the same (run, key, step, path) again changes nothing (a re-sent upload).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .errors import InvalidInput, NotFound
from .models import Media
from .rows import StoreRows

_COLS: Final = "id, run_id, key, step, kind, path, caption, created_at, width, height, size"
MEDIA_KINDS: Final = ("image",)
#: Most rows one listing returns.
MAX_LIST: Final = 10_000


def _media(r: Sequence[Any]) -> Media:
    return Media(id=int(r[0]), run_id=r[1], key=r[2], step=int(r[3]), kind=r[4], path=r[5],
                 caption=r[6], created_at=r[7], width=r[8], height=r[9], size=r[10])


class MediaRows(StoreRows):
    """Media methods; relies on the ``SQLiteStore`` primitives of ``StoreRows``."""

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
    ) -> tuple[Media, bool]:
        """Record a media file; returns ``(row, created)``. Idempotent by
        (run, key, step, path): a second call returns the first row and ``False``."""
        if not key or len(key) > 256:
            raise InvalidInput("a media key is 1 to 256 characters")
        if kind not in MEDIA_KINDS:
            raise InvalidInput(f"media kind is one of {MEDIA_KINDS}")
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise InvalidInput("a media path is relative to the run folder")
        with self.write() as tx:
            self._get_run(tx.conn, run_id)
            row = tx.execute(
                f"INSERT INTO media (run_id, key, step, kind, path, caption, created_at, "
                f"width, height, size) VALUES (?,?,?,?,?,?,?,?,?,?) "
                f"ON CONFLICT (run_id, key, step, path) DO NOTHING RETURNING {_COLS}",
                (run_id, key, int(step), kind, path, caption, self.clock(), width, height,
                 size)).fetchone()
            if row is None:
                found = tx.execute(
                    f"SELECT {_COLS} FROM media WHERE run_id = ? AND key = ? AND step = ? "
                    "AND path = ?", (run_id, key, int(step), path)).fetchone()
                return _media(found), False
            media = _media(row)
            self._event(tx, run_id, "media_logged", {
                "id": media.id, "key": key, "step": media.step, "caption": caption,
                "kind": kind})
            return media, True

    def get_media(self, media_id: int) -> Media:
        row = self._reader().execute(f"SELECT {_COLS} FROM media WHERE id = ?",
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
        with self._read() as conn:
            self._get_run(conn, run_id)
            rows = conn.execute(sql, args).fetchall()
        return [_media(r) for r in rows]

    def media_keys(self, run_id: str) -> list[str]:
        with self._read() as conn:
            self._get_run(conn, run_id)
            return [r[0] for r in conn.execute(
                "SELECT DISTINCT key FROM media WHERE run_id = ? ORDER BY key", (run_id,))]
