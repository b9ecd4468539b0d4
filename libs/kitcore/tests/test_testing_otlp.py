"""kitcore.testing.otlp: keeps the spans an SDK exports, refuses what OTLP/HTTP would."""

from __future__ import annotations

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from kitcore.testing.otlp import OTLPCollector


def _export(service: str, name: str, kind: int, trace_id: bytes, parent: bytes) -> bytes:
    export = ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", service
    span = resource_spans.scope_spans.add().spans.add()
    span.name, span.kind, span.trace_id = name, kind, trace_id
    span.span_id, span.parent_span_id = b"\x02" * 8, parent
    return export.SerializeToString()


def test_keeps_each_span_decoded_and_finds_a_trace() -> None:
    protobuf = {"Content-Type": "application/x-protobuf"}
    with OTLPCollector() as collector:
        body = _export("book", "GetBook", 2, b"\x01" * 16, b"\x03" * 8)
        reply = requests.post(f"{collector.url}/v1/traces", data=body, headers=protobuf, timeout=5)
        assert reply.status_code == 200
        other = _export("user", "GetUser", 3, b"\x09" * 16, b"")
        requests.post(f"{collector.url}/v1/traces", data=other, headers=protobuf, timeout=5)
        [span] = collector.trace("01" * 16)
    assert (span.service, span.name, span.kind) == ("book", "GetBook", "server")
    assert (span.span_id, span.parent_id) == ("02" * 8, "03" * 8)
    assert [s.parent_id for s in collector.spans] == ["03" * 8, ""]


def test_refuses_other_paths_and_body_types_and_keeps_nothing() -> None:
    body = _export("book", "GetBook", 2, b"\x01" * 16, b"")
    with OTLPCollector() as collector:
        wrong_path = requests.post(f"{collector.url}/v1/logs", data=body, timeout=5,
                                   headers={"Content-Type": "application/x-protobuf"})
        wrong_type = requests.post(f"{collector.url}/v1/traces", data=body, timeout=5,
                                   headers={"Content-Type": "application/json"})
        assert (wrong_path.status_code, wrong_type.status_code) == (404, 415)
        assert collector.spans == []
