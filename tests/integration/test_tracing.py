"""Tracing: one shelf read (gateway -> user over HTTP, gateway -> book over gRPC)
is one trace in the Jaeger query API, with spans of all three services
correctly nested, and its trace id is in the response and in every service's logs.
"""

from __future__ import annotations

from integration.api import User
from integration.observability import Span, jaeger_trace
from integration.polling import eventually
from integration.stack import BOOK_REPLICAS, USER_REPLICAS, Stack

EXPORT_WAIT = 30.0
"""Seconds for the spans of every service to reach Jaeger (export batches, ingestion)."""

LOG_WAIT = 15.0


def _shelf_with_books(stack: Stack, user: User) -> list[str]:
    books = [stack.api.create_book(user, title=f"Shelved {n}")["id"] for n in range(2)]
    for book in books:
        reply = stack.api.post(f"/api/v1/users/{user.id}/shelf", json={"book_id": book},
                               headers=user.auth)
        assert reply.status_code == 200, reply.text
    return books


def _complete(stack: Stack, trace_id: str) -> list[Span]:
    spans = jaeger_trace(stack.jaeger_url, trace_id)
    services = {s.service for s in spans}
    assert {"gateway", "user", "book"} <= services, f"services so far: {sorted(services)}"
    return spans


def _is_server(span: Span) -> bool:
    return span.tags.get("span.kind") == "server"


def _is_grpc(span: Span) -> bool:
    return span.tags.get("rpc.system") == "grpc"


def _is_http(span: Span) -> bool:
    return any(key.startswith(("http.", "url.")) for key in span.tags)


def test_shelf_read_is_one_trace_across_three_services(stack: Stack, user: User) -> None:
    """The fan-out's spans share one trace, nest under the gateway, and cross an HTTP
    hop to user and a gRPC hop to book."""
    books = _shelf_with_books(stack, user)
    reply = stack.api.get(f"/api/v1/users/{user.id}/shelf", headers=user.auth)
    assert reply.status_code == 200, reply.text
    shelf = reply.json()
    assert not shelf["degraded"] and [b["id"] for b in shelf["books"]] == books, shelf
    trace_id = reply.headers.get("X-Trace-Id", "")
    assert len(trace_id) == 32 and int(trace_id, 16), f"X-Trace-Id: {trace_id!r}"

    spans = eventually(lambda: _complete(stack, trace_id), timeout=EXPORT_WAIT, interval=0.5)

    by_id = {s.span_id: s for s in spans}
    assert all(s.trace_id.lstrip("0") == trace_id.lstrip("0") for s in spans), spans
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1 and roots[0].service == "gateway", f"roots: {roots}"
    orphans = [s for s in spans if s.parent_id is not None and s.parent_id not in by_id]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"

    def entered_from_gateway(span: Span) -> bool:
        return _is_server(span) and by_id[span.parent_id].service == "gateway"

    user_entries = [s for s in spans if s.service == "user" and s.parent_id
                    and entered_from_gateway(s)]
    book_entries = [s for s in spans if s.service == "book" and s.parent_id
                    and entered_from_gateway(s)]
    assert any(_is_http(s) and not _is_grpc(s) for s in user_entries), \
        f"no HTTP server span of user under a gateway span: {user_entries}"
    assert any(_is_grpc(s) for s in book_entries), \
        f"no gRPC server span of book under a gateway span: {book_entries}"
    for entry in user_entries + book_entries:
        assert _chain_to_root(entry, by_id) == roots[0], f"{entry} does not lead to the root"

    def logged() -> None:
        # Each backend has two replicas: the one that served the call logged it.
        for service, replicas in (("gateway", ("gateway",)), ("user", USER_REPLICAS),
                                  ("book", BOOK_REPLICAS)):
            assert trace_id in stack.compose.logs(*replicas), f"{trace_id} not in {service} logs"

    eventually(logged, timeout=LOG_WAIT, interval=1.0)


def _chain_to_root(span: Span, by_id: dict[str, Span]) -> Span:
    seen = set()
    while span.parent_id is not None:
        assert span.span_id not in seen, "parent references form a cycle"
        seen.add(span.span_id)
        span = by_id[span.parent_id]
    return span
