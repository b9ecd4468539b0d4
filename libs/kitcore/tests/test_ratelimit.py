"""Tests for kitcore.ratelimit against memory and a real redis-server process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from kitcore import errors, ratelimit
from kitcore.endpoint import Context
from kitcore.testing.redis import RedisServer

CTX = Context.background()


def _ok(ctx: Context, request: object) -> object:
    return "ok"


def _name() -> str:
    return f"lim-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_server").url


def _admitted(endpoint, calls: int, ctx: Context = CTX) -> int:
    admitted = 0
    for _ in range(calls):
        try:
            endpoint(ctx, None)
            admitted += 1
        except errors.RateLimited:
            pass
    return admitted


def test_exactly_the_budget_is_admitted_in_a_window(storage_uri):
    limiter = ratelimit.Limiter("5/minute", storage_uri, name=_name())
    endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
    assert _admitted(endpoint, 12) == 5


@pytest.mark.parametrize("strategy", ["fixed-window", "sliding-window-counter"])
def test_other_strategies_keep_the_budget(strategy, storage_uri):
    limiter = ratelimit.Limiter("4/minute", storage_uri, strategy, name=_name())
    assert _admitted(ratelimit.erroring_limit_middleware(limiter)(_ok), 10) == 4


def test_rejection_carries_retry_after_headers_and_is_counted():
    limiter = ratelimit.Limiter("3/minute", name=_name())
    endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
    _admitted(endpoint, 3)
    with pytest.raises(errors.RateLimited) as caught:
        endpoint(CTX, None)
    error = caught.value
    assert 1 <= error.retry_after <= 60
    assert error.headers == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(error.retry_after),
    }
    assert error.wire.http_status == 429 and error.wire.grpc_code == "RESOURCE_EXHAUSTED"
    _admitted(endpoint, 4)
    sample = {"name": limiter.name}
    assert REGISTRY.get_sample_value("kit_ratelimit_rejections_total", sample) == 5


def test_retry_after_is_at_least_one_second():
    limiter = ratelimit.Limiter("1/second", name=_name())
    endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
    endpoint(CTX, None)
    with pytest.raises(errors.RateLimited) as caught:
        endpoint(CTX, None)
    assert caught.value.retry_after == 1


def test_budget_frees_when_the_window_moves():
    limiter = ratelimit.Limiter("2/second", name=_name())
    endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
    assert _admitted(endpoint, 3) == 2
    time.sleep(1.2)
    assert _admitted(endpoint, 3) == 2


def test_keys_have_separate_budgets(storage_uri):
    limiter = ratelimit.Limiter("2/minute", storage_uri, name=_name())
    endpoint = ratelimit.erroring_limit_middleware(limiter, key=ratelimit.by_client_id)(_ok)
    alice = CTX.with_metadata({"X-Client-Id": "alice"})
    bob = CTX.with_metadata({"X-Client-Id": "bob"})
    assert _admitted(endpoint, 4, alice) == 2
    assert _admitted(endpoint, 4, bob) == 2


def test_key_helpers():
    anonymous = CTX.with_metadata({"X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
    assert ratelimit.by_remote_address(anonymous, None) == "addr:203.0.113.7"
    direct = anonymous.with_metadata({"Remote-Addr": "10.1.2.3"})
    assert ratelimit.by_remote_address(direct, None) == "addr:10.1.2.3"
    assert ratelimit.by_remote_address(CTX, None) == "addr:unknown"
    assert ratelimit.by_subject(direct.with_value("claims", {"sub": "u1"}), None) == "sub:u1"
    assert ratelimit.by_subject(direct, None) == "addr:10.1.2.3"
    assert ratelimit.by_client_id(direct.with_metadata({"x-client-id": "c"}), None) == "client:c"
    assert ratelimit.by_client_id(direct, None) == "addr:10.1.2.3"
    assert ratelimit.global_key(direct, None) == "global"


def test_two_processes_share_one_redis_budget(redis_server):
    name = _name()
    limiter = ratelimit.Limiter("10/minute", redis_server.url, name=name)
    endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
    assert _admitted(endpoint, 6) == 6
    child = textwrap.dedent(
        f"""
        from kitcore import errors, ratelimit
        from kitcore.endpoint import Context
        limiter = ratelimit.Limiter("10/minute", {redis_server.url!r}, name={name!r})
        endpoint = ratelimit.erroring_limit_middleware(limiter)(lambda ctx, req: "ok")
        admitted = 0
        for _ in range(10):
            try:
                endpoint(Context(), None)
                admitted += 1
            except errors.RateLimited:
                pass
        print(admitted)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(out.stdout.strip()) == 4
    assert _admitted(endpoint, 3) == 0


def test_storage_outage_admits_calls(caplog):
    server = RedisServer().start()
    try:
        limiter = ratelimit.Limiter("1/minute", server.url, name=_name())
        endpoint = ratelimit.erroring_limit_middleware(limiter)(_ok)
        assert _admitted(endpoint, 2) == 1
        server.stop()
        assert _admitted(endpoint, 3) == 3
        assert "unreachable" in caplog.text
    finally:
        server.close()


def test_a_paused_storage_costs_a_call_at_most_a_quarter_second_then_nothing():
    """Redis frozen (SIGSTOP: connections open, no answers): the call that finds out
    waits one socket timeout, no retries; the calls after it do not wait at all
    until the storage is tried again, and once it answers the budget counts again."""
    server = RedisServer().start()
    try:
        limiter = ratelimit.Limiter("2/minute", server.url, name=_name())
        assert limiter.hit("k")
        server.pause()
        started = time.monotonic()
        assert limiter.hit("k")  # admitted: fails open
        assert time.monotonic() - started < 0.6
        started = time.monotonic()
        assert all(limiter.hit("k") for _ in range(50))
        assert time.monotonic() - started < 0.05  # the storage was not asked
        server.resume()
        time.sleep(ratelimit.STORAGE_RETRY + 0.1)
        # Counted in Redis again (the call that timed out may have been counted too,
        # as Redis ran it once thawed): three more calls exceed the two per minute.
        assert [limiter.hit("k") for _ in range(3)][-1] is False
    finally:
        server.close()


def test_delaying_waits_for_a_slot_within_the_deadline():
    limiter = ratelimit.Limiter("2/second", name=_name())
    endpoint = ratelimit.delaying_limit_middleware(limiter)(_ok)
    _admitted(endpoint, 2)
    started = time.monotonic()
    assert endpoint(CTX.with_timeout(5), None) == "ok"
    assert time.monotonic() - started >= 0.5  # it waited for the window to move


def test_delaying_never_waits_past_the_deadline():
    limiter = ratelimit.Limiter("2/minute", name=_name())
    endpoint = ratelimit.delaying_limit_middleware(limiter)(_ok)
    _admitted(endpoint, 2)
    started = time.monotonic()
    with pytest.raises(errors.RateLimited) as caught:
        endpoint(CTX.with_timeout(2), None)
    assert time.monotonic() - started < 1.5  # rejected at once, not after the deadline
    assert caught.value.retry_after >= 1


def test_delaying_admits_under_budget_without_waiting():
    limiter = ratelimit.Limiter("5/second", name=_name())
    endpoint = ratelimit.delaying_limit_middleware(limiter, key=ratelimit.by_client_id)(_ok)
    ctx = CTX.with_timeout(0.5).with_metadata({"x-client-id": "a"})
    assert [endpoint(ctx, None) for _ in range(5)] == ["ok"] * 5


def test_bad_rate_string_is_refused():
    with pytest.raises(ValueError):
        ratelimit.Limiter("twenty a second")
