"""One shelf read is one trace across gateway, user (HTTP) and book (gRPC).

The three services run as real processes (``python -m <service>``) exporting
OTLP to a collector in this test (kitcore.testing.otlp), so tracing is set up
exactly as in the stack and nothing global changes in the test process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kitcore.testing.config import JWT_SECRET
from kitcore.testing.otlp import OTLPCollector, Span
from kitcore.testing.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[3]
EXPORT_WAIT = 20.0


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[ServiceProcess, OTLPCollector]]:
    """user, book and the gateway as processes, all exporting to one collector."""
    collector = OTLPCollector()
    common = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
              "KIT_LOG_LEVEL": "WARNING", "KIT_SHUTDOWN_GRACE": "1", "KIT_JWT_SECRET": JWT_SECRET}
    user = ServiceProcess("user", ROOT, env={**common, "KIT_INSTANCE_ID": "user-1"})
    book = ServiceProcess("book", ROOT, env={**common, "KIT_INSTANCE_ID": "book-1"})
    gateway = ServiceProcess("gateway", ROOT, env={
        **common, "KIT_INSTANCE_ID": "gateway-1", "KIT_USER_ADDRS": user.address,
        "KIT_BOOK_ADDRS": book.grpc_address,
    })
    started = []
    try:
        for process in (user, book, gateway):
            started.append(process.start(timeout=60))
        yield gateway, collector
    finally:
        for process in started:
            process.close()
        collector.close()


def _wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_a_shelf_read_is_one_trace_across_three_services(traced):
    gateway, collector = traced
    api = gateway.url + "/api/v1"
    signed_up = requests.post(f"{api}/users", timeout=10, json={
        "name": "Ada", "email": "ada@example.org", "password": "correct horse"})
    assert signed_up.status_code == 201, signed_up.text
    user_id = signed_up.json()["user"]["id"]
    token = requests.post(f"{api}/auth/login", timeout=10, json={
        "email": "ada@example.org", "password": "correct horse"}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    book = requests.post(f"{api}/books", headers=auth, timeout=10, json={
        "title": "Dune", "author": "Frank Herbert", "year": 1965}).json()["book"]["id"]
    requests.post(f"{api}/users/{user_id}/shelf", headers=auth, json={"book_id": book}, timeout=10)

    shelf = requests.get(f"{api}/users/{user_id}/shelf", headers=auth, timeout=10)
    assert shelf.status_code == 200 and shelf.json()["books"][0]["id"] == book, shelf.text
    trace_id = shelf.headers["X-Trace-Id"]
    assert len(trace_id) == 32

    def complete() -> list[Span]:
        spans = collector.trace(trace_id)
        assert {"gateway", "user", "book"} <= {span.service for span in spans}, spans
        return spans

    spans = _wait_for(complete, EXPORT_WAIT)
    by_id = {span.span_id: span for span in spans}
    roots = [span for span in spans if not span.parent_id]
    assert [root.service for root in roots] == ["gateway"], roots
    for service in ("user", "book"):
        servers = [span for span in spans if span.service == service and span.kind == "server"]
        assert servers, f"no server span in {service}"
        for span in servers:  # entered from a client span of the gateway
            parent = by_id[span.parent_id]
            assert parent.service == "gateway" and parent.kind == "client", (span, parent)


@pytest.mark.slow
def test_errors_carry_a_trace_id_too(traced):
    gateway, _ = traced
    for path in ("/api/v1/books/not-a-uuid", "/api/v1/nowhere", "/api/v1/books/" + "0" * 36):
        reply = requests.get(gateway.url + path, timeout=10)
        assert 400 <= reply.status_code < 500, reply.text
        assert len(reply.headers["X-Trace-Id"]) == 32, path
