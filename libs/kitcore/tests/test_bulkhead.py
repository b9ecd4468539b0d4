"""Bulkhead: calls over the limit fail fast with 503; the others are untouched."""

from __future__ import annotations

import threading
import time

import pytest
from knob_server import client_endpoint, start_knob_server
from prometheus_client import REGISTRY

from kitcore import errors
from kitcore.bulkhead import Bulkhead
from kitcore.endpoint import Context
from kitcore.overload import Overloaded


def _sample(name: str, backend: str) -> float:
    return REGISTRY.get_sample_value(name, {"backend": backend}) or 0.0


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_call_over_the_limit_fails_fast_and_is_counted() -> None:
    with start_knob_server("slow") as (knobs, served):
        endpoint, _ = client_endpoint(served.url)
        guarded = Bulkhead("slow-backend", 2).middleware()(endpoint)
        knobs.gate.clear()  # the backend holds every call
        answers: list[str] = []
        holders = [threading.Thread(target=lambda: answers.append(
            guarded(Context.background(), None))) for _ in range(2)]
        for thread in holders:
            thread.start()
        _wait_for(lambda: knobs.calls == 2)
        assert _sample("kit_bulkhead_in_flight", "slow-backend") == 2
        rejected_before = _sample("kit_bulkhead_rejected_total", "slow-backend")

        with pytest.raises(Overloaded) as refused:
            guarded(Context.background(), None)
        assert refused.value.wire.http_status == 503
        assert refused.value.retry_after == 1.0  # Retry-After: 1, as every refusal for load
        assert isinstance(refused.value, errors.NotSent)  # it never left
        assert knobs.calls == 2  # the backend never saw it
        assert _sample("kit_bulkhead_rejected_total", "slow-backend") == rejected_before + 1

        knobs.gate.set()
        for thread in holders:
            thread.join(10)
        assert answers == ["slow", "slow"]
        assert guarded(Context.background(), None) == "slow"  # room again
        assert _sample("kit_bulkhead_in_flight", "slow-backend") == 0


def test_a_failed_call_gives_its_slot_back() -> None:
    with start_knob_server("failing") as (knobs, served):
        knobs.failing = True
        endpoint, _ = client_endpoint(served.url)
        guarded = Bulkhead("failing-backend", 1).middleware()(endpoint)
        for _ in range(3):
            with pytest.raises(errors.Unavailable) as failed:
                guarded(Context.background(), None)
            assert not isinstance(failed.value, Overloaded)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Bulkhead("x", 0)
