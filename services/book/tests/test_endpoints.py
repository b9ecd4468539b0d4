"""The endpoint Set: each call runs through metrics, log, faults and deadline, in that order."""

from __future__ import annotations

import logging
import time

import pytest
from book.endpoints import Set, new_set
from book.service import Catalogue, CreateBookRequest, GetBookRequest, ListBooksRequest
from book.store import BookStore
from prometheus_client import REGISTRY

from kitcore.endpoint import Context
from kitcore.errors import DeadlineExceeded, NotFound, Unavailable
from kitcore.faults import FaultSettings

DUNE = CreateBookRequest("Dune", "Frank Herbert", 1965, 3)


@pytest.fixture
def knobs() -> FaultSettings:
    return FaultSettings()


@pytest.fixture
def endpoints(catalogue: Catalogue, knobs: FaultSettings) -> Set:
    return new_set(catalogue, knobs, timeout=2.0)


def _count(endpoint: str, outcome: str) -> float:
    labels = {"service": "book", "endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("kit_requests_total", labels) or 0.0


def test_a_call_is_served_counted_and_logged(
    endpoints: Set, caplog: pytest.LogCaptureFixture
) -> None:
    before = _count("create_book", "ok")
    with caplog.at_level(logging.DEBUG, logger="book"):  # a success outside a sampled trace
        reply = endpoints.create_book(Context(), DUNE)
    assert reply.title == "Dune"
    assert _count("create_book", "ok") == before + 1
    [line] = [r for r in caplog.records if r.name == "book"]
    assert line.fields["endpoint"] == "create_book" and line.fields["outcome"] == "ok"


def test_a_failed_call_is_counted_by_its_kind(endpoints: Set) -> None:
    before = _count("get_book", "not_found")
    with pytest.raises(NotFound):
        endpoints.get_book(Context(), GetBookRequest("00000000-0000-4000-8000-0000000000ff"))
    assert _count("get_book", "not_found") == before + 1


def test_injected_faults_fail_calls_before_anything_is_written(
    endpoints: Set, knobs: FaultSettings, store: BookStore
) -> None:
    knobs.update(error_rate=1.0)
    with pytest.raises(Unavailable, match="injected fault"):
        endpoints.create_book(Context(), DUNE)
    assert store.page("", offset=0, limit=10) == []
    knobs.update(error_rate=0.0)
    assert endpoints.create_book(Context(), DUNE).stock == 3


def test_a_call_whose_deadline_passed_is_refused_and_writes_nothing(
    endpoints: Set, store: BookStore
) -> None:
    late = Context().with_deadline(time.monotonic() - 1)
    with pytest.raises(DeadlineExceeded):
        endpoints.create_book(late, DUNE)
    assert store.page("", offset=0, limit=10) == []


def test_injected_latency_stops_at_the_deadline(endpoints: Set, knobs: FaultSettings) -> None:
    knobs.update(latency_ms=5000)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        endpoints.list_books(Context().with_timeout(0.2), ListBooksRequest())
    assert time.monotonic() - started < 4  # generous: the point is "not 5 s"
