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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from integration import in_stack
from integration.api import User
from integration.observability import circuit_states, scrape
from integration.polling import eventually, until
from integration.stack import BOOK_REPLICAS, Stack

CLOSED, HALF_OPEN, OPEN = 0.0, 1.0, 2.0
RECOVERY_WAIT = 20.0
"""Seconds for a cleared replica to be tried (2 s reset timeout) and serve again."""

TRANSITION = re.compile(r"circuit (book/[\w.-]+): ([\w-]+) -> ([\w-]+)")


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
    served = {_read(stack, user, book) for _ in range(10)}
    assert served == {"book-1"}, f"traffic did not move to the healthy replica: {served}"
    assert _state(stack, "book-1") == CLOSED

    in_stack.set_faults(stack.compose, "book-2", error_rate=0.0)

    def recovered() -> bool:
        return _read(stack, user, book) == "book-2" and _state(stack, "book-2") == CLOSED

    until(recovered, timeout=RECOVERY_WAIT, interval=0.2, what="book-2 serving, closed")

    def logged_transitions() -> None:
        log = stack.compose.logs("gateway", since=since)
        changes = [(old, new) for name, old, new in TRANSITION.findall(log)
                   if name == "book/book-2"]
        assert changes[-3:] == [("closed", "open"), ("open", "half-open"),
                                ("half-open", "closed")], f"book/book-2 changes: {changes}"

    eventually(logged_transitions, timeout=10, interval=1.0)


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
