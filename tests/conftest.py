"""Fixtures shared by every tier: a real store, opened through ``open_store(url)``.

Every test gets its store from here (``store``, or ``make_store`` for more than one, or one
with an injected clock), so the whole suite runs against another engine by changing one
option: ``--engine postgresql`` (or ``TRAINDECK_TEST_ENGINE=postgresql``) starts a
throwaway PostgreSQL cluster for the session (``pg_service``) and gives every store a
schema of its own; ``--store-url`` (or ``TRAINDECK_TEST_STORE``) takes any URL template, in
which ``{tmp}`` stands for the test's temporary folder, ``{name}`` for the store's name
within the test and ``{id}`` for a short name of the test's folder. The default is a fresh
SQLite file per store, ``sqlite:///{tmp}/{name}/traindeck.db``; the first store of a test
is named ``td``, so its run files live in ``store_dir`` (what ``traindeck serve --dir`` and
the CLI's ``--dir`` take). On PostgreSQL, ``TRAINDECK_STORE`` names that store for the
test's child processes and CLI calls, as a user would set it.

Tests of SQLite-only behaviour (pragmas, migrations, chunk rows, a folder without a store)
say so in their names (``test_sqlite_*``) and get SQLite stores whatever the engine;
PostgreSQL-only ones are named ``test_pg_*`` and use the ``postgres`` fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_service import PostgresService, postgres_session, start_postgres
from slurm_service import SlurmService, slurm_session
from support import (
    DEFAULT_STORE_URL,
    FILES_ENV,
    STORE_URL_ENV,
    MakeStore,
    is_postgres_suite,
    store_url_for,
)

from traindeck.store import Clock, Store, open_store

ENGINE_ENV = "TRAINDECK_TEST_ENGINE"
ENGINES = ("sqlite", "postgresql")
_POSTGRES: list[PostgresService] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine", default=None, choices=ENGINES,
        help=f"the store engine every test runs against (default: env {ENGINE_ENV}, else "
             "sqlite); postgresql starts a throwaway cluster for the session",
    )
    parser.addoption(
        "--store-url", default=None,
        help="the store every test opens, as a URL template ({tmp}: the test's temporary "
             "folder, {name}: the store's name); default: env TRAINDECK_TEST_STORE, else "
             f"{DEFAULT_STORE_URL}",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Run as a background job of a script (``.ci/run`` runs two passes side by side), a
    # process starts with Ctrl-C (SIGINT) ignored, and so would every process the tests
    # start: the tests that press Ctrl-C on a training script or a CLI need it back.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Into the environment: stores opened outside fixtures (support.open_test_store, in
    # Hypothesis examples that need a fresh store each) and child processes see it too.
    option: str | None = config.getoption("--store-url")
    engine = config.getoption("--engine") or os.environ.get(ENGINE_ENV) or "sqlite"
    if engine not in ENGINES:
        raise pytest.UsageError(f"{ENGINE_ENV}={engine!r}: one of {', '.join(ENGINES)}")
    if option:
        os.environ[STORE_URL_ENV] = option
    elif engine == "postgresql":
        service = start_postgres(Path(tempfile.mkdtemp(prefix="td-pg-")))
        _POSTGRES.append(service)
        os.environ[STORE_URL_ENV] = service.url(schema="t{id}_{name}")


def pytest_unconfigure(config: pytest.Config) -> None:
    while _POSTGRES:
        service = _POSTGRES.pop()
        service.stop()
        shutil.rmtree(service.folder, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL
    return f"traindeck store: {url}"


@pytest.fixture
def store_url_template(request: pytest.FixtureRequest) -> str:
    """The suite's engine, but SQLite for a SQLite-only test (``test_sqlite_*``)."""
    if request.node.name.startswith("test_sqlite_"):
        return DEFAULT_STORE_URL
    return os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL


@pytest.fixture
def store_url(store_url_template: str, tmp_path: Path) -> str:
    """The URL of the test's store (``store``)."""
    return store_url_for(store_url_template, tmp_path, "td")


@pytest.fixture(autouse=True)
def _shared_store_env(request: pytest.FixtureRequest, store_url: str, store_dir: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, ``TRAINDECK_STORE`` names the test's store for what the test starts
    (servers, the CLI, training scripts): their ``--dir`` then names its run files. A
    SQLite-only test (``test_sqlite_*``: what a folder without a store does, say) runs
    as it would on SQLite."""
    if is_postgres_suite() and not request.node.name.startswith("test_sqlite_"):
        monkeypatch.setenv("TRAINDECK_STORE", store_url)
        monkeypatch.setenv(FILES_ENV, str(store_dir))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for a store (``traindeck.db`` inside it), as ``traindeck serve`` takes."""
    return tmp_path / "td"


@pytest.fixture
def make_store(store_url_template: str, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens stores for the test (``name`` tells them apart; the same name opens the same
    store again, as a second process would); all are closed when it ends."""
    opened: list[Store] = []

    def make(*, clock: Clock | None = None, name: str = "td") -> Store:
        # the store's folder exists, as a SQLite store's does (its file is in it)
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        store = open_store(store_url_for(store_url_template, tmp_path, name), clock=clock,
                           files_root=tmp_path / name)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    return make_store()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    """A real PostgreSQL cluster on 127.0.0.1 (tests/pg_service.py), shared by the session:
    the suite's own when it runs on PostgreSQL, else one started for the tests that need
    both engines (``traindeck migrate``)."""
    if _POSTGRES:
        yield _POSTGRES[0]
    else:
        yield from postgres_session()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmService]:
    """A real one-node Slurm on 127.0.0.1 (tests/slurm_service.py), shared by the session:
    it takes seconds to start."""
    yield from slurm_session(tmp_path_factory)
