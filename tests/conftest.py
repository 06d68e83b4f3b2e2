"""Fixtures shared by every tier: a real store, opened through ``open_store(url)``.

Every test gets its store from here (``store``, or ``make_store`` for more than one, or one
with an injected clock), so the whole suite runs against another engine by changing one
option: ``--store-url`` (or the environment variable ``TRAINDECK_TEST_STORE``), a URL in
which ``{tmp}`` stands for the test's temporary folder and ``{name}`` for the store's name
within the test. The default is a fresh SQLite file per store,
``sqlite:///{tmp}/{name}/traindeck.db``; the first store of a test is named ``td``, so it
lives in ``store_dir`` (what ``traindeck serve --dir`` and the CLI's ``--dir`` take).

Tests of SQLite-only behaviour (pragmas, migrations, chunk rows) open ``SQLiteStore``
themselves and say so in their names (``test_sqlite_*``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_service import SlurmService, slurm_session
from support import DEFAULT_STORE_URL, STORE_URL_ENV, MakeStore

from traindeck.store import Clock, Store, open_store


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-url", default=None,
        help="the store every test opens, as a URL template ({tmp}: the test's temporary "
             "folder, {name}: the store's name); default: env TRAINDECK_TEST_STORE, else "
             f"{DEFAULT_STORE_URL}",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Into the environment: stores opened outside fixtures (support.open_test_store, in
    # Hypothesis examples that need a fresh store each) and child processes see it too.
    option: str | None = config.getoption("--store-url")
    if option:
        os.environ[STORE_URL_ENV] = option


@pytest.fixture
def store_url_template() -> str:
    return os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL


@pytest.fixture
def store_url(store_url_template: str, tmp_path: Path) -> str:
    """The URL of the test's store (``store``)."""
    return store_url_template.format(tmp=tmp_path, name="td")


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
        store = open_store(store_url_template.format(tmp=tmp_path, name=name), clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> Store:
    return make_store()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmService]:
    """A real one-node Slurm on 127.0.0.1 (tests/slurm_service.py), shared by the session:
    it takes seconds to start."""
    yield from slurm_session(tmp_path_factory)
