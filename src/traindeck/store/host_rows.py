"""SSH host rows of the SQLite store (the rules are ``hosts``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .engine import Core
from .errors import Conflict, NotFound
from .hosts import check_host
from .models import Host

_COLS: Final = 'name, "user", address, port, key_path, workdir, created_at, checked_at, check_error'


def _host(r: Sequence[Any]) -> Host:
    return Host(name=r[0], user=r[1], address=r[2], port=r[3], key_path=r[4], workdir=r[5],
                created_at=r[6], checked_at=r[7], check_error=r[8])


def _unknown(name: str) -> NotFound:
    return NotFound(f"no host {name!r} (see: traindeck hosts ls; add one with "
                    "traindeck hosts add NAME user@host)")


class HostTable:
    def __init__(self, core: Core) -> None:
        self._core = core

    def add_host(self, name: str, *, user: str, address: str, port: int = 22,
                 key_path: str | None = None, workdir: str = "traindeck") -> Host:
        """A new host; ``Conflict`` when the name is taken."""
        address = check_host(name, user, address, port, key_path, workdir)
        now = self._core.clock()
        try:
            with self._core.write() as tx:
                row = tx.execute(
                    'INSERT INTO hosts (name, "user", address, port, key_path, workdir, '
                    f"created_at) VALUES (?,?,?,?,?,?,?) RETURNING {_COLS}",
                    (name, user, address, port, key_path, workdir, now)).fetchone()
        except self._core.dialect.integrity_errors:
            raise Conflict(f"a host {name!r} exists already (traindeck hosts rm {name} "
                           "first)") from None
        return _host(row)

    def get_host(self, name: str) -> Host:
        row = self._core.reader().execute(
            f"SELECT {_COLS} FROM hosts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise _unknown(name)
        return _host(row)

    def list_hosts(self) -> list[Host]:
        rows = self._core.reader().execute(
            f"SELECT {_COLS} FROM hosts ORDER BY name").fetchall()
        return [_host(r) for r in rows]

    def remove_host(self, name: str) -> None:
        with self._core.write() as tx:
            if tx.execute("DELETE FROM hosts WHERE name = ?", (name,)).rowcount == 0:
                raise _unknown(name)

    def note_host_check(self, name: str, error: str | None) -> Host:
        """Record what ``hosts check`` found (``None``: all good)."""
        with self._core.write() as tx:
            row = tx.execute(
                f"UPDATE hosts SET checked_at = ?, check_error = ? WHERE name = ? "
                f"RETURNING {_COLS}", (self._core.clock(), error, name)).fetchone()
        if row is None:
            raise _unknown(name)
        return _host(row)
