"""Fixtures for the template tests: the service over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from template.service import Items
from template.store import ItemStore

from kitcore.sql import connect
from kitcore.testing.fixtures import database_url, etcd, postgres  # noqa: F401 (fixtures)


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

