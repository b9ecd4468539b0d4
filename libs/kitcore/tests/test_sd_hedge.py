"""Hedged reads: a slow try is raced by a second instance, within the retry budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from knob_server import Knobs, knob_servers
from prometheus_client import REGISTRY

from kitcore import errors
from kitcore.endpoint import Context
from kitcore.sd import (
    LatencyTracker,
    RetryBudget,
    RoundRobin,
    hedged,
    record_instances,
)


def _hedges(backend: str, outcome: str) -> float:
    labels = {"backend": backend, "outcome": outcome}
    return REGISTRY.get_sample_value("kit_hedges_total", labels) or 0.0


@pytest.fixture
def two() -> Iterator[tuple[dict[str, Knobs], RoundRobin]]:
    """Two real servers, b1 and b2, taken in turn by a round robin."""
    with knob_servers("b1", "b2") as (knobs, endpointer):
        yield knobs, RoundRobin(endpointer)
        endpointer.close()


def _fast_so_far(floor: float) -> LatencyTracker:
    """A tracker that has seen 200 quick answers: a slow one is in the tail."""
    tracker = LatencyTracker(floor=floor)
    for _ in range(200):
        tracker.observe(0.001)
    return tracker


def test_a_slow_try_is_answered_by_the_other_instance(two) -> None:
    knobs, balancer = two
    knobs["b1"].delay = 0.5
    read = hedged(balancer, backend="hedge-slow", budget=RetryBudget("hedge-slow"),
                  latency=_fast_so_far(0.05))
    answers = []
    for _ in range(6):
        ctx, tried = record_instances(Context.background())
        answers.append((read(ctx, None), [instance.id for instance in tried]))
    assert {answer for answer, _ in answers} == {"b2"}
    slow_first = [tried for _, tried in answers if tried[0] == "b1"]
    assert slow_first and all(tried == ["b1", "b2"] for tried in slow_first), answers
    assert [tried for _, tried in answers if tried[0] == "b2"] == [["b2"]] * (6 - len(slow_first))
    assert _hedges("hedge-slow", "sent") == len(slow_first)  # every try that went to b1 first
    assert _hedges("hedge-slow", "won") == len(slow_first)


def test_the_p95_is_that_of_recent_answers() -> None:
    tracker = LatencyTracker(size=100, floor=0.0)
    for millis in range(1, 201):
        tracker.observe(millis / 1000)
    assert tracker.p95() == pytest.approx(0.195)  # of the last 100: 101..200 ms


def test_fast_reads_are_not_hedged(two) -> None:
    _, balancer = two
    read = hedged(balancer, backend="hedge-fast", budget=RetryBudget("hedge-fast"),
                  latency=LatencyTracker(floor=0.5))
    assert {read(Context.background(), None) for _ in range(10)} == {"b1", "b2"}
    assert _hedges("hedge-fast", "sent") == 0


def test_no_hedge_once_the_budget_is_spent(two) -> None:
    knobs, balancer = two
    knobs["b1"].delay = 0.3
    spent = RetryBudget("hedge-broke", ratio=0.0, floor_per_second=0.0)
    read = hedged(balancer, backend="hedge-broke", budget=spent, latency=_fast_so_far(0.05))
    assert [read(Context.background(), None) for _ in range(4)] == ["b1", "b2"] * 2
    assert _hedges("hedge-broke", "sent") == 0


def test_a_failing_try_waits_for_the_hedge(two) -> None:
    knobs, balancer = two
    knobs["b1"].delay = 0.2
    knobs["b1"].failing = True
    read = hedged(balancer, backend="hedge-fail", budget=RetryBudget("hedge-fail"),
                  latency=_fast_so_far(0.05))
    assert read(Context.background(), None) == "b2"  # b1 first: slow, then failed
    knobs["b2"].failing = True
    knobs["b2"].delay = 0.2
    with pytest.raises(errors.Unavailable):
        read(Context.background(), None)  # b2 first, then b1: both fail
