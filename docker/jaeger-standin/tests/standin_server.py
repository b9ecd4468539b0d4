"""The stand-in's two servers on free loopback ports, and tracer providers that export to them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from jaeger_standin.server import OtlpHandler, QueryHandler, StoreServer
from jaeger_standin.store import TraceStore
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


class StandIn:
    """Both servers on free ports, sharing one store."""

    def __init__(self, max_traces: int = 100, max_spans: int = 1000) -> None:
        store = TraceStore(max_traces=max_traces, max_spans=max_spans)
        self.otlp = StoreServer(("127.0.0.1", 0), OtlpHandler, store)
        self.query = StoreServer(("127.0.0.1", 0), QueryHandler, store)
        for server in (self.otlp, self.query):
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def otlp_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp.server_address[1]}/v1/traces"

    def url(self, path: str) -> str:
        """The query server's URL of ``path``."""
        return f"http://127.0.0.1:{self.query.server_address[1]}{path}"

    def page(self, path: str) -> tuple[int, dict[str, str], str]:
        """Status, headers and text of a page of the query server."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def get(self, path: str) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.query.server_address[1]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.otlp_url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def close(self) -> None:
        for server in (self.otlp, self.query):
            server.shutdown()
            server.server_close()


def provider(service: str, url: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service,
                                                        "host.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider


