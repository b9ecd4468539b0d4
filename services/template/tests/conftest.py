"""Fixtures for the template tests: the service over SQLite in memory, and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from template.__main__ import build
from template.service import Items
from template.store import ItemStore

from kitcore.app import App
from kitcore.sql import connect
from kitcore.testing.config import local_config
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
    """The service over an empty store."""
    return Items(store)


@pytest.fixture
def served(store: ItemStore) -> Iterator[App]:
    """The service as main wires it (``build``) over ``store``, on free ports."""
    app = build(local_config("template", {"KIT_INSTANCE_ID": "template-test"}), store).start()
    yield app
    app.stop()
