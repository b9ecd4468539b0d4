"""An OTLP/HTTP trace collector for tests, on a free loopback port.

::

    with OTLPCollector() as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}   # for the process under test
        ...
        names = {span.name for span in collector.spans if span.kind == "server"}

It takes what an OpenTelemetry SDK exports over OTLP/HTTP (protobuf
``POST /v1/traces``) as Jaeger or a collector would, refuses anything else,
and keeps every span it receives, decoded into a small :class:`Span`, so a
test reads what a real process really exported.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

TRACES_PATH = "/v1/traces"
"""The one path it answers, as OTLP/HTTP defines it (404 elsewhere)."""

PROTOBUF = "application/x-protobuf"
"""The one body type it takes (415 otherwise): the SDK's OTLP/HTTP exporter sends it."""


@dataclass(frozen=True)
class Span:
    """What a test reads of one exported span; ids are hex, ``parent_id`` "" for a root."""

    service: str
    name: str
    kind: str  # "server", "client", "internal", "producer" or "consumer"
    trace_id: str
    span_id: str
    parent_id: str


class OTLPCollector:
    """Receives OTLP/HTTP trace exports at ``url`` (an ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="otlp-collector",
                         daemon=True).start()

    @property
    def spans(self) -> list[Span]:
        """Every span received so far, in the order received."""
        with self._lock:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[Span]:
        """The spans received so far for one trace (32 hex digits)."""
        return [span for span in self.spans if span.trace_id == trace_id]

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OTLPCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self, body: bytes) -> None:
        spans = list(_decode(ExportTraceServiceRequest.FromString(body)))
        with self._lock:
            self._spans.extend(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        keep = self._keep

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != TRACES_PATH:
                    status = 404
                elif self.headers.get("Content-Type") != PROTOBUF:
                    status = 415
                else:
                    keep(body)
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # quiet: tests read spans, not access logs

        return Handler


def _decode(export: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in export.resource_spans:
        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        service = attributes.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kind = SpanMessage.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower()
                yield Span(service, span.name, kind, span.trace_id.hex(), span.span_id.hex(),
                           span.parent_span_id.hex())
