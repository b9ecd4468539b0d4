"""Fixtures for the book tests: a catalogue over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from book.service import Catalogue
from book.store import BookStore

from kitcore.sql import connect
from kitcore.testing.fixtures import database_url, postgres  # noqa: F401 (fixtures)


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

