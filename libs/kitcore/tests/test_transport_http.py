"""kitcore.transport.http through real servers (each HTTP server in turn), with HTTPClient
and plain requests."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import flask
import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider, sampling
from prometheus_client import REGISTRY

from kitcore import errors, log, metrics
from kitcore.endpoint import Context
from kitcore.testing.process import free_port
from kitcore.transport import http, instrument
from kitcore.transport.http_server import HeaderMetadata

JSON = {"Content-Type": "application/json"}


@dataclass
class CreateBook:
    title: str
    author: str
    stock: int
    email: str | None


class BookNotFound(errors.NotFound):
    """A domain error, as a service defines it."""


def decode_create(request: flask.Request, path_params: dict) -> CreateBook:
    body = http.json_body(request, allowed={"title", "author", "stock", "email"})
    return CreateBook(
        title=http.required_str(body, "title", max_len=20),
        author=http.required_str(body, "author", max_len=20),
        stock=http.optional_int(body, "stock", min_value=0, max_value=100, default=0),
        email=http.email_str(body) if body.get("email") is not None else None,
    )


def create(ctx: Context, request: CreateBook) -> CreateBook:
    return request


def decode_list(request: flask.Request, path_params: dict) -> dict:
    return {
        "page": http.query_int(request, "page", min_value=1, max_value=1000, default=1),
        "author": http.query_str(request, "author", max_len=20),
    }


def get_book(ctx: Context, request: dict) -> dict:
    if request["id"] == "missing":
        raise BookNotFound(f"book {request['id']} not found")
    if request["id"] == "limited":
        raise errors.RateLimited(
            "slow down", retry_after=1.2, headers={"RateLimit-Limit": "5"}
        )
    if request["id"] == "boom":
        raise RuntimeError("secret database password in this message")
    if request["id"] == "slow":
        time.sleep(0.6)
    return {"id": request["id"], "remaining": ctx.remaining(), "traced": ctx.trace is not None,
            "auth": ctx.metadata.get("authorization"),
            "peer": ctx.metadata.get(http.REMOTE_ADDR_KEY)}


def make_app(wrap=None) -> flask.Flask:
    app = http.new_app("bookshop", max_body_bytes=1024, served_by="bookshop-1")
    endpoint = wrap(get_book) if wrap else get_book
    http.route(app, "/books", ["POST"], create, decode_create,
               lambda r: (http.encode_json(r), 201), name="create_book")
    http.route(app, "/books", ["GET"], lambda ctx, r: r, decode_list, name="list_books")
    http.route(app, "/books/<id>", ["GET"], endpoint, lambda r, p: p, name="get_book")
    app.add_url_rule("/raw/<int:status>", "raw", lambda status: ("plain text", status))
    return app


@pytest.fixture
def server(serve):
    return serve(make_app())


@pytest.fixture
def client(server):
    c = http.HTTPClient(server.url, timeout=5.0, pool_size=4)
    yield c
    c.close()


def get_book_endpoint(client: http.HTTPClient):
    return client.endpoint(
        "GET", "/books/{id}",
        lambda book_id: http.ClientRequest(path_params={"id": book_id}),
        lambda body, headers: (body, headers),
    )


def error_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"] == "application/json"
    return response.json()["error"]


# --- success ----------------------------------------------------------------


def test_post_decodes_calls_and_encodes(server):
    body = {"title": "Dune", "author": "Herbert", "stock": 3, "email": "a@b.io"}
    response = requests.post(server.url + "/books", json=body)
    assert response.status_code == 201
    assert response.json() == body
    assert response.headers["X-Served-By"] == "bookshop-1"


def test_client_endpoint_returns_body_and_headers(client):
    body, headers = get_book_endpoint(client)(Context.background(), "b1")
    assert body["id"] == "b1"
    assert headers["X-Served-By"] == "bookshop-1"


def test_client_sends_json_body_and_query(client):
    create_ep = client.endpoint(
        "POST", "/books", lambda r: http.ClientRequest(json=r), lambda body, headers: body
    )
    book = {"title": "Emma", "author": "Austen", "stock": 1, "email": None}
    assert create_ep(Context.background(), book) == book
    list_ep = client.endpoint(
        "GET", "/books", lambda r: http.ClientRequest(query=r), lambda body, headers: body
    )
    assert list_ep(Context.background(), {"page": 3, "author": "Austen"}) == {
        "page": 3, "author": "Austen"
    }


def test_headers_become_lower_case_metadata(server):
    response = requests.get(server.url + "/books/b1", headers={"Authorization": "Bearer x"})
    assert response.json()["auth"] == "Bearer x"


def test_remote_addr_is_the_socket_peer_not_a_header(server):
    response = requests.get(server.url + "/books/b1", headers={"Remote-Addr": "6.6.6.6"})
    assert response.json()["peer"] == "127.0.0.1"


# --- bad input: every kind is a 4xx JSON error, never a 500 -----------------


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "words"),
    [
        ({"data": "{not json", "headers": JSON}, 400, "invalid_argument", "malformed JSON"),
        ({"data": "[1, 2]", "headers": JSON}, 400, "invalid_argument", "must be an object"),
        ({"data": "", "headers": JSON}, 400, "invalid_argument", "empty"),
        ({"json": {"title": 5, "author": "A"}}, 400, "invalid_argument", "title: must be a string"),
        ({"json": {"title": "T", "author": "A", "stock": "3"}}, 400, "invalid_argument",
         "stock: must be an integer"),
        ({"json": {"title": "T", "author": "A", "stock": 2.5}}, 400, "invalid_argument",
         "stock: must be an integer"),
        ({"json": {"title": "T", "author": "A", "stock": True}}, 400, "invalid_argument",
         "stock: must be an integer"),
        ({"json": {"title": "T", "author": "A", "stock": 101}}, 400, "invalid_argument",
         "stock: must be between 0 and 100"),
        ({"json": {"author": "A"}}, 400, "invalid_argument", "title: required"),
        ({"json": {"title": "x" * 21, "author": "A"}}, 400, "invalid_argument", "longer than 20"),
        ({"json": {"title": "T", "author": "A", "email": "nope"}}, 400, "invalid_argument",
         "email: not an e-mail"),
        ({"json": {"title": "T", "author": "A", "titel": "typo"}}, 400, "invalid_argument",
         "unknown field(s): titel"),
        ({"data": '{"title": "' + "x" * 2000 + '"}', "headers": JSON}, 413, "payload_too_large",
         "larger than 1024 bytes"),
        ({"data": "title=T", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
         415, "unsupported_media_type", "application/json"),
        ({"json": {"title": "T", "author": "A"}, "headers": {"X-Request-Timeout": "soon"}},
         400, "invalid_argument", "X-Request-Timeout"),
    ],
)
def test_bad_body_is_a_json_4xx(server, kwargs, status, code, words):
    response = requests.post(server.url + "/books", **kwargs)
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert words in error["message"]


def test_chunked_body_over_the_limit_is_413(server):
    chunks = (b"x" * 512 for _ in range(8))
    response = requests.post(server.url + "/books", data=chunks, headers=JSON)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_unknown_route_is_404(server):
    response = requests.get(server.url + "/nowhere")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "no route for /nowhere"}


@pytest.mark.parametrize("path", ["//books/b1", "/books//b1", "///books", "/books/b1/",
                                  "/books/", "/books//"])
def test_a_path_names_a_route_only_as_written(server, path):
    """Doubled or trailing slashes are unknown routes (JSON 404), never redirects."""
    response = requests.get(server.url + path + "?page=1", allow_redirects=False)
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": f"no route for {path}"}
    assert response.headers["X-Served-By"] == "bookshop-1"


def test_a_rule_ending_in_a_slash_is_refused():
    with pytest.raises(ValueError, match="ends without a slash"):
        http.route(flask.Flask("x"), "/shelves/", ["GET"], get_book, lambda r, p: p)


def test_wrong_method_is_405_with_allow(server):
    response = requests.delete(server.url + "/books/b1")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("query", ["page=abc", "page=0", "page=1001", "author=" + "y" * 21])
def test_bad_query_param_is_400(server, query):
    response = requests.get(server.url + "/books?" + query)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_argument"


def test_unknown_query_params_are_ignored(server):
    response = requests.get(server.url + "/books?page=2&colour=red")
    assert response.json() == {"page": 2, "author": None}


def test_unexpected_exception_is_a_generic_500_logged_with_traceback(server, caplog):
    caplog.set_level(logging.INFO, logger="kitcore")
    response = requests.get(server.url + "/books/boom")
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal", "message": "internal error"}
    assert "secret" not in response.text and "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name.startswith("kitcore")]
    assert record.levelno == logging.ERROR and record.exc_info is not None


# --- errors round-trip to the client as the same kind -----------------------


def test_not_found_arrives_as_not_found(client):
    with pytest.raises(errors.NotFound, match="book missing not found"):
        get_book_endpoint(client)(Context.background(), "missing")


def test_rate_limited_keeps_retry_after_and_headers(server, client):
    response = requests.get(server.url + "/books/limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"  # 1.2 s rounded up
    assert response.headers["RateLimit-Limit"] == "5"
    with pytest.raises(errors.RateLimited) as caught:
        get_book_endpoint(client)(Context.background(), "limited")
    assert caught.value.retry_after == 2
    assert caught.value.headers["ratelimit-limit"] == "5"


def test_internal_arrives_as_internal(client):
    with pytest.raises(errors.Internal):
        get_book_endpoint(client)(Context.background(), "boom")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(502, errors.Unavailable), (503, errors.Unavailable), (504, errors.DeadlineExceeded),
     (500, errors.Internal), (404, errors.NotFound), (418, errors.InvalidArgument)],
)
def test_non_json_errors_map_by_status(client, status, kind):
    raw = client.endpoint("GET", "/raw/{s}", lambda s: http.ClientRequest(path_params={"s": s}),
                          lambda body, headers: body)
    with pytest.raises(kind):
        raw(Context.background(), status)


def test_non_json_success_is_internal(client):
    raw = client.endpoint("GET", "/raw/200", lambda r: http.ClientRequest(),
                          lambda body, headers: body)
    with pytest.raises(errors.Internal, match="not JSON"):
        raw(Context.background(), None)


# --- deadlines --------------------------------------------------------------


def test_server_sees_the_callers_remaining_time(client):
    body, _ = get_book_endpoint(client)(Context.background().with_timeout(2.0), "b1")
    assert 1.5 < body["remaining"] <= 2.0


def test_client_timeout_caps_the_deadline_sent(server):
    short = http.HTTPClient(server.url, timeout=0.5)
    body, _ = get_book_endpoint(short)(Context.background().with_timeout(30), "b1")
    short.close()
    assert 0.2 < body["remaining"] <= 0.5


def test_expired_context_never_sends(serve):
    calls = []
    app = http.new_app("counter")
    http.route(app, "/count", ["GET"], lambda ctx, r: calls.append(r) or {}, lambda r, p: 1)
    client = http.HTTPClient(serve(app).url)
    ep = client.endpoint("GET", "/count", lambda r: http.ClientRequest(), lambda b, h: b)
    expired = Context.background().with_timeout(-1)
    with pytest.raises(errors.DeadlineExceeded):
        ep(expired, None)
    assert calls == []
    ep(Context.background(), None)
    assert calls == [1]
    client.close()


def test_slow_server_is_deadline_exceeded(client):
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded):
        get_book_endpoint(client)(Context.background().with_timeout(0.2), "slow")
    assert time.monotonic() - started < 0.55


# --- connection failures ----------------------------------------------------


def test_connection_refused_is_not_sent():
    client = http.HTTPClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.NotSent):  # an Unavailable that is safe to retry anywhere
        get_book_endpoint(client)(Context.background(), "b1")
    client.close()


def test_connection_reset_is_unavailable():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_and_close() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    client = http.HTTPClient(f"http://127.0.0.1:{port}")
    with pytest.raises(errors.Unavailable) as caught:
        get_book_endpoint(client)(Context.background(), "b1")
    assert not isinstance(caught.value, errors.NotSent)  # the request went out
    client.close()
    thread.join(5)
    listener.close()


# --- tracing hook -----------------------------------------------------------


def test_trace_id_on_every_response_when_a_span_is_active(serve):
    app = make_app()
    instrument.instrument_flask(app, TracerProvider(sampler=sampling.ALWAYS_OFF))  # not sampled
    served = serve(app)
    ok = requests.get(served.url + "/books/b1")
    missing = requests.get(served.url + "/nowhere")
    bad = requests.post(served.url + "/books", data="{", headers=JSON)
    assert ok.json()["traced"] is True
    for response in (ok, missing, bad):
        assert len(response.headers["X-Trace-Id"]) == 32
    assert ok.headers["X-Trace-Id"] != missing.headers["X-Trace-Id"]


def test_no_trace_id_without_tracing(server):
    response = requests.get(server.url + "/books/b1")
    assert "X-Trace-Id" not in response.headers
    assert response.json()["traced"] is False


# --- one log line per request -----------------------------------------------


def _kit_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("kitcore", "bookshop"))]


def test_each_request_leaves_exactly_one_log_line(serve, caplog):
    caplog.set_level(logging.DEBUG)  # successes outside a sampled trace log at DEBUG
    logger = logging.getLogger("bookshop")
    served = serve(make_app(wrap=log.logging_middleware(logger, "get_book")))
    cases = [
        (lambda: requests.get(served.url + "/books/b1"), "bookshop", "ok"),
        (lambda: requests.get(served.url + "/books/missing"), "bookshop", "not_found"),
        (lambda: requests.get(served.url + "/books/boom"), "bookshop", "internal"),
        (lambda: requests.get(served.url + "/nowhere"), "kitcore.transport.http", "not_found"),
        (lambda: requests.put(served.url + "/books/1"), "kitcore.transport.http",
         "method_not_allowed"),
        (lambda: requests.post(served.url + "/books", data="{", headers=JSON),
         "kitcore.transport.http", "invalid_argument"),
        (lambda: requests.post(served.url + "/books", data="x" * 2048, headers=JSON),
         "kitcore.transport.http", "payload_too_large"),
        (lambda: requests.post(served.url + "/books", data="x"), "kitcore.transport.http",
         "unsupported_media_type"),
    ]
    for send, logger_name, outcome in cases:
        caplog.clear()
        send()
        [record] = _kit_records(caplog)
        assert (record.name, record.fields["outcome"]) == (logger_name, outcome)
        assert "duration_ms" in record.fields


# --- what the fast path keeps -------------------------------------------------


def test_header_metadata_reads_the_environ_with_lower_case_keys():
    environ = {"HTTP_X_REQUEST_ID": "r-1", "HTTP_AUTHORIZATION": "Bearer t",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "",
               "HTTP_REMOTE_ADDR": "6.6.6.6", "REMOTE_ADDR": "10.0.0.7", "PATH_INFO": "/x"}
    metadata = HeaderMetadata(environ)
    assert metadata == {"x-request-id": "r-1", "authorization": "Bearer t",
                        "content-type": "application/json", "remote-addr": "10.0.0.7"}
    assert metadata["remote-addr"] == "10.0.0.7"  # the socket's peer, never the header
    assert metadata.get("content-length") is None and "path-info" not in metadata
    merged = Context(metadata=metadata).with_metadata({"X-Forwarded-For": "1.2.3.4"})
    assert merged.metadata["x-forwarded-for"] == "1.2.3.4"
    assert merged.metadata["authorization"] == "Bearer t"


def test_json_responses_are_byte_for_byte_what_jsonify_writes():
    body = {"b": [1, 2.5, None, True], "a": "Zoë", "when": datetime.date(2026, 1, 2),
            "id": uuid.UUID(int=7), "price": decimal.Decimal("9.90")}
    app = flask.Flask("same")
    with app.app_context():
        ours, theirs = http.json_response(body, 201), flask.jsonify(body)
    assert ours.get_data() == theirs.get_data()
    assert ours.status_code == 201 and ours.content_type == theirs.content_type


def test_an_unsampled_request_keeps_its_trace_id_in_the_header_and_the_log_line(serve):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log.JSONFormatter("bookshop"))
    logger = logging.getLogger("bookshop.lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        app = make_app(wrap=log.logging_middleware(logger, "get_book"))
        instrument.instrument_flask(app, TracerProvider(sampler=sampling.ALWAYS_OFF))
        served = serve(app)
        missing = requests.get(served.url + "/books/missing")
    finally:
        logger.removeHandler(handler)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert missing.status_code == 404 and line["outcome"] == "not_found"
    assert line["trace_id"] == missing.headers["X-Trace-Id"]


def test_the_route_counts_by_its_name_and_outcome(serve):
    app = make_app(wrap=metrics.metrics_middleware("bookshop", "get_book"))
    served = serve(app)

    def count(outcome: str) -> float:
        labels = {"service": "bookshop", "endpoint": "get_book", "outcome": outcome}
        return REGISTRY.get_sample_value("kit_requests_total", labels) or 0.0

    before = count("ok"), count("not_found")
    requests.get(served.url + "/books/b1")
    requests.get(served.url + "/books/b2")
    requests.get(served.url + "/books/missing")
    assert (count("ok"), count("not_found")) == (before[0] + 2, before[1] + 1)
