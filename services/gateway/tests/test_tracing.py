"""One shelf read is one trace across gateway, user (HTTP) and book (gRPC).

The three services run as real processes (``python -m <service>``) exporting
OTLP to a small collector in this test, so tracing is set up exactly as in the
stack and nothing global changes in the test process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from kitcore.testing.process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
EXPORT_WAIT = 20.0


@dataclass(frozen=True)
class Span:
    """What the test reads of one exported span."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str


class Collector:
    """An OTLP/HTTP trace receiver keeping every span it gets."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                export = ExportTraceServiceRequest.FromString(body)
                with lock:
                    spans.extend(_spans(export))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str) -> list[Span]:
        """The spans received so far for one trace."""
        return [span for span in list(self.spans) if span.trace_id == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _spans(export: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in export.resource_spans:
        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(attributes.get("service.name", ""), span.name, span.kind,
                           span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex())


class ServiceProcess(ServerProcess):
    """``python -m <service>`` with its own environment, answering HTTP on ``port``."""

    def __init__(self, service: str, env: dict[str, str]) -> None:
        super().__init__()
        self.service = service
        self.env = {
            "PYTHONPATH": f"{ROOT / 'services'}:{ROOT / 'build' / 'gen'}",
            "KIT_HTTP_PORT": str(self.port),
            "KIT_ADVERTISE_HOST": "127.0.0.1",
            "KIT_LOG_LEVEL": "WARNING",
            "KIT_SHUTDOWN_GRACE": "1",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "DATABASE_URL": f"sqlite:///{self.data_dir / 'data.db'}",
            **env,
        }

    def argv(self) -> Sequence[str]:
        variables = [f"{name}={value}" for name, value in self.env.items()]
        return ["env", f"PATH={os.environ.get('PATH', '')}", *variables,
                sys.executable, "-m", self.service]

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[ServiceProcess, Collector]]:
    """user, book and the gateway as processes, all exporting to one collector."""
    collector = Collector()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
    book_grpc, user_grpc = free_port(), free_port()
    user = ServiceProcess("user", {**otel, "KIT_INSTANCE_ID": "user-1",
                                   "KIT_GRPC_PORT": str(user_grpc)})
    book = ServiceProcess("book", {**otel, "KIT_INSTANCE_ID": "book-1",
                                   "KIT_GRPC_PORT": str(book_grpc)})
    gateway = ServiceProcess("gateway", {
        **otel, "KIT_INSTANCE_ID": "gateway-1", "KIT_USER_ADDRS": user.address,
        "KIT_BOOK_ADDRS": f"127.0.0.1:{book_grpc}",
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
        servers = [span for span in spans if span.service == service and span.kind == 2]
        assert servers, f"no server span in {service}"
        for span in servers:  # entered from a client span of the gateway
            parent = by_id[span.parent_id]
            assert parent.service == "gateway" and parent.kind == 3, (span, parent)


@pytest.mark.slow
def test_errors_carry_a_trace_id_too(traced):
    gateway, _ = traced
    for path in ("/api/v1/books/not-a-uuid", "/api/v1/nowhere", "/api/v1/books/" + "0" * 36):
        reply = requests.get(gateway.url + path, timeout=10)
        assert 400 <= reply.status_code < 500, reply.text
        assert len(reply.headers["X-Trace-Id"]) == 32, path
