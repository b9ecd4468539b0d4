"""Fixtures for the book tests: a catalogue over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from book.service import Catalogue
from book.store import BookStore

from kitcore.sql import connect
from kitcore.testing.postgres import PostgresServer, postgres_binary


@pytest.fixture
def store() -> Iterator[BookStore]:
    """An empty store in memory."""
    store = BookStore(connect("sqlite://"))
    store.create_schema()
    yield store
    store.engine.dispose()


@pytest.fixture
def catalogue(store: BookStore) -> Catalogue:
    """The service over an empty store, answering as instance "book-test"."""
    return Catalogue(store, "book-test")


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
        return f"sqlite:///{tmp_path / 'book.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"book_{uuid.uuid4().hex[:12]}")
