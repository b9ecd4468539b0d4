"""Server and client spans for the transports, when tracing is on.

Server spans are kitcore's own (:mod:`kitcore.spans`: one span per request,
attributes only when sampled): :func:`instrument_flask` wraps a Flask app, and
the servers of ``kitcore.transport.grpc.new_server`` make theirs without any
call here. Client spans come from OpenTelemetry's instrumentations of grpcio
and requests. Both carry the W3C ``traceparent`` header / gRPC metadata entry
across each hop, so a request through several services is one trace. Call the
client helpers after :func:`kitcore.tracing.setup` and before creating
channels or sessions, since they patch ``grpc.insecure_channel`` and
``requests``. With tracing off each is a no-op. Health checks and
``/metrics`` are not traced.
"""

from __future__ import annotations

import flask
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, filters
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from kitcore import spans
from kitcore.tracing import enabled

UNTRACED_URLS = "/healthz,/readyz,/metrics"
"""HTTP paths (comma-separated) that get no spans."""


def instrument_flask(app: flask.Flask, provider: TracerProvider | None = None) -> None:
    """Give every request to ``app`` a server span (continuing an incoming trace)
    and an ``X-Trace-Id`` response header; once per app. Spans come from
    ``provider``, else from the global provider (nothing happens while tracing is off)."""
    if isinstance(app.wsgi_app, spans.WSGIServerSpans) or not (provider or enabled()):
        return
    own_tracer = provider.get_tracer("kitcore") if provider else None
    app.wsgi_app = spans.WSGIServerSpans(  # type: ignore[method-assign]
        app.wsgi_app, UNTRACED_URLS.split(","), own_tracer)


def instrument_grpc_server() -> None:
    """Nothing to do: servers from ``kitcore.transport.grpc.new_server`` make their own
    server spans whenever tracing is on (kept so that existing callers work)."""


def instrument_grpc_client() -> None:
    """Give every call on gRPC channels created from now on a client span."""
    if enabled():
        GrpcInstrumentorClient(filter_=filters.negate(filters.health_check())).instrument()


def instrument_requests() -> None:
    """Give every outgoing ``requests`` call a client span."""
    if enabled():
        RequestsInstrumentor().instrument()
