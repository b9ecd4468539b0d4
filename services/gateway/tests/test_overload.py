"""Overload: past its concurrency limit the gateway refuses at once, then serves again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import REGISTRY

UNKNOWN = "9b2e4f1c-7a3d-4e5b-9c8a-1d2e3f4a5b6c"


def test_requests_past_the_limit_get_a_quick_503_with_retry_after(start_gateway, black_hole):
    gateway = start_gateway({"KIT_BOOK_ADDRS": black_hole, "KIT_CONCURRENCY_LIMIT": "2",
                             "KIT_REQUEST_TIMEOUT": "3", "KIT_PER_TRY_TIMEOUT": "3"})
    path = f"/api/v1/books/{UNKNOWN}"
    with ThreadPoolExecutor(2) as pool:
        stuck = [pool.submit(gateway.get, path) for _ in range(2)]  # wait on a silent book
        deadline = time.monotonic() + 2
        while gateway.wired.concurrency.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        reply = gateway.get(path)
        seconds = time.monotonic() - started
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "unavailable"
        assert "overloaded" in reply.json()["error"]["message"]
        assert reply.headers["Retry-After"] == "1"
        assert seconds < 1.0  # refused at once, not after the 3 s the others wait
        assert all(f.result().status_code in (503, 504) for f in stuck)
    # The stuck calls are over: their slots are free again.
    assert gateway.get("/api/v1/books/not-a-uuid").status_code == 400


def test_a_backend_over_its_bulkhead_gets_a_quick_503_with_retry_after(start_gateway, black_hole):
    """The gateway's own refusal for one backend says when to come back, as the
    concurrency limit's does: every 503 for load carries Retry-After."""
    gateway = start_gateway({"KIT_BOOK_ADDRS": black_hole, "KIT_BULKHEAD_MAX": "1",
                             "KIT_REQUEST_TIMEOUT": "3", "KIT_PER_TRY_TIMEOUT": "3"})
    path = f"/api/v1/books/{UNKNOWN}"
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(gateway.get, path)  # holds book's one bulkhead slot
        deadline = time.monotonic() + 2
        while (REGISTRY.get_sample_value("kit_bulkhead_in_flight", {"backend": "book"}) or 0) < 1 \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        reply = gateway.get(path)
        seconds = time.monotonic() - started
        assert reply.status_code == 503, reply.text
        assert "bulkhead full" in reply.json()["error"]["message"]
        assert reply.headers["Retry-After"] == "1"
        assert seconds < 1.0
        assert stuck.result().status_code in (503, 504)
