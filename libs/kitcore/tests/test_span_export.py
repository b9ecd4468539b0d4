"""kitcore.span_export: the same OTLP message as OpenTelemetry's encoder, and sent for real."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as stock_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from kitcore import spans
from kitcore.span_export import SpanExporter, encode_spans
from kitcore.testing.otlp import OTLPCollector

ENVIRON = {"REQUEST_METHOD": "GET", "PATH_INFO": "/books/b-1", "wsgi.url_scheme": "http",
           "SERVER_NAME": "book", "REMOTE_ADDR": "10.0.0.7", "HTTP_USER_AGENT": "curl/8"}


def _provider(exporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "book", "replica": 2}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _every_kind_of_span() -> list:
    """Spans as kitcore and its instrumentations make them, and the unusual shapes."""
    kept = InMemorySpanExporter()
    provider = _provider(kept)
    kit, client = provider.get_tracer("kitcore"), provider.get_tracer("grpc-client", "1.2")
    for code in (200, 200, 503):  # the same attributes twice: the second comes from the cache
        served = spans.start("GET", None, None, kit)
        served.finish("GET /books/<id>",
                      lambda code=code: spans._http_attributes(ENVIRON, "GET", "/books/<id>", code),
                      code >= 500)
    remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    called = spans.start("/kitcore.book.v1.BookService/GetBook", remote, "k1=v1,k2=v2", kit)
    with client.start_as_current_span("GetBook", kind=SpanKind.CLIENT,
                                      attributes={"rpc.system": "grpc", "n": 3, "ok": True,
                                                  "share": 0.5, "ids": ["a", "b"]}) as inner:
        inner.set_status(Status(StatusCode.ERROR, "book is down"))
        inner.record_exception(ValueError("boom"))
    called.finish(None, lambda: {"rpc.grpc.status_code": 14}, True)
    linked = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1),
                         trace_state=TraceState([("a", "b")]))
    kit.start_span("batch", links=[Link(linked, {"why": "retry"})]).end()
    return list(kept.get_finished_spans())


def test_the_message_is_the_stock_encoders_for_every_kind_of_span():
    batch = _every_kind_of_span()
    ours = ExportTraceServiceRequest.FromString(encode_spans(batch))
    assert ours == stock_encode(batch)
    encoded = [s for r in ours.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert len(encoded) == len(batch) == 6
    scopes = [ss.scope.name for ss in ours.resource_spans[0].scope_spans]
    assert scopes == ["kitcore", "grpc-client"]


def test_an_empty_batch_and_a_second_batch_encode_alike():
    batch = _every_kind_of_span()
    assert ExportTraceServiceRequest.FromString(encode_spans([])) == stock_encode([])
    assert encode_spans(batch) == encode_spans(batch)  # the cache changes nothing


def test_spans_reach_a_collector_through_the_exporter():
    with OTLPCollector() as collector:
        exporter = SpanExporter(endpoint=collector.url + "/v1/traces")
        provider = _provider(exporter)
        served = spans.start("GET", None, None, provider.get_tracer("kitcore"))
        served.finish("GET /books/<id>",
                      lambda: spans._http_attributes(ENVIRON, "GET", "/books/<id>", 200), False)
        deadline = time.monotonic() + 10
        while not collector.spans and time.monotonic() < deadline:
            time.sleep(0.02)
        [got] = collector.spans
        assert got.name == "GET /books/<id>"
        assert got.service == "book"
        assert got.trace_id == served.trace_id
        provider.shutdown()


def test_a_shut_down_exporter_sends_nothing():
    with OTLPCollector() as collector:
        exporter = SpanExporter(endpoint=collector.url + "/v1/traces")
        exporter.shutdown()
        assert exporter.export(_every_kind_of_span()).name == "FAILURE"
        time.sleep(0.2)
        assert collector.spans == []


@pytest.fixture(autouse=True)
def _no_global_provider():
    before = trace.get_tracer_provider()
    yield
    assert trace.get_tracer_provider() is before
