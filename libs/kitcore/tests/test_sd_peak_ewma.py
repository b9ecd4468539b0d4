"""PeakEWMA: reads leave a slow or failing instance, and come back once it recovers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from knob_server import Knobs, knob_servers
from prometheus_client import REGISTRY

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.sd import Endpointer, Instance, PeakEWMA, StaticInstancer, retry
from kitcore.sd.balancer import INSTANCE


@pytest.fixture
def two() -> Iterator[tuple[dict[str, Knobs], PeakEWMA]]:
    """Two real servers, fast-1 and fast-2, behind one PeakEWMA (decay 0.3 s)."""
    with knob_servers("b1", "b2") as (knobs, endpointer):
        yield knobs, PeakEWMA(endpointer, decay=0.3, seed=3)
        endpointer.close()


def _served(endpoint, calls: int) -> Counter[str]:
    return Counter(endpoint(Context.background(), None) for _ in range(calls))


def test_alike_instances_share_the_calls() -> None:
    """Two instances that answer alike share the calls at random. The rule is checked
    on a clock of the test's own (each call takes 2 ms of it, or 3 ms on b2), as a
    latency spike of a busy machine would set a real server apart for a moment."""
    now = [0.0]

    def instance_taking(seconds: float) -> Endpoint:
        def endpoint(ctx: Context, request: object) -> str:
            now[0] += seconds
            return ctx.value(INSTANCE).id
        return endpoint

    took = {"b1": 0.002, "b2": 0.003}
    instances = [Instance(name, "svc", f"{name}:80", None, "1", {}) for name in took]
    source = Endpointer(StaticInstancer(instances),
                        lambda instance: (instance_taking(took[instance.id]), lambda: None))
    balancer = PeakEWMA(source, decay=0.3, seed=3, clock=lambda: now[0])
    served = _served(balancer, 1000)
    assert 400 <= served["b1"] <= 600 and served["b1"] + served["b2"] == 1000, served


def test_a_slow_instance_loses_its_calls_and_earns_them_back(two) -> None:
    knobs, balancer = two
    _served(balancer, 20)
    knobs["b1"].delay = 0.2
    _served(balancer, 20)  # b1 shows it is slow
    served = _served(balancer, 200)
    assert served["b1"] <= 20, served  # only the probes that check whether it recovered
    assert balancer.cost("b1") > balancer.cost("b2")

    knobs["b1"].delay = 0.0
    deadline = time.monotonic() + 15
    while True:
        served = _served(balancer, 100)
        if served["b1"] >= 25:
            break
        assert time.monotonic() < deadline, f"b1 never earned its calls back: {served}"


def test_an_instance_whose_call_hangs_gets_no_more_calls_meanwhile(two) -> None:
    """A paused instance has not answered, so its latency has decayed to nothing;
    the age of the call it holds is what makes it dear."""
    knobs, balancer = two
    _served(balancer, 20)
    answered = knobs["b1"].calls
    knobs["b1"].gate.clear()  # b1 takes calls and answers none
    hung = threading.Thread(
        target=lambda: balancer.call(Context.background().with_timeout(5), None, exclude={"b2"}))
    hung.start()
    try:
        deadline = time.monotonic() + 5
        while knobs["b1"].calls == answered:
            assert time.monotonic() < deadline, "the hung call never reached b1"
            time.sleep(0.01)
        time.sleep(0.5)  # longer than the decay: b1's last answer has faded
        reached = knobs["b1"].calls
        served: Counter[str] = Counter()
        for _ in range(100):
            try:
                served[balancer(Context.background().with_timeout(0.2), None)] += 1
            except errors.DeadlineExceeded:
                served["timed out"] += 1
        assert served == {"b2": 100}, served
        assert knobs["b1"].calls == reached
        # The scrape shows why: b1's cost, read from kit_balancer_cost, is far above b2's.
        cost = {name: REGISTRY.get_sample_value(
            "kit_balancer_cost", {"backend": "svc", "instance": name}) for name in knobs}
        assert cost["b1"] > 2 * cost["b2"] > 0, cost
    finally:
        knobs["b1"].gate.set()
        hung.join()


def test_an_instance_that_fails_fast_is_not_taken_for_a_fast_one(two) -> None:
    knobs, balancer = two
    knobs["b1"].failing = True
    call = retry(balancer, attempts=2, backoff=0.001)
    served = _served(call, 200)
    assert served == {"b2": 200}  # every failure on b1 was retried on b2
    assert knobs["b1"].calls <= 60, knobs["b1"].calls  # it was tried now and then, not half


def test_a_failing_instance_keeps_its_penalty_even_when_every_call_errors(two) -> None:
    knobs, balancer = two
    for name in knobs:
        knobs[name].failing = True
    for _ in range(20):
        with pytest.raises(errors.Unavailable):
            balancer(Context.background(), None)
    assert balancer.cost("b1") >= balancer.failure_penalty / 2


def test_when_every_instance_fails_for_a_while_both_serve_again_soon_after(two) -> None:
    """A shared dependency down (every replica failing) must not leave the balancer
    with costs so high that an instance stays unused long after it is back."""
    knobs, balancer = two
    _served(balancer, 20)
    for name in knobs:
        knobs[name].failing = True
    for _ in range(300):
        with pytest.raises(errors.Unavailable):
            balancer(Context.background(), None)
    assert max(balancer.cost(name) for name in knobs) <= balancer.max_penalty * 2
    for name in knobs:
        knobs[name].failing = False
    time.sleep(3)  # ten decays (0.3 s): a penalty of at most 1 s has faded
    # Counted over two seconds, not over a burst shorter than a decay: on a busy machine
    # one call delayed by the scheduler is a peak that sends the next calls elsewhere for
    # a few decays (what peak-EWMA is for); a cost left high by the outage keeps an
    # instance out for the whole window.
    served: Counter[str] = Counter()
    until = time.monotonic() + 2.0
    while time.monotonic() < until or sum(served.values()) < 100:
        served.update(_served(balancer, 10))
    total = sum(served.values())
    assert served["b1"] >= total / 10 and served["b2"] >= total / 10, served


def test_a_decay_that_is_not_positive_is_refused(two) -> None:
    _, balancer = two
    with pytest.raises(ValueError):
        PeakEWMA(balancer.source, decay=0)
