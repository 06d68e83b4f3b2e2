"""A real throwaway PostgreSQL cluster on 127.0.0.1 for tests (importable as ``pg_service``).

``initdb`` makes a cluster in a temp folder (trust authentication, loopback only, no fsync:
nothing outlives the session), ``pg_ctl`` starts it on a free port with its socket in that
folder, and it is stopped and removed at the end. ``initdb`` refuses root: as root it runs
as the ``postgres`` user (``runuser``), who owns the folder. Starting takes about a second:
share one per session (:func:`postgres_session`), and give each store a schema of its own
(``PostgresService.url(schema=…)``), which costs a few milliseconds instead of a database.

A machine without PostgreSQL's programs skips, or fails under ``TRAINDECK_REQUIRE_ALL=1``
(``support.missing``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support import free_port, missing

USER = "postgres"
DATABASE = "traindeck"


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                   key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    if found:
        return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresService:
    folder: Path
    port: int
    bin: Path
    as_user: list[str]
    max_connections: int

    def url(self, schema: str | None = None, database: str = DATABASE) -> str:
        """A store URL on this cluster (``schema``: the store's own tables)."""
        url = f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"
        return f"{url}?schema={schema}" if schema else url

    def psql(self, sql: str, database: str = DATABASE) -> str:
        done = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
             "-d", database, "-At", "-c", sql], capture_output=True, text=True, check=True)
        return done.stdout

    def start(self) -> None:
        """Start the cluster (again, on the same port)."""
        _as(self.as_user, [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                           "-l", str(self.folder / "server.log"), "-w", "-t", "60", "-o",
                           f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                           "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                           f"-c max_connections={self.max_connections}", "start"])

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"),
                        "-m", "fast", "-w", "stop"], capture_output=True)


def _as(user_prefix: list[str], argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*user_prefix, *argv], capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def start_postgres(folder: Path, *, max_connections: int = 400) -> PostgresService:
    """A fresh cluster under ``folder`` with the database ``traindeck``, started."""
    binary = pg_bin()
    if binary is None or not (binary / "initdb").exists():
        missing("PostgreSQL (initdb, pg_ctl: apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", USER, "--"]
        shutil.chown(folder, USER, USER)
    data = folder / "data"
    port = free_port()
    _as(as_user, [str(binary / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C"])
    service = PostgresService(folder, port, binary, as_user, max_connections)
    service.start()
    _as([], [str(binary / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER,
             DATABASE])
    return service


def postgres_session() -> Iterator[PostgresService]:
    """One cluster for the session (a fixture's body), stopped and removed after it."""
    folder = Path(tempfile.mkdtemp(prefix="td-pg-"))
    os.chmod(folder, 0o755)
    service = start_postgres(folder)
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)
