"""Tests for kitcore.circuitbreaker: trip, fail fast, half-open, client errors, fallback, gauge."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from kitcore import circuitbreaker, errors
from kitcore.endpoint import Context

CTX = Context.background()


class Backend:
    """An endpoint whose next answers are scripted: an exception to raise, or a value."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_with: BaseException | None = errors.Unavailable("backend down")

    def __call__(self, ctx: Context, request: object) -> object:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        return {"ok": request}


def _name() -> str:
    return f"book/{uuid.uuid4().hex[:8]}"


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("kit_circuit_state", {"name": name})


def _fail(endpoint, times: int) -> None:
    for _ in range(times):
        with pytest.raises(errors.KitError):
            endpoint(CTX, "req")


def test_opens_after_exactly_fail_max_failures_then_fails_fast():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=3, reset_timeout=60)
    endpoint = breaker.middleware()(backend)

    _fail(endpoint, 2)
    assert breaker.state == "closed"
    # The tripping call reports the backend's own error.
    with pytest.raises(errors.Unavailable, match="backend down"):
        endpoint(CTX, "req")
    assert breaker.state == "open"
    assert backend.calls == 3

    backend.fail_with = None
    with pytest.raises(errors.NotSent, match=f"circuit open for {breaker.name}"):
        endpoint(CTX, "req")  # NotSent: an Unavailable that is safe to retry elsewhere
    assert backend.calls == 3  # not called while open


def test_success_resets_the_failure_count():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=3, reset_timeout=60)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 2)
    backend.fail_with = None
    endpoint(CTX, "req")
    backend.fail_with = errors.Unavailable("down again")
    _fail(endpoint, 2)
    assert breaker.state == "closed"


def test_half_opens_after_timeout_and_closes_on_success():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=1, reset_timeout=0.2)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 1)
    assert breaker.state == "open"

    time.sleep(0.3)
    seen = []
    endpoint_seeing_state = breaker.middleware()(
        lambda ctx, req: seen.append(breaker.state) or "fine"
    )
    assert endpoint_seeing_state(CTX, "req") == "fine"
    assert seen == ["half-open"]
    assert breaker.state == "closed"
    backend.fail_with = None
    assert endpoint(CTX, 1) == {"ok": 1}


def test_success_threshold_needs_that_many_trial_successes():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=1, reset_timeout=0.1, success_threshold=2)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 1)
    time.sleep(0.2)
    backend.fail_with = None
    endpoint(CTX, 1)
    assert breaker.state == "half-open"
    endpoint(CTX, 2)
    assert breaker.state == "closed"


def test_failed_trial_reopens():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=2, reset_timeout=0.2)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 2)
    time.sleep(0.3)
    with pytest.raises(errors.Unavailable, match="backend down"):
        endpoint(CTX, "trial")
    assert breaker.state == "open"
    calls = backend.calls
    with pytest.raises(errors.Unavailable, match="circuit open"):
        endpoint(CTX, "req")
    assert backend.calls == calls


def test_half_open_lets_one_trial_call_decide_and_refuses_the_rest_meanwhile():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=1, reset_timeout=0.2)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 1)
    time.sleep(0.3)

    trial_started, finish_trial = threading.Event(), threading.Event()
    trial_calls = []

    def slow_trial(ctx, request):
        trial_calls.append(request)
        trial_started.set()
        assert finish_trial.wait(5)
        return "fine"

    guarded = breaker.middleware()(slow_trial)
    trial = threading.Thread(target=guarded, args=(CTX, "trial"))
    trial.start()
    assert trial_started.wait(5)
    assert breaker.state == "half-open"
    for n in range(5):  # concurrent calls while the trial runs never reach the backend
        with pytest.raises(errors.NotSent, match="trial call is running"):
            guarded(CTX, n)
    finish_trial.set()
    trial.join(5)
    assert trial_calls == ["trial"]
    assert breaker.state == "closed"
    assert guarded(CTX, "after") == "fine"
    assert trial_calls == ["trial", "after"]


def test_a_refused_trial_leaves_the_next_call_free_to_be_the_trial():
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=1, reset_timeout=0.1)
    endpoint = breaker.middleware()(backend)
    _fail(endpoint, 1)
    time.sleep(0.2)
    with pytest.raises(errors.Unavailable, match="backend down"):  # the trial fails
        endpoint(CTX, "trial")
    assert breaker.state == "open"
    time.sleep(0.2)
    backend.fail_with = None
    assert endpoint(CTX, "next trial") == {"ok": "next trial"}
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    "client_error",
    [
        errors.InvalidArgument("bad"),
        errors.NotFound("no such book"),
        errors.Unauthenticated("who are you"),
        errors.PermissionDenied("no"),
        errors.RateLimited("slow down"),
        errors.AlreadyExists("dup"),
    ],
)
def test_client_errors_never_trip(client_error):
    backend = Backend()
    backend.fail_with = client_error
    breaker = circuitbreaker.Breaker(_name(), fail_max=2, reset_timeout=60)
    endpoint = breaker.middleware()(backend)
    for _ in range(10):
        with pytest.raises(type(client_error)):
            endpoint(CTX, "req")
    assert breaker.state == "closed"
    assert backend.calls == 10


def test_non_kit_exceptions_count_as_failures():
    backend = Backend()
    backend.fail_with = ConnectionError("refused")
    breaker = circuitbreaker.Breaker(_name(), fail_max=2, reset_timeout=60)
    endpoint = breaker.middleware()(backend)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            endpoint(CTX, "req")
    assert breaker.state == "open"


def test_fallback_answers_while_open():
    backend = Backend()
    got = []

    def fallback(ctx, request, error):
        got.append((request, type(error), str(error)))
        return {"degraded": request}

    name = _name()
    guard = circuitbreaker.breaker_middleware(name, fail_max=1, reset_timeout=60, fallback=fallback)
    endpoint = guard(backend)
    with pytest.raises(errors.Unavailable):  # the tripping call still fails
        endpoint(CTX, "a")
    assert endpoint(CTX, "b") == {"degraded": "b"}
    assert got == [("b", errors.NotSent, f"circuit open for {name}")]
    assert backend.calls == 1


def test_gauge_follows_state_and_each_change_is_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="kitcore.circuitbreaker")
    backend = Backend()
    breaker = circuitbreaker.Breaker(_name(), fail_max=1, reset_timeout=0.2)
    endpoint = breaker.middleware()(backend)
    assert _gauge(breaker.name) == 0

    _fail(endpoint, 1)
    assert _gauge(breaker.name) == 2
    _fail(endpoint, 3)  # failing fast while open changes nothing
    time.sleep(0.3)
    backend.fail_with = None
    half_open_values = []
    breaker.middleware()(lambda ctx, req: half_open_values.append(_gauge(breaker.name)))(CTX, 0)
    assert half_open_values == [1]
    assert _gauge(breaker.name) == 0

    fields = [getattr(r, "fields", {}) for r in caplog.records]
    changes = [(f["old_state"], f["new_state"]) for f in fields if f.get("breaker") == breaker.name]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]

    breaker.close()
    assert _gauge(breaker.name) is None


def test_breakers_are_independent_per_instance():
    down, up = Backend(), Backend()
    up.fail_with = None
    breakers = {iid: circuitbreaker.Breaker(f"book/{iid}-{uuid.uuid4().hex[:4]}", fail_max=1)
                for iid in ("i1", "i2")}
    ep1 = breakers["i1"].middleware()(down)
    ep2 = breakers["i2"].middleware()(up)
    _fail(ep1, 1)
    assert breakers["i1"].state == "open"
    assert ep2(CTX, "x") == {"ok": "x"}
    assert breakers["i2"].state == "closed"


def test_concurrent_calls_are_not_serialised():
    # Two calls must be inside the endpoint at the same time, or the barrier breaks.
    barrier = threading.Barrier(2, timeout=5)
    endpoint = circuitbreaker.breaker_middleware(_name())(lambda ctx, req: barrier.wait())
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(_try(endpoint))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(map(type, results), key=str) == [int, int]


def _try(endpoint):
    try:
        return endpoint(CTX, None)
    except threading.BrokenBarrierError as exc:
        return exc
