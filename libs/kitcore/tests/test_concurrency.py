"""Tests for kitcore.concurrency: admission, refusal, and the AIMD limit's moves."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY

from kitcore import concurrency, errors
from kitcore.endpoint import Context

CTX = Context.background()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _limiter(max_limit: int = 10, **kwargs) -> concurrency.ConcurrencyLimiter:
    return concurrency.ConcurrencyLimiter(max_limit, name=f"c-{uuid.uuid4().hex[:8]}", **kwargs)


def _run(limiter, clock: FakeClock, seconds: float, *, dropped: bool = False) -> None:
    started = limiter.acquire()
    clock.now += seconds
    limiter.release(started, dropped=dropped)


def test_calls_past_the_limit_are_refused_with_503_and_retry_after():
    limiter = _limiter(3)
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(errors.Unavailable) as caught:
        limiter.acquire()
    assert caught.value.wire.http_status == 503
    assert caught.value.wire.grpc_code == "UNAVAILABLE"
    assert caught.value.retry_after == concurrency.RETRY_AFTER
    assert "3 calls in flight" in str(caught.value)
    assert REGISTRY.get_sample_value(
        "kit_concurrency_rejections_total", {"name": limiter.name}) == 1
    assert limiter.in_flight == 3


def test_a_finished_call_frees_its_slot():
    limiter = _limiter(1)
    started = limiter.acquire()
    limiter.release(started)
    limiter.acquire()
    assert limiter.in_flight == 1


def test_slow_calls_cut_the_limit_and_a_slow_batch_cuts_it_once():
    clock = FakeClock()
    limiter = _limiter(10, target_latency=0.05, backoff=0.5, clock=clock)
    batch = [limiter.acquire() for _ in range(4)]  # all admitted before any cut
    clock.now += 0.2
    for started in batch:
        limiter.release(started)
    assert limiter.limit == 5
    _run(limiter, clock, 0.2)  # admitted after the cut: cuts again
    assert limiter.limit == 2


def test_the_limit_never_goes_below_its_minimum():
    clock = FakeClock()
    limiter = _limiter(8, min_limit=2, backoff=0.5, clock=clock)
    for _ in range(10):
        _run(limiter, clock, 1.0)
    assert limiter.limit == 2


def test_a_machine_slow_all_over_keeps_its_limit_and_a_queue_on_top_is_still_cut():
    clock = FakeClock()
    limiter = _limiter(10, min_limit=2, target_latency=0.05, backoff=0.5, clock=clock)
    for _ in range(500):
        _run(limiter, clock, 0.3)  # every call 6x the target: a starved machine
    cuts_when_slow = limiter.limit
    for _ in range(200):
        batch = [limiter.acquire() for _ in range(limiter.limit)]  # busy, all equally slow
        clock.now += 0.3
        for started in batch:
            limiter.release(started)
    assert limiter.limit == 10, "equally slow calls must not keep the limit down"
    assert cuts_when_slow < 10  # the first slow calls did cut, before the average learned
    _run(limiter, clock, 3.0)  # ten times the recent average: a queue
    assert limiter.limit == 5


def test_a_call_that_ran_out_of_time_cuts_the_limit_even_when_quick():
    clock = FakeClock()
    limiter = _limiter(10, backoff=0.5, clock=clock)
    _run(limiter, clock, 0.001, dropped=True)
    assert limiter.limit == 5


def test_a_busy_fast_server_grows_back_to_its_maximum_but_not_past_it():
    clock = FakeClock()
    limiter = _limiter(10, backoff=0.5, clock=clock)
    _run(limiter, clock, 1.0)
    assert limiter.limit == 5
    for _ in range(200):
        batch = [limiter.acquire() for _ in range(limiter.limit)]  # the server is full
        clock.now += 0.001
        for started in batch:
            limiter.release(started)
    assert limiter.limit == 10
    assert REGISTRY.get_sample_value("kit_concurrency_limit", {"name": limiter.name}) == 10


def test_an_idle_server_does_not_grow_its_limit():
    clock = FakeClock()
    limiter = _limiter(10, backoff=0.5, clock=clock)
    _run(limiter, clock, 1.0)
    for _ in range(500):
        _run(limiter, clock, 0.001)  # one call at a time: far below half the limit
    assert limiter.limit == 5


def test_the_middleware_refuses_quickly_while_the_limit_is_busy():
    limiter = _limiter(2)
    release = threading.Event()

    def slow(ctx, request):
        release.wait(5)
        return "served"

    endpoint = concurrency.concurrency_limit_middleware(limiter)(slow)
    with ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(endpoint, CTX, None) for _ in range(2)]
        while limiter.in_flight < 2:
            time.sleep(0.001)
        with pytest.raises(errors.Unavailable):
            endpoint(CTX, None)
        release.set()
        assert [future.result() for future in busy] == ["served", "served"]
    assert limiter.in_flight == 0
    assert endpoint(CTX, None) == "served"


def test_the_middleware_counts_a_deadline_as_a_drop_and_passes_the_error_on():
    limiter = _limiter(10, backoff=0.5)

    def late(ctx, request):
        raise errors.DeadlineExceeded("too late")

    with pytest.raises(errors.DeadlineExceeded):
        concurrency.concurrency_limit_middleware(limiter)(late)(CTX, None)
    assert limiter.limit == 5 and limiter.in_flight == 0


def test_other_errors_free_the_slot_without_a_cut():
    limiter = _limiter(4)

    def missing(ctx, request):
        raise errors.NotFound("no such thing")

    with pytest.raises(errors.NotFound):
        concurrency.concurrency_limit_middleware(limiter)(missing)(CTX, None)
    assert limiter.limit == 4 and limiter.in_flight == 0


@pytest.mark.parametrize("kwargs", [{"min_limit": 0}, {"min_limit": 5, "max_limit": 4},
                                    {"backoff": 1.0}])
def test_settings_that_cannot_work_are_refused(kwargs):
    with pytest.raises(ValueError):
        concurrency.ConcurrencyLimiter(**{"max_limit": 4, **kwargs})


def test_an_endpoint_slow_by_design_cuts_only_past_its_own_target():
    clock = FakeClock()
    limiter = _limiter(10, target_latency=0.05, backoff=0.5, clock=clock)

    def hashing(ctx, request):
        clock.now += 0.5  # slow, as hashing a password is
        return "hashed"

    slow = concurrency.concurrency_limit_middleware(limiter, target_latency=1.0)(hashing)
    assert slow(CTX, None) == "hashed"
    assert limiter.limit == 10
    assert concurrency.concurrency_limit_middleware(limiter)(hashing)(CTX, None) == "hashed"
    assert limiter.limit == 5  # the same call under the limiter's own target is slow


def test_without_a_limiter_the_endpoint_is_left_as_it_is():
    def bare(ctx, request):
        return "served"

    assert concurrency.concurrency_limit_middleware(None)(bare) is bare
