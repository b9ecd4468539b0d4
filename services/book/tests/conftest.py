"""Fixtures for the book tests: a catalogue over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from book.__main__ import build
from book.service import Catalogue
from book.store import BookStore

from kitcore.app import App
from kitcore.sql import connect
from kitcore.testing.config import local_config
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
    """The service over an empty store."""
    return Catalogue(store)


@pytest.fixture
def served(store: BookStore) -> Iterator[App]:
    """The service as main wires it (``build``) over ``store``, on free ports."""
    app = build(local_config("book", {"KIT_INSTANCE_ID": "book-test"}), store).start()
    yield app
    app.stop()
