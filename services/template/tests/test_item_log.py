"""ItemLog, a service middleware: one "item created" line per item, calls passed on."""

from __future__ import annotations

import logging

import pytest
from template.item_log import ItemLog
from template.service import CreateItemRequest, GetItemRequest, ItemNotFound, Items

LOGGER = "template.test.items"


def test_each_created_item_is_logged_with_its_name(items: Items,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    logged = ItemLog(items, logging.getLogger(LOGGER))
    caplog.set_level(logging.INFO, logger=LOGGER)
    item = logged.create_item(CreateItemRequest("lamp"))
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage() == "item created"
    assert record.fields == {"item_id": item.id, "name": "lamp"}
    assert logged.get_item(GetItemRequest(item.id)) == item


def test_errors_pass_through_unlogged(items: Items, caplog: pytest.LogCaptureFixture) -> None:
    logged = ItemLog(items, logging.getLogger(LOGGER))
    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(ItemNotFound):
        logged.get_item(GetItemRequest("00000000-0000-4000-8000-000000000000"))
    assert [r for r in caplog.records if r.name == LOGGER] == []
