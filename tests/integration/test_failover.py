"""Failover: with one book replica stopped (gracefully or killed), reads through
the gateway keep succeeding on the other; when the replica starts again it gets
traffic within a few seconds of registering, and the gateway never restarts.

A killed replica stays registered until its lease expires, so right after the
kill the gateway still picks it: those reads succeed only because the retry
moves to the other replica.
"""

from __future__ import annotations

import pytest
from integration.api import User
from integration.polling import eventually, until
from integration.stack import Stack

CALLS = 20
START_WAIT = 60.0
"""Seconds for the started replica to register (a Python process booting on a busy machine)."""

COMEBACK_WAIT = 5.0
"""Seconds from the replica's key reappearing to its first served read."""


@pytest.mark.disruptive
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_reads_survive_a_lost_replica_which_rejoins(restore_stack: Stack, user: User,
                                                    how: str) -> None:
    """Every read succeeds on book-1 while book-2 is gone; book-2 serves again after start."""
    stack = restore_stack
    stack.wait_serving()
    book = stack.probe_book()
    gateway_started = stack.compose.started_at("gateway")

    if how == "stop":
        stack.compose.stop("book-2")
    else:
        stack.compose.kill("book-2")

    for _ in range(CALLS):
        reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
        assert reply.status_code == 200, f"read failed with book-2 {how}ped: {reply.text}"
        assert reply.headers["X-Served-By"] == "book-1", reply.headers

    stack.compose.start("book-2")
    eventually(lambda: _registered(stack, "book-2"), timeout=START_WAIT, interval=0.5)

    def served_by_book_2() -> bool:
        reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
        assert reply.status_code == 200, reply.text
        return reply.headers["X-Served-By"] == "book-2"

    until(served_by_book_2, timeout=COMEBACK_WAIT, what="a read served by book-2")
    assert stack.compose.started_at("gateway") == gateway_started, "the gateway restarted"


def _registered(stack: Stack, instance_id: str) -> None:
    assert instance_id in stack.registered_ids("book"), f"{instance_id} not registered yet"
