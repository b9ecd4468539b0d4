"""Breaking: a replica told to fail (its /admin/faults knob) trips the gateway's
circuit breaker for that instance; traffic moves to the healthy replica with no
error reaching the client; once the fault is cleared the breaker half-opens,
closes, and the replica serves again. With every replica failing, the gateway
answers a clear 503 instead of hanging.

The suite runs the gateways with ``KIT_BREAKER_RESET_TIMEOUT=2`` (see
docker-compose.override.yml); a breaker opens after the default 5 failures. The breaker
state is the gauge ``kit_circuit_state{name="book/<instance>"}`` on the
gateway's public /metrics (0 closed, 1 half-open, 2 open); half-open lasts one
trial call, so it is read from the gateway's log of state changes.

The tests assert properties, not one sequence: while the replica fails, its
breaker opens and refuses calls without sending them (the replica sees at most
one trial call per reset timeout); after the fault is cleared it closes again.
Any number of half-open trials may fail in between: that is the breaker doing
its job on a replica that is still failing, or still slow to answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from integration import in_stack
from integration.api import User
from integration.observability import circuit_states, parse_samples, scrape
from integration.polling import eventually, until
from integration.stack import BOOK_REPLICAS, Stack

CLOSED, HALF_OPEN, OPEN = 0.0, 1.0, 2.0
RECOVERY_WAIT = 20.0
"""Seconds for a cleared replica to be tried (2 s reset timeout) and serve again."""

RESET_TIMEOUT = 2.0
"""The gateways' KIT_BREAKER_RESET_TIMEOUT in the suite (docker-compose.override.yml)."""

TRANSITION = re.compile(r"circuit (book/[\w.-]+): ([\w-]+) -> ([\w-]+)")
WHILE_BROKEN = {("open", "half-open"), ("half-open", "open")}
"""The changes an open breaker may go through before it closes: failed trials."""


@pytest.fixture
def faults_cleared(restore_stack: Stack) -> Iterator[Stack]:
    """The stack with no faults set on the book replicas, before and after the test."""
    for replica in BOOK_REPLICAS:
        in_stack.set_faults(restore_stack.compose, replica, error_rate=0.0)
    yield restore_stack
    for replica in BOOK_REPLICAS:
        in_stack.set_faults(restore_stack.compose, replica, error_rate=0.0)


def _state(stack: Stack, replica: str) -> float | None:
    return circuit_states(scrape(f"{stack.gateway_url}/metrics")).get(f"book/{replica}")


def _read(stack: Stack, user: User, book: str) -> str:
    """One book read through the gateway that must succeed; who served it."""
    reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
    assert reply.status_code == 200, f"a read failed while a healthy replica remains: {reply.text}"
    return reply.headers["X-Served-By"]


@pytest.mark.disruptive
def test_failing_replica_is_broken_open_then_recovers(faults_cleared: Stack, user: User) -> None:
    """book-2 fails every call: its breaker opens, book-1 serves everything with no
    error seen by the client; cleared, the breaker goes half-open, then closed."""
    stack = faults_cleared
    book = stack.probe_book()
    since = datetime.now(UTC).isoformat()
    assert _state(stack, "book-2") == CLOSED

    in_stack.set_faults(stack.compose, "book-2", error_rate=1.0)

    def broken_open() -> bool:
        _read(stack, user, book)
        return _state(stack, "book-2") == OPEN

    until(broken_open, timeout=20, what="breaker for book-2 open")
    calls_before, opened = _calls(stack, "book-2"), time.monotonic()
    served = {_read(stack, user, book) for _ in range(10)}
    trials = _calls(stack, "book-2") - calls_before
    allowed = (time.monotonic() - opened) // RESET_TIMEOUT + 1
    assert served == {"book-1"}, f"traffic did not move to the healthy replica: {served}"
    assert trials <= allowed, (
        f"the open breaker let {trials} of 10 reads reach book-2 (at most {allowed:g} "
        f"trial calls fit in the time the reads took)")
    assert _state(stack, "book-1") == CLOSED

    in_stack.set_faults(stack.compose, "book-2", error_rate=0.0)

    def recovered() -> bool:
        return _read(stack, user, book) == "book-2" and _state(stack, "book-2") == CLOSED

    until(recovered, timeout=RECOVERY_WAIT, interval=0.2, what="book-2 serving, closed")

    def logged_transitions() -> None:
        log = stack.compose.logs("gateway", since=since)
        changes = [(old, new) for name, old, new in TRANSITION.findall(log)
                   if name == "book/book-2"]
        assert changes, "no state change of book/book-2 logged yet"
        assert changes[0] == ("closed", "open"), f"did not open first: {changes}"
        assert changes[-1] == ("half-open", "closed"), f"did not close at last: {changes}"
        unexpected = [change for change in changes[1:-1] if change not in WHILE_BROKEN]
        assert not unexpected, f"changes other than failed trials in between: {changes}"

    eventually(logged_transitions, timeout=10, interval=1.0)


def _calls(stack: Stack, replica: str) -> float:
    """How many get_book calls ``replica`` has seen, whatever their outcome (its /metrics)."""
    reply = in_stack.http(stack.compose, [{"url": f"http://{replica}:8080/metrics"}])[0]
    assert reply.status == 200, f"{replica}/metrics: {reply.status}"
    return sum(sample.value for sample in parse_samples(reply.body)
               if sample.name == "kit_requests_total"
               and sample.labels.get("endpoint") == "get_book")


@pytest.mark.disruptive
def test_all_replicas_failing_gives_a_fast_clear_503(faults_cleared: Stack, user: User) -> None:
    """With every replica failing, reads answer 503 ``unavailable`` (not a hang, not a
    500), both breakers open, and reads succeed again once the faults are cleared."""
    stack = faults_cleared
    book = stack.probe_book()
    for replica in BOOK_REPLICAS:
        in_stack.set_faults(stack.compose, replica, error_rate=1.0)

    def unavailable() -> None:
        reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "unavailable", reply.text

    def both_open() -> bool:
        unavailable()
        return all(_state(stack, replica) == OPEN for replica in BOOK_REPLICAS)

    until(both_open, timeout=20, what="both book breakers open")
    unavailable()

    for replica in BOOK_REPLICAS:
        in_stack.set_faults(stack.compose, replica, error_rate=0.0)

    eventually(lambda: _read(stack, user, book), timeout=RECOVERY_WAIT, interval=0.2)
