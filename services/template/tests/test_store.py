"""The store against SQLite and a real PostgreSQL: a write survives a restart."""

from __future__ import annotations

from template.service import Item
from template.store import ItemStore

from kitcore.sql import connect

NEW = Item("11111111-1111-4111-8111-111111111111", "first")


def _open(url: str) -> ItemStore:
    store = ItemStore(connect(url))
    store.create_schema()
    return store


def test_a_write_survives_a_restart(database_url: str) -> None:
    store = _open(database_url)
    store.add(NEW)
    store.engine.dispose()  # the old process is gone

    again = _open(database_url)  # creating the schema again keeps the rows
    assert again.get(NEW.id) == NEW
    assert again.get("22222222-2222-4222-8222-222222222222") is None
    again.ping()
    again.engine.dispose()
