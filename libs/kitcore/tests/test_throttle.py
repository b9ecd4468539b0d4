"""Adaptive throttle: a refusing backend is refused locally; a healthy one never is."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from knob_server import client_endpoint, start_knob_server
from prometheus_client import REGISTRY

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.overload import Overloaded
from kitcore.throttle import Throttle


def _outcomes(endpoint: Endpoint, calls: int) -> list[str]:
    """Call ``calls`` times: "ok", "throttled" or the error's kind."""
    seen = []
    for _ in range(calls):
        try:
            endpoint(Context.background(), None)
            seen.append("ok")
        except Overloaded:
            seen.append("throttled")
        except errors.KitError as error:
            seen.append(error.kind.value)
    return seen


def _throttled_total(backend: str) -> float:
    return REGISTRY.get_sample_value("kit_client_throttled_total", {"backend": backend}) or 0.0


@pytest.fixture
def throttled() -> Callable[..., tuple[Throttle, Endpoint]]:
    def make(url: str, backend: str, **options: float) -> tuple[Throttle, Endpoint]:
        throttle = Throttle(backend, seed=7, **options)
        endpoint, _ = client_endpoint(url)
        return throttle, throttle.middleware()(endpoint)

    return make


def test_a_healthy_backend_is_never_throttled(throttled) -> None:
    with start_knob_server("ok") as (knobs, served):
        throttle, endpoint = throttled(served.url, "healthy")
        assert _outcomes(endpoint, 100) == ["ok"] * 100
        assert throttle.rejection_probability() == 0.0
        assert knobs.calls == 100


def test_answers_that_are_the_callers_fault_count_as_accepted(throttled) -> None:
    with start_knob_server("missing") as (knobs, served):
        knobs.missing = True
        _, endpoint = throttled(served.url, "not-found")
        assert _outcomes(endpoint, 100) == ["not_found"] * 100


def test_a_refusing_backend_is_spared_most_calls_and_earns_them_back(throttled) -> None:
    with start_knob_server("refusing") as (knobs, served):
        throttle, endpoint = throttled(served.url, "refusing", window=1.0)
        _outcomes(endpoint, 20)  # learns the backend is healthy
        knobs.failing = True
        before = _throttled_total("refusing")
        reached_before = knobs.calls
        seen = _outcomes(endpoint, 300)
        reached = knobs.calls - reached_before
        # With 20 accepts in the window, about K * 20 calls go out before the
        # probability (n - 40) / (n + 1) climbs: most of the 300 stay local.
        assert seen.count("throttled") >= 150, seen
        assert reached <= 150, reached
        assert set(seen) == {"throttled", "unavailable"}
        assert _throttled_total("refusing") - before == seen.count("throttled")
        assert throttle.rejection_probability() > 0.6

        knobs.failing = False
        time.sleep(1.1)  # the refusals leave the window
        assert throttle.rejection_probability() == 0.0
        assert _outcomes(endpoint, 20) == ["ok"] * 20


def test_an_unreachable_backend_is_refused_locally(throttled) -> None:
    with start_knob_server("gone") as (_, served):
        url = served.url
    _, endpoint = throttled(url, "gone")  # nothing listens there any more
    seen = _outcomes(endpoint, 200)
    assert seen[:10] == ["unavailable"] * 10  # a few failures alone refuse nothing
    # Only sent calls count, so the probability (sent - 10) / (sent + 1) climbs as
    # calls still go out: past 100 calls it is above 0.7.
    assert seen[100:].count("throttled") >= 70, seen


def test_a_backend_back_after_an_outage_gets_its_calls_back_at_once(throttled) -> None:
    """The outage's failures are still in the (30 s) window; the calls that succeed
    once it is back soon outweigh them."""
    with start_knob_server("back") as (knobs, served):
        throttle, endpoint = throttled(served.url, "back", window=30.0)
        _outcomes(endpoint, 20)
        knobs.failing = True
        during = _outcomes(endpoint, 300)
        assert during.count("throttled") >= 150 and throttle.rejection_probability() > 0.6
        knobs.failing = False
        after = _outcomes(endpoint, 400)
        # About 200 failures were sent: some 180 successes outweigh them (K = 2, the
        # floor); counting refused calls too, 300 of these 400 were still refused.
        assert after.count("throttled") <= 120, after
        assert after[250:] == ["ok"] * 150, after
        assert throttle.rejection_probability() == 0.0


def test_k_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Throttle("x", k=0.5)
