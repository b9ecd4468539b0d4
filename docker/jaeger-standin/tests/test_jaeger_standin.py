"""The stand-in end to end: the OpenTelemetry SDK exports to it over OTLP/HTTP,
and the Jaeger query API answers in Jaeger's JSON shape."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from standin_server import StandIn, provider


def _two_service_trace(url: str) -> str:
    """gateway (server span -> client span) -> book (server span); returns the trace ID."""
    gateway = provider("gateway", url).get_tracer("test")
    book = provider("book", url).get_tracer("test")
    with gateway.start_as_current_span("GET /api/v1/books", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.status_code", 200)
        with (
            gateway.start_as_current_span("BookService/GetBook", kind=SpanKind.CLIENT),
            book.start_as_current_span("BookService/GetBook", kind=SpanKind.SERVER) as s,
        ):
            s.set_attribute("served_by", "book-1")
            s.add_event("looked up", {"rows": 1})
            s.set_status(Status(StatusCode.ERROR, "boom"))
    return format(root.get_span_context().trace_id, "032x")


def test_services_lists_every_sender(standin: StandIn) -> None:
    _two_service_trace(standin.otlp_url)
    status, body = standin.get("/api/services")
    assert status == 200
    assert body["data"] == ["book", "gateway"]
    assert body["total"] == 2
    status, body = standin.get("/api/services/book/operations")
    assert body["data"] == ["BookService/GetBook"]


def test_trace_by_id_has_jaeger_shape_and_parents(standin: StandIn) -> None:
    trace_id = _two_service_trace(standin.otlp_url)
    status, body = standin.get(f"/api/traces/{trace_id}")
    assert status == 200
    [found] = body["data"]
    assert found["traceID"] == trace_id
    spans = {(s["operationName"], found["processes"][s["processID"]]["serviceName"]): s
             for s in found["spans"]}
    root = spans[("GET /api/v1/books", "gateway")]
    client = spans[("BookService/GetBook", "gateway")]
    server = spans[("BookService/GetBook", "book")]
    assert root["references"] == []
    assert client["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": root["spanID"]}]
    assert server["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": client["spanID"]}]
    assert root["startTime"] <= server["startTime"]
    assert root["duration"] >= server["duration"] >= 0
    tags = {t["key"]: t for t in server["tags"]}
    assert tags["span.kind"]["value"] == "server"
    assert tags["served_by"] == {"key": "served_by", "type": "string", "value": "book-1"}
    assert tags["error"]["value"] is True
    assert {"key": "http.status_code", "type": "int64", "value": 200} in root["tags"]
    assert server["logs"][0]["fields"][0] == {"key": "event", "type": "string",
                                              "value": "looked up"}
    process_tags = {t["key"] for t in found["processes"][server["processID"]]["tags"]}
    assert "host.name" in process_tags and "service.name" not in process_tags


def test_trace_id_without_leading_zeros_is_found(standin: StandIn) -> None:
    trace_id = _two_service_trace(standin.otlp_url)
    status, body = standin.get(f"/api/traces/{trace_id.lstrip('0') or '0'}")
    assert status == 200 and body["data"][0]["traceID"] == trace_id


def test_search_by_service_newest_first_with_limit(standin: StandIn) -> None:
    first = _two_service_trace(standin.otlp_url)
    second = _two_service_trace(standin.otlp_url)
    status, body = standin.get("/api/traces?service=book&limit=20&lookback=1h")
    assert status == 200
    assert [t["traceID"] for t in body["data"]] == [second, first]
    assert all(len(t["spans"]) == 3 for t in body["data"])
    status, body = standin.get("/api/traces?service=book&limit=1")
    assert [t["traceID"] for t in body["data"]] == [second]
    status, body = standin.get("/api/traces?service=nobody")
    assert status == 200 and body["data"] == []
    status, body = standin.get(
        "/api/traces?service=gateway&operation=GET%20/api/v1/books&tags=%7B%22http.status_code%22%3A%22200%22%7D")
    assert len(body["data"]) == 2


def test_the_store_keeps_only_the_newest_traces() -> None:
    server = StandIn(max_traces=2)
    try:
        ids = [_two_service_trace(server.otlp_url) for _ in range(3)]
        assert server.get(f"/api/traces/{ids[0]}")[0] == 404
        status, body = server.get("/api/traces?service=gateway")
        assert [t["traceID"] for t in body["data"]] == [ids[2], ids[1]]
    finally:
        server.close()


def test_the_store_keeps_the_span_count_bounded() -> None:
    server = StandIn(max_traces=100, max_spans=7)  # two traces of three spans fit
    try:
        ids = [_two_service_trace(server.otlp_url) for _ in range(3)]
        status, body = server.get("/api/traces?service=book")
        assert [t["traceID"] for t in body["data"]] == [ids[2], ids[1]]
    finally:
        server.close()


def test_gzip_bodies_are_accepted(standin: StandIn) -> None:
    status = standin.post(gzip.compress(ExportTraceServiceRequest().SerializeToString()),
                          {"Content-Type": "application/x-protobuf",
                           "Content-Encoding": "gzip"})
    assert status == 200


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400),
        (b"{}", {"Content-Type": "application/json"}, 415),
        (b"x", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 400),
        (b"x", {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415),
    ],
)
def test_bad_exports_get_a_4xx(standin: StandIn, body: bytes, headers: dict,
                               expected: int) -> None:
    assert standin.post(body, headers) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/traces", 400),
        ("/api/traces?service=a&limit=x", 400),
        ("/api/traces?service=a&lookback=forever", 400),
        ("/api/traces?service=a&tags=[1]", 400),
        ("/api/traces/" + "ab" * 16, 404),
        ("/api/nothing", 404),
    ],
)
def test_bad_queries_get_jaeger_errors(standin: StandIn, path: str, expected: int) -> None:
    status, body = standin.get(path)
    assert status == expected
    assert body["data"] is None and body["errors"][0]["code"] == expected


def test_front_page_says_it_is_a_stand_in(standin: StandIn) -> None:
    url = f"http://127.0.0.1:{standin.query.server_address[1]}/"
    with urllib.request.urlopen(url, timeout=5) as response:
        page = response.read().decode()
    assert "stand-in" in page and "not Jaeger" in page


def test_the_sdk_exporter_sees_success(standin: StandIn) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    with provider.get_tracer("t").start_as_current_span("op") as span:
        pass
    exporter = OTLPSpanExporter(endpoint=standin.otlp_url)
    assert exporter.export([span]) == SpanExportResult.SUCCESS
