"""Limiting: a client bursting past its budget gets 429 with Retry-After and the
RateLimit-* headers; the budget is one budget across both gateway replicas
(shared through Redis); another client is not affected; the limited client gets
through again once the window has passed.

The suite runs the gateways with ``KIT_RATE_LIMIT=40/4 seconds`` (see
docker-compose.override.yml). A client is its token's subject, so each test
client here is a fresh user. The burst is sent from inside the stack, the calls
alternating between ``gateway`` and ``gateway-2``: with one shared budget
exactly 30 of them pass; with a budget per replica, 60 would.
"""

from __future__ import annotations

import pytest
from integration import in_stack
from integration.api import User
from integration.polling import eventually
from integration.stack import Stack

LIMIT = 40
WINDOW = 4.0
"""KIT_RATE_LIMIT in the suite's override file: 40 calls per 4 s (moving window)."""

GATEWAYS = ("http://gateway:8080", "http://gateway-2:8080")
BURST = LIMIT + 20
THREADS = 10
ATTEMPTS = 3
"""Bursts tried (each by a fresh client) until one fits in one window on a busy machine."""


def _profile_calls(client: User, count: int) -> list[dict]:
    """``count`` reads of the client's own profile, alternating between the gateways."""
    return [{"url": f"{GATEWAYS[n % 2]}/api/v1/users/{client.id}", "headers": client.auth}
            for n in range(count)]


def test_burst_is_limited_by_one_budget_across_gateways(stack: Stack) -> None:
    """Exactly LIMIT of the burst pass, both replicas reject the rest with 429."""
    took = []
    for _ in range(ATTEMPTS):
        client = stack.api.new_user("Burster")
        elapsed, replies = in_stack.burst(stack.compose, _profile_calls(client, BURST),
                                          threads=THREADS)
        took.append(round(elapsed, 2))
        if elapsed < WINDOW:
            break
    else:
        pytest.fail(f"no burst of {BURST} calls fit in one {WINDOW}s window: took {took} s")

    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) == LIMIT, (
        f"{statuses.count(200)} of {BURST} passed, want {LIMIT} (one budget for both gateways)")
    for gateway in range(2):
        rejected = [r for n, r in enumerate(replies) if n % 2 == gateway and r.status == 429]
        assert rejected, f"{GATEWAYS[gateway]} rejected nothing"
    retry_after = _check_rejection(next(r for r in replies if r.status == 429))

    bystander = stack.api.new_user("Bystander")
    replies = in_stack.http(stack.compose, _profile_calls(bystander, 4))
    assert [r.status for r in replies] == [200] * 4, "another client must keep its own budget"

    def admitted_again() -> None:
        reply = stack.api.get(f"/api/v1/users/{client.id}", headers=client.auth)
        assert reply.status_code == 200, f"{reply.status_code} {reply.headers}"

    eventually(admitted_again, timeout=retry_after + WINDOW, interval=0.25)


def _check_rejection(reply: in_stack.Reply) -> int:
    """The 429's body and headers follow the contract; its Retry-After in seconds."""
    assert reply.json()["error"]["code"] == "rate_limited", reply.body
    assert reply.json()["error"]["message"], reply.body
    headers = reply.headers
    retry_after = int(headers["retry-after"])
    assert 0 < retry_after <= WINDOW + 1, headers
    assert int(headers["ratelimit-limit"]) == LIMIT, headers
    assert int(headers["ratelimit-remaining"]) == 0, headers
    assert 0 <= int(headers["ratelimit-reset"]) <= WINDOW + 1, headers
    return retry_after
