"""Registration: every instance is in etcd under the discovery contract's key with
the contract's JSON value, on a lease; a graceful stop removes the key at once,
a crash (SIGKILL) lets it expire within the lease TTL.

The suite runs the services with ``KIT_REGISTER_TTL=5`` (see
docker-compose.override.yml), so a crashed instance must vanish within 5 s
plus a margin; the default of 10 s would work the same, slower.
"""

from __future__ import annotations

import pytest
from integration import in_stack
from integration.polling import eventually
from integration.stack import EXPECTED_INSTANCES, PREFIX, REGISTER_TTL, Stack

EXPIRY_MARGIN = 3.0
"""Seconds allowed past the TTL: keepalive timing plus etcd's lease expiry tick."""

GRACEFUL_WINDOW = 2.0
"""Seconds after ``docker stop`` returns within which the key must be gone: less than
the TTL, so an instance that merely let its lease expire would fail."""


def test_every_instance_is_registered_with_the_contract_value(stack: Stack) -> None:
    """Each instance's key holds {id, service, transport{http, grpc}, version, meta}
    on a lease of the configured TTL, and its addresses answer inside the stack."""
    found = stack.wait_registered()
    probes = []
    for service, ids in EXPECTED_INSTANCES.items():
        for instance_id in ids:
            key = f"{PREFIX}{service}/{instance_id}"
            assert key in found, f"{key} missing; registered: {sorted(found)}"
            value = found[key].value
            assert list(value) == ["id", "service", "transport", "version", "meta"], value
            assert value["id"] == instance_id and value["service"] == service, value
            assert isinstance(value["version"], str) and isinstance(value["meta"], dict), value
            assert set(value["transport"]) == {"http", "grpc"}, value
            for address in value["transport"].values():
                if address is not None:
                    host, _, port = address.rpartition(":")
                    assert host and port.isdigit(), value
            assert value["transport"]["http"], f"{key}: no HTTP address: {value}"
            probes.append({"url": f"http://{value['transport']['http']}/healthz"})

            lease = found[key].lease
            assert lease not in ("", "0"), f"{key} is not on a lease"
            granted, left = in_stack.lease_ttl(stack.compose, lease)
            assert granted == REGISTER_TTL, f"{key}: lease TTL {granted}, want {REGISTER_TTL}"
            assert left > 0, f"{key}: lease already expired"
    assert found[f"{PREFIX}book/book-1"].value["transport"]["grpc"], "book must advertise gRPC"

    replies = in_stack.http(stack.compose, probes)
    for probe, reply in zip(probes, replies, strict=True):
        assert reply.status == 200, f"{probe['url']} from inside the stack: {reply}"


@pytest.mark.disruptive
def test_graceful_stop_removes_the_key_at_once(restore_stack: Stack) -> None:
    """``docker stop`` of a replica deregisters it before the process ends."""
    stack = restore_stack
    stack.wait_registered()

    stack.compose.stop("book-2")

    eventually(lambda: _absent(stack, "book-2"), timeout=GRACEFUL_WINDOW, interval=0.1)
    assert "book-1" in stack.registered_ids("book"), "the other replica must stay"


@pytest.mark.disruptive
def test_killed_replica_expires_within_the_ttl(restore_stack: Stack) -> None:
    """``docker kill`` (no deregistration) leaves the key to its lease, which expires."""
    stack = restore_stack
    stack.wait_registered()

    stack.compose.kill("book-2")

    eventually(lambda: _absent(stack, "book-2"), timeout=REGISTER_TTL + EXPIRY_MARGIN,
               interval=0.25)
    assert "book-1" in stack.registered_ids("book"), "the other replica must stay"


def _absent(stack: Stack, instance_id: str) -> None:
    ids = stack.registered_ids("book")
    assert instance_id not in ids, f"{instance_id} still registered: {sorted(ids)}"

