"""Server and client spans for the libraries the transports use, when tracing is on.

Flask (server spans for HTTP), grpcio (server and client spans), requests
(client spans). The instrumentations carry the W3C ``traceparent`` header /
gRPC metadata entry across each hop, so a request through several services is
one trace. Call them after :func:`kitcore.tracing.setup` and before creating
the gRPC server or channels, since they patch ``grpc.server`` and
``grpc.insecure_channel``. With tracing off each is a no-op. Health checks and
``/metrics`` are not traced.
"""

from __future__ import annotations

import flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import (
    GrpcInstrumentorClient,
    GrpcInstrumentorServer,
    filters,
)
from opentelemetry.instrumentation.requests import RequestsInstrumentor

from kitcore.tracing import enabled

UNTRACED_URLS = "/healthz,/readyz,/metrics"
"""HTTP paths (regular expressions, comma-separated) that get no spans."""


def instrument_flask(app: flask.Flask) -> None:
    """Give every request to ``app`` a server span (continuing an incoming trace)."""
    if enabled():
        FlaskInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS)


def instrument_grpc_server() -> None:
    """Give every call to gRPC servers created from now on a server span."""
    if enabled():
        GrpcInstrumentorServer(filter_=filters.negate(filters.health_check())).instrument()


def instrument_grpc_client() -> None:
    """Give every call on gRPC channels created from now on a client span."""
    if enabled():
        GrpcInstrumentorClient(filter_=filters.negate(filters.health_check())).instrument()


def instrument_requests() -> None:
    """Give every outgoing ``requests`` call a client span."""
    if enabled():
        RequestsInstrumentor().instrument()
