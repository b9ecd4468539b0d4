"""kitcore's gRPC server: grpcio's own, with malformed requests refused, a server
span per call and the instance named on every answer, all arranged once when a
servicer is added.

:class:`KitServer` wraps a ``grpc.Server``. Each method handler added to it
(through generated ``add_*_to_server`` code or ``add_generic_rpc_handlers``)
is rewritten once: its request deserializer becomes lenient (bytes that do not
parse become a stand-in, answered INVALID_ARGUMENT instead of grpcio's
INTERNAL), a unary call runs inside a server span when tracing is on
(:mod:`kitcore.spans`; never for health checks), and, given the server's
instance id, every answer (errors too) carries it in the trailing metadata
``x-served-by`` (HTTP's ``X-Served-By``). A server interceptor would redo that
work on every call.

grpcio's ``set_trailing_metadata`` replaces what was set before; kitcore
writes trailing metadata only through :func:`add_trailing_metadata`, which adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import grpc

from kitcore import errors, spans

Reject = Callable[[grpc.ServicerContext, str, errors.KitError], NoReturn]
"""Logs and answers a request refused before its endpoint ran."""

UNTRACED_PREFIX = "/grpc.health.v1.Health/"
"""Methods that get no spans: the standard health service."""

SERVED_BY_KEY = "x-served-by"
"""Trailing metadata key naming the instance that answered (HTTP's ``X-Served-By``)."""

Metadata = Sequence[tuple[str, str]]
"""gRPC metadata: ``(key, value)`` pairs."""


class _Malformed:
    """Stands in for a request message whose bytes did not parse."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:
            return _Malformed(f"malformed request message: {exc}")

    return parse


def add_trailing_metadata(context: grpc.ServicerContext, metadata: Metadata) -> None:
    """Add ``metadata`` to the trailing metadata of the call, keeping what is there."""
    context.set_trailing_metadata((*(context.trailing_metadata() or ()), *metadata))


def kit_method_handler(
    method: str, handler: Any, reject: Reject, served_by: str | None = None
) -> Any:
    """``handler`` (of the full ``method`` name) with a lenient deserializer, its
    behaviour refusing malformed requests, for unary calls traced if tracing is
    on now (as with any instrumentation, set tracing up first), and each answer
    naming ``served_by`` in ``x-served-by`` when given."""
    if handler is None or handler.request_deserializer is None or not hasattr(handler, "_replace"):
        return handler
    traced = not method.startswith(UNTRACED_PREFIX) and spans.tracer() is not None
    handler = handler._replace(request_deserializer=_lenient(handler.request_deserializer))
    if handler.unary_unary:
        behavior = _unary(handler.unary_unary, method, reject, traced)
        return handler._replace(unary_unary=_named(behavior, served_by))
    if handler.unary_stream:
        behavior = _unary(handler.unary_stream, method, reject, False)
        return handler._replace(unary_stream=_named(behavior, served_by))
    if handler.stream_unary:
        behavior = _stream(handler.stream_unary, method, reject)
        return handler._replace(stream_unary=_named(behavior, served_by))
    behavior = _stream(handler.stream_stream, method, reject)
    return handler._replace(stream_stream=_named(behavior, served_by))


def _named(behavior: Callable[..., Any], served_by: str | None) -> Callable[..., Any]:
    """``behavior`` whose answer, errors too, names ``served_by`` (``behavior`` if None)."""
    if not served_by:
        return behavior
    trailing = ((SERVED_BY_KEY, served_by),)

    def serve(request: Any, context: grpc.ServicerContext) -> Any:
        add_trailing_metadata(context, trailing)  # before the call, so an abort keeps it
        return behavior(request, context)

    return serve


def _unary(behavior: Callable[..., Any], method: str, reject: Reject, traced: bool) -> Any:
    service, _, name = method.lstrip("/").partition("/")

    def serve(request: Any, context: grpc.ServicerContext) -> Any:
        span = spans.start(method, *_trace_headers(context)) if traced else None
        if span is None:
            return _checked(behavior, request, context, method, reject)
        failed = True
        try:
            reply = _checked(behavior, request, context, method, reject)
            failed = False
            return reply
        finally:
            code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
            span.finish(None, lambda: {"rpc.system": "grpc", "rpc.service": service,
                                       "rpc.method": name, "rpc.grpc.status_code": code.value[0]},
                        code is not grpc.StatusCode.OK)

    return serve


def _checked(behavior: Callable[..., Any], request: Any, context: grpc.ServicerContext,
             method: str, reject: Reject) -> Any:
    if type(request) is _Malformed:
        reject(context, method, errors.InvalidArgument(request.reason))
    return behavior(request, context)


def _stream(behavior: Callable[..., Any], method: str, reject: Reject) -> Any:
    def serve(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        def checked() -> Iterator[Any]:
            for request in requests:
                if type(request) is _Malformed:
                    reject(context, method, errors.InvalidArgument(request.reason))
                yield request

        return behavior(checked(), context)

    return serve


def _trace_headers(context: grpc.ServicerContext) -> tuple[str | None, str | None]:
    """The caller's W3C ``traceparent`` and ``tracestate`` metadata, if sent."""
    traceparent = tracestate = None
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent":
            traceparent = value
        elif key == "tracestate":
            tracestate = value
    return traceparent, tracestate


class _EachCall(grpc.GenericRpcHandler):
    """A generic handler whose methods are known only per call: rewritten per call."""

    def __init__(self, handler: grpc.GenericRpcHandler, reject: Reject,
                 served_by: str | None) -> None:
        self._handler = handler
        self._reject = reject
        self._served_by = served_by

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """The wrapped handler's method handler, rewritten (grpc.GenericRpcHandler)."""
        found = self._handler.service(handler_call_details)
        return kit_method_handler(handler_call_details.method, found, self._reject,
                                  self._served_by)


class KitServer(grpc.Server):
    """A ``grpc.Server`` whose added method handlers are rewritten by :func:`kit_method_handler`;
    ``served_by`` (an instance id), when given, is named on every answer."""

    def __init__(self, server: grpc.Server, reject: Reject, served_by: str | None = None) -> None:
        self._server = server
        self._reject = reject
        self._served_by = served_by

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[Any]) -> None:
        """Add handlers, each method rewritten once (grpc.Server)."""
        self._server.add_generic_rpc_handlers(
            tuple(self._rewrite(handler) for handler in generic_rpc_handlers))

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        """Add the handlers of ``service_name``, rewritten (grpc.Server)."""
        self._server.add_registered_method_handlers(service_name, {
            name: kit_method_handler(f"/{service_name}/{name}", handler, self._reject,
                                     self._served_by)
            for name, handler in method_handlers.items()
        })

    def _rewrite(self, handler: Any) -> Any:
        methods = getattr(handler, "_method_handlers", None)
        if not isinstance(handler, grpc.ServiceRpcHandler) or not isinstance(methods, dict):
            return _EachCall(handler, self._reject, self._served_by)
        service = handler.service_name()
        prefix = f"/{service}/"
        return grpc.method_handlers_generic_handler(service, {
            method.removeprefix(prefix): kit_method_handler(method, method_handler, self._reject,
                                                            self._served_by)
            for method, method_handler in methods.items()
        })

    def add_insecure_port(self, address: str) -> int:
        """Listen on ``address`` without TLS; returns the port (grpc.Server)."""
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        """Listen on ``address`` with TLS; returns the port (grpc.Server)."""
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        """Start serving (grpc.Server)."""
        self._server.start()

    def stop(self, grace: float | None) -> Any:
        """Stop, letting calls in flight finish within ``grace`` (grpc.Server)."""
        return self._server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops or ``timeout`` passes (grpc.Server)."""
        return self._server.wait_for_termination(timeout)

