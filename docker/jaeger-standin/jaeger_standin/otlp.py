"""Decode an OTLP/HTTP trace export (protobuf) into Jaeger-shaped spans."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

_KINDS = {
    OtlpSpan.SPAN_KIND_INTERNAL: "internal",
    OtlpSpan.SPAN_KIND_SERVER: "server",
    OtlpSpan.SPAN_KIND_CLIENT: "client",
    OtlpSpan.SPAN_KIND_PRODUCER: "producer",
    OtlpSpan.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS = {Status.STATUS_CODE_OK: "OK", Status.STATUS_CODE_ERROR: "ERROR"}

Tag = dict[str, Any]
"""A Jaeger tag: ``{"key", "type", "value"}``."""


class BadRequest(ValueError):
    """The request body is not a valid OTLP trace export."""


@dataclass(frozen=True)
class Process:
    """The service that emitted spans: its name and resource attributes."""

    service_name: str
    tags: tuple[tuple[str, str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Jaeger's ``{"serviceName", "tags"}``."""
        return {
            "serviceName": self.service_name,
            "tags": [{"key": k, "type": t, "value": v} for k, t, v in self.tags],
        }


@dataclass
class Span:
    """One span in Jaeger's terms (IDs in lower-case hex, times in microseconds)."""

    trace_id: str
    span_id: str
    operation: str
    start_us: int
    duration_us: int
    process: Process
    references: list[dict[str, str]] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)


def decode_request(body: bytes) -> list[Span]:
    """Parse an ``ExportTraceServiceRequest``; raise BadRequest when it is not one."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequest(f"not an OTLP protobuf trace export: {exc}") from exc
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        process = _process(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise BadRequest("a span has no valid trace_id/span_id")
                spans.append(_span(span, process, scope.name, scope.version))
    return spans


def _process(attributes: list[KeyValue]) -> Process:
    name = "unknown_service"
    tags = []
    for kv in attributes:
        if kv.key == "service.name":
            name = kv.value.string_value or name
        else:
            tags.append(_tag_tuple(kv.key, kv.value))
    return Process(name, tuple(sorted(tags, key=lambda t: t[0])))


def _span(span: OtlpSpan, process: Process, scope: str, version: str) -> Span:
    trace_id = span.trace_id.hex()
    references = []
    if span.parent_span_id:
        references.append(_ref("CHILD_OF", trace_id, span.parent_span_id.hex()))
    references += [_ref("FOLLOWS_FROM", link.trace_id.hex(), link.span_id.hex())
                   for link in span.links]
    tags = [_tag(kv.key, kv.value) for kv in span.attributes]
    if scope:
        tags.append({"key": "otel.scope.name", "type": "string", "value": scope})
    if version:
        tags.append({"key": "otel.scope.version", "type": "string", "value": version})
    if span.kind in _KINDS:
        tags.append({"key": "span.kind", "type": "string", "value": _KINDS[span.kind]})
    if span.status.code in _STATUS:
        tags.append({"key": "otel.status_code", "type": "string",
                     "value": _STATUS[span.status.code]})
    if span.status.code == Status.STATUS_CODE_ERROR:
        tags.append({"key": "error", "type": "bool", "value": True})
        if span.status.message:
            tags.append({"key": "otel.status_description", "type": "string",
                         "value": span.status.message})
    start = span.start_time_unix_nano // 1000
    return Span(
        trace_id=trace_id,
        span_id=span.span_id.hex(),
        operation=span.name,
        start_us=start,
        duration_us=max(0, span.end_time_unix_nano // 1000 - start),
        process=process,
        references=references,
        tags=tags,
        logs=[_log(event) for event in span.events],
    )


def _ref(kind: str, trace_id: str, span_id: str) -> dict[str, str]:
    return {"refType": kind, "traceID": trace_id, "spanID": span_id}


def _log(event: OtlpSpan.Event) -> dict[str, Any]:
    fields = [{"key": "event", "type": "string", "value": event.name}]
    fields += [_tag(kv.key, kv.value) for kv in event.attributes]
    return {"timestamp": event.time_unix_nano // 1000, "fields": fields}


def _tag(key: str, value: AnyValue) -> Tag:
    _, kind, converted = _tag_tuple(key, value)
    return {"key": key, "type": kind, "value": converted}


def _tag_tuple(key: str, value: AnyValue) -> tuple[str, str, Any]:
    which = value.WhichOneof("value")
    if which == "bool_value":
        return key, "bool", value.bool_value
    if which == "int_value":
        return key, "int64", value.int_value
    if which == "double_value":
        return key, "float64", value.double_value
    if which == "string_value":
        return key, "string", value.string_value
    if which == "bytes_value":
        return key, "binary", value.bytes_value.hex()
    # Arrays and maps: Jaeger shows them as JSON strings.
    return key, "string", json.dumps(_plain(value))


def _plain(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which) if which else None
