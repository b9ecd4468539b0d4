"""pytest fixtures that start the real servers a test needs: etcd, PostgreSQL.

Import the ones a test folder uses into its ``conftest.py``::

    from kitcore.testing.fixtures import database_url, etcd, postgres  # noqa: F401 (fixtures)

``etcd`` is a fresh etcd member per test. ``postgres`` is one throw-away
PostgreSQL server for the whole run (tests that need it are skipped where
PostgreSQL is not installed); ``database_url`` runs a test twice, on a fresh
SQLite file and on a fresh PostgreSQL database, and hands it the URL (see
:func:`kitcore.sql.connect`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitcore.testing.etcd import EtcdServer
from kitcore.testing.postgres import PostgresServer, postgres_binary


@pytest.fixture
def etcd() -> Iterator[EtcdServer]:
    """A fresh single-member etcd on free ports, removed after the test."""
    server = EtcdServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run; skipped where PostgreSQL is not installed."""
    try:
        postgres_binary("postgres")
    except FileNotFoundError:
        pytest.skip("PostgreSQL server binaries not installed (make system-deps)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"test_{uuid.uuid4().hex[:12]}")
