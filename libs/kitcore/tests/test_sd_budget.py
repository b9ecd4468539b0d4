"""Retry budget: retries add at most a fraction of recent calls; beyond it, fail fast."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from knob_server import client_endpoint, start_knob_server
from prometheus_client import REGISTRY

from kitcore import errors
from kitcore.endpoint import Context
from kitcore.overload import Overloaded
from kitcore.sd import Endpointer, Instance, RetryBudget, RoundRobin, StaticInstancer, retry


def _retries(backend: str, outcome: str) -> float:
    labels = {"backend": backend, "outcome": outcome}
    return REGISTRY.get_sample_value("kit_retries_total", labels) or 0.0


def _call_many(endpoint, calls: int) -> None:
    for _ in range(calls):
        with pytest.raises(errors.Unavailable):
            endpoint(Context.background(), None)


def test_retries_stay_within_the_budget_and_fail_with_the_original_error() -> None:
    with start_knob_server("down") as (knobs, served):
        knobs.failing = True
        endpoint, _ = client_endpoint(served.url)
        budget = RetryBudget("budgeted", ratio=0.2, floor_per_second=0.0)
        call = retry(endpoint, attempts=3, backoff=0.001, budget=budget)
        _call_many(call, 100)
        # Without a budget: 300 calls reach the backend. With it: 100 + at most 20.
        assert 100 <= knobs.calls <= 121, knobs.calls
        assert _retries("budgeted", "spent") == knobs.calls - 100
        assert _retries("budgeted", "denied") >= 75
        counted = REGISTRY.get_sample_value("kit_retry_budget_calls_total",
                                            {"backend": "budgeted"})
        assert counted == 100


def test_without_a_budget_every_call_is_retried() -> None:
    with start_knob_server("down") as (knobs, served):
        knobs.failing = True
        endpoint, _ = client_endpoint(served.url)
        _call_many(retry(endpoint, attempts=3, backoff=0.001), 50)
        assert knobs.calls == 150


def test_the_floor_lets_a_quiet_client_retry() -> None:
    with start_knob_server("first-fails") as (knobs, served):
        knobs.failing = True
        endpoint, _ = client_endpoint(served.url)
        budget = RetryBudget("quiet", ratio=0.0, floor_per_second=1.0, window=5.0)
        _call_many(retry(endpoint, attempts=2, backoff=0.001, budget=budget), 10)
        assert knobs.calls == 15  # 10 first tries, 5 retries (1/s over 5 s)


def test_retries_go_to_the_other_instance_through_middlewares_in_between() -> None:
    """The instances to avoid travel in the context, past a middleware like a throttle."""
    with ExitStack() as stack:
        down, down_served = stack.enter_context(start_knob_server("b1"))
        _, up_served = stack.enter_context(start_knob_server("b2"))
        down.failing = True
        urls = {"b1": down_served.url, "b2": up_served.url}
        instances = [Instance(name, "svc", url, None, "1", {}) for name, url in urls.items()]

        def factory(instance: Instance):
            endpoint, client = client_endpoint(urls[instance.id])
            return endpoint, client.close

        balancer = RoundRobin(Endpointer(StaticInstancer(instances), factory))

        def passing(next_endpoint):
            return lambda ctx, request: next_endpoint(ctx, request)

        call = retry(passing(balancer), attempts=2, backoff=0.001)
        assert {call(Context.background(), None) for _ in range(10)} == {"b2"}


def test_a_call_the_client_refused_itself_is_not_retried() -> None:
    tries = []

    def refusing(ctx: Context, request: object) -> None:
        tries.append(1)
        raise Overloaded("throttled")

    with pytest.raises(Overloaded):
        retry(refusing, attempts=3, backoff=0.001)(Context.background(), None)
    assert len(tries) == 1
