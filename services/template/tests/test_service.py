"""The service's rules, with no network: SQLite in memory under the service."""

from __future__ import annotations

import uuid

import pytest
from template.service import CreateItemRequest, GetItemRequest, ItemNotFound, Items
from template.store import ItemStore

from kitcore.errors import InvalidArgument


def test_create_then_get_returns_the_same_item(items: Items) -> None:
    created = items.create_item(CreateItemRequest("  first  "))
    got = items.get_item(GetItemRequest(created.id))
    assert got == created and got.name == "first"  # surrounding spaces dropped
    assert uuid.UUID(created.id)


def test_get_unknown_item_is_not_found(items: Items) -> None:
    with pytest.raises(ItemNotFound):
        items.get_item(GetItemRequest(str(uuid.uuid4())))


@pytest.mark.parametrize("bad_id", [None, "", 7, "not-a-uuid", ["x"]])
def test_get_with_a_malformed_id_is_invalid(items: Items, bad_id: object) -> None:
    with pytest.raises(InvalidArgument, match="id"):
        items.get_item(GetItemRequest(bad_id))


@pytest.mark.parametrize(
    ("name", "message"),
    [(None, "name: required"), ("   ", "name: must not be empty"), (12, "must be a string"),
     ("x" * 101, "name: longer than 100"),
     ("a\x01\x1b[31m", "name: must not contain control characters")],
)
def test_create_rejects_a_bad_name_and_writes_nothing(
    items: Items, store: ItemStore, name: object, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        items.create_item(CreateItemRequest(name))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM template_items").scalar() == 0
