"""etcd outage: with etcd stopped the gateway keeps serving from the instances it
last saw; when etcd is back, every instance is registered again on its own and
stays registered (its lease kept alive), with no container restarted. If etcd
comes back without the registrations (their leases lost), the instances notice
and register again too.

The suite's lease TTL is 5 s (docker-compose.override.yml): the outage lasts
longer than a TTL, and keys must then stay for two TTLs to prove they are kept
alive rather than left over.
"""

from __future__ import annotations

import pytest
from integration import in_stack
from integration.api import User
from integration.polling import eventually, for_seconds
from integration.stack import (
    BOOK_REPLICAS,
    EXPECTED_INSTANCES,
    PREFIX,
    REGISTER_TTL,
    USER_REPLICAS,
    Stack,
)

TTL = REGISTER_TTL
OUTAGE = TTL + 2
"""Seconds etcd stays down while the gateway is checked."""

REREGISTER_WAIT = 30.0
"""Seconds for etcd to start and every instance to register again."""

SERVICES = (*BOOK_REPLICAS, *USER_REPLICAS, "gateway", "gateway-2")


def _serves_both_backends(stack: Stack, user: User, book: str) -> None:
    read = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
    assert read.status_code == 200, f"book read without etcd: {read.text}"
    shelf = stack.api.get(f"/api/v1/users/{user.id}/shelf", headers=user.auth)
    assert shelf.status_code == 200 and not shelf.json()["degraded"], shelf.text


@pytest.mark.disruptive
def test_gateway_serves_through_an_etcd_outage_and_instances_reregister(
        restore_stack: Stack, user: User) -> None:
    """Reads keep working (both replicas) with etcd down; afterwards keys come back
    and stay, and nothing was restarted."""
    stack = restore_stack
    stack.wait_serving()
    book = stack.probe_book()
    started = {service: stack.compose.started_at(service) for service in SERVICES}

    stack.compose.stop("etcd")
    served: set[str] = set()

    def still_serving() -> None:
        _serves_both_backends(stack, user, book)
        reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
        assert reply.status_code == 200, reply.text
        served.add(reply.headers["X-Served-By"])

    for_seconds(still_serving, seconds=OUTAGE, interval=0.2)
    assert served == set(BOOK_REPLICAS), f"kept instances while etcd was down: {served}"

    stack.compose.start("etcd")
    stack.wait_registered(timeout=REREGISTER_WAIT)
    for_seconds(lambda: stack.wait_registered(timeout=0), seconds=2 * TTL, interval=1.0)
    _serves_both_backends(stack, user, book)
    restarted = [s for s in SERVICES if stack.compose.started_at(s) != started[s]]
    assert not restarted, f"restarted during the outage: {restarted}"


@pytest.mark.disruptive
def test_instances_register_again_when_etcd_lost_their_leases(restore_stack: Stack) -> None:
    """Revoking an instance's lease (etcd forgot it) makes it register again on its own."""
    stack = restore_stack
    before = stack.wait_registered()
    keys = [f"{PREFIX}{service}/{instance}"
            for service, ids in EXPECTED_INSTANCES.items() for instance in sorted(ids)]
    for key in keys:
        in_stack.revoke_lease(stack.compose, before[key].lease)

    def back_on_new_leases() -> None:
        now = in_stack.registrations(stack.compose)
        missing = [key for key in keys if key not in now]
        assert not missing, f"not registered again: {missing}"
        reused = [key for key in keys if now[key].lease == before[key].lease]
        assert not reused, f"still on the revoked lease: {reused}"

    eventually(back_on_new_leases, timeout=REREGISTER_WAIT, interval=0.5)
    stack.wait_serving()
