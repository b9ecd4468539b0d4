"""One endpoint served over HTTP and gRPC at once, from real sockets.

Both clients (kitcore's HTTP client and gRPC client endpoints) must get the
same answer and the same kind of error, with the same message, for every
case: the transport is a detail the caller never sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import flask
import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.testing.grpc_server import serve_grpc
from kitcore.testing.process import free_port
from kitcore.transport import grpc as kgrpc
from kitcore.transport.http import ClientRequest, HTTPClient, new_app, query_str, route

SERVICE = "kitcore.test.Books"


@dataclass(frozen=True)
class GetBook:
    """The request: one book id."""

    id: str


class StockTooLow(errors.FailedPrecondition):
    """A domain error, as a service defines one."""


def get_book(ctx: Context, request: GetBook) -> dict[str, Any]:
    """The one endpoint; some ids stand for failures."""
    if request.id == "slow":
        time.sleep(2)
    if request.id == "sold-out":
        raise StockTooLow("stock would go below zero")
    if request.id == "busy":
        raise errors.RateLimited("rate limit of 1 per 1 second exceeded", retry_after=2.2)
    if request.id == "crash":
        raise RuntimeError("a bug with a secret in its message")
    if request.id.startswith("kind:"):
        raise errors.from_code(request.id[5:], f"raised {request.id[5:]}")
    if request.id != "1":
        raise errors.NotFound(f"no book {request.id}")
    return {"id": "1", "title": "Dune", "year": 1965, "tags": ["sf", "classic"]}


def _valid_id(value: Any) -> GetBook:
    if not isinstance(value, str) or not value:
        raise errors.InvalidArgument("id: required")
    if len(value) > 64:
        raise errors.InvalidArgument("id: at most 64 characters")
    return GetBook(value)


# --- the two servers --------------------------------------------------------------------


def _decode_http(request: flask.Request, path_params: dict[str, Any]) -> GetBook:
    return _valid_id(query_str(request, "id", max_len=1000))


def _decode_grpc(message: struct_pb2.Struct) -> GetBook:
    return _valid_id(json_format.MessageToDict(message).get("id"))


def _to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


@pytest.fixture(scope="module")
def grpc_target():
    handler = grpc.unary_unary_rpc_method_handler(
        kgrpc.Handler(get_book, _decode_grpc, _to_struct, name="GetBook"),
        request_deserializer=struct_pb2.Struct.FromString,
        response_serializer=struct_pb2.Struct.SerializeToString,
    )
    served = serve_grpc(lambda server: server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"GetBook": handler}),)
    ))
    yield served.address
    served.stop()


@pytest.fixture(scope="module")
def http_url():
    from kitcore.testing.http_server import serve_in_thread

    app = new_app("books")
    route(app, "/books", ["GET"], get_book, _decode_http)
    served = serve_in_thread(app)
    yield served.url
    served.stop()


# --- the two clients --------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(http_url, grpc_target) -> dict[str, Endpoint]:
    http_client = HTTPClient(http_url, timeout=5.0)
    channel = kgrpc.new_channel(grpc_target)
    method = channel.unary_unary(
        f"/{SERVICE}/GetBook",
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    yield {
        "http": http_client.endpoint(
            "GET", "/books", lambda req: ClientRequest(query={"id": req.id}), lambda body, _: body
        ),
        "grpc": kgrpc.ClientEndpoint(
            method, lambda req: _to_struct({"id": req.id}), json_format.MessageToDict
        ),
    }
    http_client.close()
    channel.close()


def _outcome(endpoint: Endpoint, ctx: Context, request: GetBook) -> Any:
    try:
        return ("ok", endpoint(ctx, request))
    except errors.KitError as exc:
        return (type(exc), exc.message, exc.retry_after)


def _both(clients: dict[str, Endpoint], request: GetBook, ctx: Context | None = None):
    ctx = ctx or Context()
    return _outcome(clients["http"], ctx, request), _outcome(clients["grpc"], ctx, request)


# --- the same answers -------------------------------------------------------------------


def test_same_answer(clients):
    over_http, over_grpc = _both(clients, GetBook("1"))
    assert over_http == over_grpc
    # Struct numbers are floats; JSON keeps the int. Same value either way.
    assert over_http[1] == {"id": "1", "title": "Dune", "year": 1965, "tags": ["sf", "classic"]}


@pytest.mark.parametrize(
    ("book_id", "kind", "message", "retry_after"),
    [
        ("404", errors.NotFound, "no book 404", None),
        ("", errors.InvalidArgument, "id: required", None),
        ("x" * 65, errors.InvalidArgument, "id: at most 64 characters", None),
        ("sold-out", errors.FailedPrecondition, "stock would go below zero", None),
        ("busy", errors.RateLimited, "rate limit of 1 per 1 second exceeded", 3),
        ("crash", errors.Internal, "internal error", None),
    ],
    ids=["not-found", "missing-id", "long-id", "failed-precondition", "rate-limited", "crash"],
)
def test_same_error(clients, book_id, kind, message, retry_after):
    over_http, over_grpc = _both(clients, GetBook(book_id))
    assert over_http == over_grpc == (kind, message, retry_after)


@pytest.mark.parametrize("kind", list(errors.Kind), ids=lambda kind: kind.value)
def test_every_kind_crosses_both_transports_as_itself(clients, kind):
    over_http, over_grpc = _both(clients, GetBook(f"kind:{kind.value}"))
    expected = (errors.error_class(kind), f"raised {kind.value}", None)
    assert over_http == over_grpc == expected


def test_same_deadline_behaviour(clients):
    for name, endpoint in clients.items():
        started = time.monotonic()
        with pytest.raises(errors.DeadlineExceeded):
            endpoint(Context().with_timeout(0.3), GetBook("slow"))
        assert time.monotonic() - started < 1.5, name


def test_same_error_when_nothing_listens():
    http_client = HTTPClient(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    channel = kgrpc.new_channel(f"127.0.0.1:{free_port()}")
    try:
        over_http = http_client.endpoint(
            "GET", "/books", lambda req: ClientRequest(), lambda body, _: body
        )
        over_grpc = kgrpc.ClientEndpoint(
            channel.unary_unary(f"/{SERVICE}/GetBook"), lambda req: b"", bytes, timeout=2.0
        )
        for endpoint in (over_http, over_grpc):
            with pytest.raises(errors.Unavailable):
                endpoint(Context(), GetBook("1"))
    finally:
        http_client.close()
        channel.close()
