"""The gateway's own settings: backends, its rate limit, and how it calls them."""

from __future__ import annotations

import pytest
from gateway.clients import Resilience
from gateway.config import DEFAULT_BOOK_ADDRS, DEFAULT_USER_ADDRS, GatewayConfig


def test_defaults_run_the_gateway_alone():
    cfg = GatewayConfig.from_env({})
    assert (cfg.user_addresses, cfg.book_addresses) == (DEFAULT_USER_ADDRS, DEFAULT_BOOK_ADDRS)
    assert (cfg.rate_limit, cfg.ratelimit_storage) == ("20/second", "memory://")
    assert cfg.resilience == Resilience()  # the defaults documented there
    assert (cfg.resilience.attempts, cfg.resilience.per_try_timeout) == (3, 1.0)
    assert (cfg.resilience.breaker_fail_max, cfg.resilience.breaker_reset_timeout) == (5, 10.0)
    assert (cfg.kit.http_port, cfg.kit.grpc_port, cfg.kit.request_timeout) == (8080, 0, 3.0)
    # It waits on backends: more threads than a service, the limit below them.
    assert cfg.kit.concurrency_limit < cfg.kit.http_threads == 24
    assert cfg.resilience.bulkhead < cfg.kit.concurrency_limit


def test_every_gateway_variable_is_read():
    cfg = GatewayConfig.from_env({
        "KIT_USER_ADDRS": "user:8080",
        "KIT_BOOK_ADDRS": "book-1:50051, book-2:50051",
        "KIT_RETRY_ATTEMPTS": "2",
        "KIT_PER_TRY_TIMEOUT": "0.5",
        "KIT_RATE_LIMIT": "100 per minute",
        "KIT_RATELIMIT_STORAGE": "redis://redis:6379/0",
        "KIT_BREAKER_FAIL_MAX": "3",
        "KIT_BREAKER_RESET_TIMEOUT": "2.5",
        "KIT_RETRY_BUDGET_RATIO": "0.1",
        "KIT_RETRY_BUDGET_FLOOR": "5",
        "KIT_THROTTLE_K": "1.5",
        "KIT_THROTTLE_WINDOW": "30",
        "KIT_BULKHEAD_MAX": "6",
        "KIT_BALANCER": "round_robin",
        "KIT_BALANCER_DECAY": "5",
    })
    assert cfg.user_addresses == ("user:8080",)
    assert cfg.book_addresses == ("book-1:50051", "book-2:50051")
    assert (cfg.rate_limit, cfg.ratelimit_storage) == ("100 per minute", "redis://redis:6379/0")
    assert cfg.resilience == Resilience(
        attempts=2, per_try_timeout=0.5, breaker_fail_max=3, breaker_reset_timeout=2.5,
        retry_budget_ratio=0.1, retry_budget_floor=5.0, throttle_k=1.5, throttle_window=30.0,
        bulkhead=6, balancer="round_robin", balancer_decay=5.0,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KIT_RATE_LIMIT", "2.0"),
        ("KIT_RATE_LIMIT", "fast"),
        ("KIT_RATELIMIT_STORAGE", "mongodb://x"),
        ("KIT_BREAKER_FAIL_MAX", "0"),
        ("KIT_BREAKER_RESET_TIMEOUT", "soon"),
        ("KIT_RETRY_ATTEMPTS", "0"),
        ("KIT_PER_TRY_TIMEOUT", "0"),
        ("KIT_RETRY_BUDGET_RATIO", "-1"),
        ("KIT_THROTTLE_K", "0.5"),
        ("KIT_BULKHEAD_MAX", "0"),
        ("KIT_BALANCER", "fastest"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        GatewayConfig.from_env({name: value})


def test_the_gateway_will_not_start_without_a_jwt_secret():
    """No secret ships with the code: a gateway checking tokens against one anybody
    can read would accept tokens anybody can sign."""
    from gateway.__main__ import build

    with pytest.raises(ValueError, match="KIT_JWT_SECRET is not set"):
        build(GatewayConfig.from_env({}))
