"""Server spans: one span per incoming request, made by kitcore's transports.

kitcore starts the server span of each hop itself instead of through
OpenTelemetry's Flask and grpcio server instrumentations: one span, so a request
whose trace is not sampled pays for an id, a sampling decision and a context
switch, nothing more. The span is current while the request is served, so log
lines carry its trace id and the client instrumentations pass the trace on
(W3C ``traceparent``), sampled or not.

- :func:`start` / :meth:`ServerSpan.finish`: the span of one request, its
  attributes set in one call at the end, only when recorded (used by
  :class:`WSGIServerSpans` and by ``kitcore.transport.grpc``'s servers).
- :class:`WSGIServerSpans`: wraps a WSGI app; every request but the untraced
  paths gets a span and an ``X-Trace-Id`` response header.

Spans are made only while a real (SDK) TracerProvider is installed; with
tracing off each request pays one check. With the default sampler
(:class:`~kitcore.sampling.ParentBasedRateLimited`), a request known not to be
sampled -- its caller's ``traceparent`` says so, or no token is left at the
edge -- gets its unsampled span made here directly (new span id, the caller's
trace id and ``tracestate``, or a new trace id), as the SDK would make it,
for about a third of the SDK's cost; every other request goes through the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from kitcore.sampling import ParentBasedRateLimited

TRACE_ID_HEADER = "X-Trace-Id"
"""Response header with the trace id of the request, when tracing is on."""

ROUTE_KEY = "kitcore.route"
"""WSGI environ key where the HTTP adapter notes the matched route's rule (the span
is named ``"GET /books/<book_id>"`` after it; other routes only by their method)."""

_TRACEPARENT = re.compile(r"^[ \t]*00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})[ \t]*$")
"""A version-00 ``traceparent`` as the W3C Trace Context (and the SDK's propagator) reads it."""

CONTEXT_KEY = "kitcore.trace"
"""WSGI environ key holding the OpenTelemetry context of the request's span."""

_cached: tuple[Any, trace.Tracer] | None = None


def tracer() -> trace.Tracer | None:
    """kitcore's tracer from the global provider, or None while tracing is off."""
    global _cached
    provider = trace.get_tracer_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    if not isinstance(provider, TracerProvider):
        return None
    _cached = (provider, provider.get_tracer("kitcore"))
    return _cached[1]


class ServerSpan:
    """The span of one incoming request, current from :func:`start` to :meth:`finish`."""

    __slots__ = ("context", "span", "_token")

    def __init__(self, span: trace.Span, context: otel_context.Context) -> None:
        self.span = span
        self.context = context
        self._token = otel_context.attach(context)

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits."""
        return format(self.span.get_span_context().trace_id, "032x")

    def finish(self, name: str | None, attributes: Callable[[], Mapping[str, Any]],
               error: bool) -> None:
        """End the span; it stops being current. A recorded span is first renamed (when
        ``name``), gets every attribute from ``attributes()`` in one call, and an error
        status when ``error``."""
        span = self.span
        if span.is_recording():
            if name:
                span.update_name(name)
            span.set_attributes(attributes())
            if error:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(self._token)


def start(
    name: str,
    traceparent: str | None,
    tracestate: str | None,
    own_tracer: trace.Tracer | None = None,
) -> ServerSpan | None:
    """Start the server span ``name`` under the caller's trace (if any) and make it
    current; None if tracing is off. ``own_tracer`` replaces the global provider's."""
    kit_tracer = own_tracer or tracer()
    if kit_tracer is None:
        return None
    unsampled = _known_unsampled(kit_tracer, traceparent, tracestate)
    if unsampled is not None:
        return ServerSpan(unsampled, trace.set_span_in_context(unsampled))
    parent = None
    if traceparent:
        carrier = {"traceparent": traceparent}
        if tracestate:
            carrier["tracestate"] = tracestate
        parent = propagate.extract(carrier)
    span = kit_tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
    return ServerSpan(span, trace.set_span_in_context(span, parent))


def _known_unsampled(
    kit_tracer: trace.Tracer, traceparent: str | None, tracestate: str | None,
) -> NonRecordingSpan | None:
    """The unsampled span of a request the sampler is certain to drop, made directly;
    None when the SDK must decide (another sampler, a sampled or unreadable caller,
    a token left at the edge)."""
    sampler = getattr(kit_tracer, "sampler", None)
    if not isinstance(sampler, ParentBasedRateLimited) or not isinstance(kit_tracer, Tracer):
        return None
    caller = _caller(traceparent) if traceparent else None
    if traceparent and caller is None:
        return None
    if not sampler.drops(caller[2] if caller else None):
        return None
    ids = kit_tracer.id_generator
    if caller is None:
        trace_id, random_id, state = ids.generate_trace_id(), ids.is_trace_id_random(), None
    else:
        trace_id, random_id = caller[0], caller[1]
        state = TraceState.from_header([tracestate]) if tracestate else None
    flags = TraceFlags(TraceFlags.RANDOM_TRACE_ID if random_id else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(trace_id, ids.generate_span_id(), is_remote=False,
                                        trace_flags=flags, trace_state=state))


def _caller(traceparent: str) -> tuple[int, bool, bool] | None:
    """(trace id, random-trace-id flag, sampled flag) of a version-00 W3C ``traceparent``;
    None for anything else, which the SDK's propagator then reads as it would."""
    match = _TRACEPARENT.match(traceparent)
    if match is None:
        return None
    trace_hex, span_hex, flags_hex = match.groups()
    trace_id, flags = int(trace_hex, 16), int(flags_hex, 16)
    if not trace_id or not int(span_hex, 16):
        return None
    return trace_id, bool(flags & TraceFlags.RANDOM_TRACE_ID), bool(flags & TraceFlags.SAMPLED)


class WSGIServerSpans:
    """WSGI middleware: a server span and an ``X-Trace-Id`` header for every request
    except those to ``untraced`` paths (spans from ``own_tracer``, else the global one)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], untraced: Iterable[str],
                 own_tracer: trace.Tracer | None = None) -> None:
        self.app = app
        self.untraced = frozenset(untraced)
        self.tracer = own_tracer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve the request inside its span (WSGI)."""
        if environ.get("PATH_INFO") in self.untraced:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        span = start(method, environ.get("HTTP_TRACEPARENT"), environ.get("HTTP_TRACESTATE"),
                     self.tracer)
        if span is None:
            return self.app(environ, start_response)
        environ[CONTEXT_KEY] = span.context
        trace_id = span.trace_id
        status: list[int] = []

        def start_with_trace_id(line: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            headers.append((TRACE_ID_HEADER, trace_id))
            status.append(int(line[:3]))
            return start_response(line, headers, *exc)

        try:
            return self.app(environ, start_with_trace_id)
        finally:
            code = status[-1] if status else 500
            route = environ.get(ROUTE_KEY)
            span.finish(f"{method} {route}" if route else None,
                        lambda: _http_attributes(environ, method, route, code), code >= 500)


def _http_attributes(environ: Mapping[str, Any], method: str, route: str | None,
                     code: int) -> dict[str, Any]:
    attributes = {
        "http.request.method": method,
        "url.path": environ.get("PATH_INFO", ""),
        "url.scheme": environ.get("wsgi.url_scheme", "http"),
        "server.address": environ.get("SERVER_NAME", ""),
        "client.address": environ.get("REMOTE_ADDR", ""),
        "user_agent.original": environ.get("HTTP_USER_AGENT", ""),
        "http.response.status_code": code,
    }
    if route:
        attributes["http.route"] = route
    return attributes
