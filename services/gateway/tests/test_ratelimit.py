"""Per-client rate limits: 429 with Retry-After and RateLimit-*, one budget per client,
and one budget across gateway replicas that share a Redis."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator

import pytest

from kitcore.testing.redis import RedisServer

LIMIT = 4
BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965}


def _create(gateway, auth: dict[str, str]) -> int:
    return gateway.request("POST", "/api/v1/books", json=BOOK, headers=auth).status_code


def _bearer(token_for) -> dict[str, str]:
    """The Authorization header of a new client (a token for a new subject)."""
    return {"Authorization": f"Bearer {token_for(str(uuid.uuid4()))}"}


def _get_from(gateway, source: str, path: str) -> int:
    """GET ``path`` from the local address ``source`` (127.0.0.0/8 is all loopback)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10,
                                            source_address=(source, 0))
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def limited(start_stack):
    """Healthy backends behind a gateway that allows each client LIMIT calls a minute."""
    return start_stack({"KIT_RATE_LIMIT": f"{LIMIT}/minute"})


def test_over_budget_is_429_with_retry_after_and_ratelimit_headers(limited, token_for):
    auth = _bearer(token_for)
    assert [_create(limited.gateway, auth) for _ in range(LIMIT)] == [201] * LIMIT
    reply = limited.gateway.request("POST", "/api/v1/books", json=BOOK, headers=auth)
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == "rate_limited"
    assert 0 < int(reply.headers["Retry-After"]) <= 60
    assert reply.headers["RateLimit-Limit"] == str(LIMIT)
    assert reply.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(reply.headers["RateLimit-Reset"]) <= 60
    assert len(limited.gateway.get("/api/v1/books").json()["items"]) == LIMIT  # nothing more


def test_each_token_subject_has_its_own_budget(limited, token_for):
    first, second = _bearer(token_for), _bearer(token_for)
    for _ in range(LIMIT):
        _create(limited.gateway, first)
    assert _create(limited.gateway, first) == 429
    assert _create(limited.gateway, second) == 201
    # Anonymous calls from the same address spend the address's budget, not the subject's.
    assert limited.gateway.get("/api/v1/books").status_code == 200


def test_anonymous_clients_are_told_apart_by_address(limited):
    for _ in range(LIMIT):
        assert _get_from(limited.gateway, "127.0.0.1", "/api/v1/books") == 200
    assert _get_from(limited.gateway, "127.0.0.1", "/api/v1/books") == 429
    assert _get_from(limited.gateway, "127.0.0.2", "/api/v1/books") == 200


def test_a_forged_forwarded_for_header_buys_no_new_budget(limited):
    for n in range(LIMIT):
        limited.gateway.get("/api/v1/books", headers={"X-Forwarded-For": f"10.0.0.{n}"})
    reply = limited.gateway.get("/api/v1/books", headers={"X-Forwarded-For": "10.9.9.9"})
    assert reply.status_code == 429


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_replicas_sharing_redis_share_one_budget(start_stack, start_gateway, redis, token_for):
    shared = {"KIT_RATE_LIMIT": f"{LIMIT}/minute", "KIT_RATELIMIT_STORAGE": redis.url}
    stack = start_stack(shared)
    replica = start_gateway({**shared, "KIT_BOOK_ADDRS": ",".join(b.grpc for b in stack.books)})
    auth = _bearer(token_for)
    statuses = [_create(gateway, auth) for gateway in [stack.gateway, replica] * LIMIT]
    assert statuses.count(201) == LIMIT and statuses.count(429) == LIMIT, statuses
    assert json.loads(replica.get("/openapi.json").text)  # limits never touch other routes
