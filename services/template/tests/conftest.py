"""Fixtures for the template tests: the service over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from template.service import Items
from template.store import ItemStore

from kitcore.sql import connect
from kitcore.testing.postgres import PostgresServer, postgres_binary


@pytest.fixture
def store() -> Iterator[ItemStore]:
    """An empty store in memory."""
    store = ItemStore(connect("sqlite://"))
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.fixture
def items(store: ItemStore) -> Items:
    """The service over an empty store, answering as instance "template-test"."""
    return Items(store, "template-test")


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
        return f"sqlite:///{tmp_path / 'template.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"template_{uuid.uuid4().hex[:12]}")
