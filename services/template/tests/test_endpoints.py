"""The endpoint Set: each call runs through metrics, log and deadline, in that order."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import REGISTRY
from template.endpoints import Set, new_set
from template.service import CreateItemRequest, GetItemRequest, Items
from template.store import ItemStore

from kitcore.endpoint import Context
from kitcore.errors import DeadlineExceeded, NotFound

UNKNOWN = "00000000-0000-4000-8000-0000000000ff"


@pytest.fixture
def endpoints(items: Items) -> Set:
    return new_set(items, timeout=2.0)


def _count(endpoint: str, outcome: str) -> float:
    labels = {"service": "template", "endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("kit_requests_total", labels) or 0.0


def _rows(store: ItemStore) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM template_items").scalar()


def test_a_call_is_served_counted_and_logged(
    endpoints: Set, caplog: pytest.LogCaptureFixture
) -> None:
    before = _count("create_item", "ok")
    with caplog.at_level(logging.DEBUG, logger="template"):  # a success outside a sampled trace
        reply = endpoints.create_item(Context(), CreateItemRequest("first"))
    assert reply.name == "first"
    assert _count("create_item", "ok") == before + 1
    [line] = [r for r in caplog.records if r.name == "template"]
    assert line.fields["endpoint"] == "create_item" and line.fields["outcome"] == "ok"


def test_a_failed_call_is_counted_by_its_kind(endpoints: Set) -> None:
    before = _count("get_item", "not_found")
    with pytest.raises(NotFound):
        endpoints.get_item(Context(), GetItemRequest(UNKNOWN))
    assert _count("get_item", "not_found") == before + 1


def test_a_call_whose_deadline_passed_is_refused_and_writes_nothing(
    endpoints: Set, store: ItemStore
) -> None:
    late = Context().with_deadline(time.monotonic() - 1)
    with pytest.raises(DeadlineExceeded):
        endpoints.create_item(late, CreateItemRequest("first"))
    assert _rows(store) == 0
