"""gRPC transport on grpcio: a server adapter and a client endpoint.

Server side, :class:`Handler` turns one endpoint into a servicer method: it
builds the :class:`~kitcore.endpoint.Context` from the call (deadline,
metadata), decodes the request message, calls the endpoint and encodes the
reply. A :class:`~kitcore.errors.KitError` becomes the gRPC status of its kind
(through :data:`kitcore.errors.TABLE`) with trailing metadata
``kit-error-code`` naming the kind, so a client rebuilds the exact error.
While a span is active, every reply, success or error, carries its trace id
in the trailing metadata ``x-trace-id`` (HTTP's ``X-Trace-Id``).

Client side, :class:`ClientEndpoint` wraps a stub method as an Endpoint: the
call's timeout follows the Context's deadline, and a failed call raises the
same kind of KitError the server raised. A caller that wants to know which
instance answered passes a context made by :func:`record_served_by` and reads
the list it returns.

:func:`new_server` builds a :class:`~kitcore.transport.grpc_server.KitServer`:
bytes that do not parse as the request message answer INVALID_ARGUMENT
(grpcio alone answers INTERNAL), each call gets a server span when tracing is
on, and, given ``served_by``, every answer names the instance in the trailing
metadata ``x-served-by`` (HTTP's ``X-Served-By``) -- all arranged once, when a
servicer is added, so no interceptor runs per call.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from types import MappingProxyType
from typing import Any, NoReturn

import grpc

from kitcore import errors, log, tracing
from kitcore.endpoint import Context, Endpoint
from kitcore.transport.grpc_server import SERVED_BY_KEY, KitServer, add_trailing_metadata

ERROR_CODE_KEY = "kit-error-code"
"""Trailing metadata key that names the error's kind (its JSON code)."""

RETRY_AFTER_KEY = "retry-after"
"""Trailing metadata key with the seconds after which a retry makes sense."""

TRACE_ID_KEY = "x-trace-id"
"""Trailing metadata key with the trace id of the call, when tracing is on."""

SERVED_BY = "kitcore.transport.grpc.served_by"
"""Context value key: a list that client calls append the answering instance's
``x-served-by`` to (see :func:`record_served_by`)."""


_NO_DEADLINE = 1e9  # grpcio reports "no deadline" as a huge time_remaining()
_log = logging.getLogger(__name__)


# --- server -------------------------------------------------------------------------


class Handler:
    """A servicer method that serves one endpoint: ``Handler(endpoint, decode, encode)``.

    ``decode(request_msg)`` returns the endpoint's request and may raise
    InvalidArgument (or ValueError/TypeError/KeyError, read the same way);
    ``encode(response)`` returns the reply message. ``name`` labels the
    method in the log line of a rejected request.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        decode: Callable[[Any], Any],
        encode: Callable[[Any], Any],
        *,
        name: str = "",
    ) -> None:
        self._endpoint = endpoint
        self._decode = decode
        self._encode = encode
        self._name = name or getattr(endpoint, "__name__", "") or type(endpoint).__name__

    def __call__(self, request_msg: Any, context: grpc.ServicerContext) -> Any:
        ctx = context_from_grpc(context)
        try:
            request = self._decode(request_msg)
        except errors.KitError as exc:
            _reject(context, self._name, exc)
        except (ValueError, TypeError, KeyError) as exc:
            _reject(context, self._name, errors.InvalidArgument(str(exc) or "invalid request"))
        try:
            reply = self._encode(self._endpoint(ctx, request))
        except errors.KitError as exc:
            abort(context, exc)
        except Exception as exc:
            known = errors.translate(exc)  # a driver's outage is UNAVAILABLE, not a bug
            if not log.is_logged(exc) and isinstance(known, errors.Internal):
                _log.error("unexpected error", exc_info=exc, extra={"fields": {"error": str(exc)}})
                log.mark_logged(exc)
            abort(context, known)
        trace = trace_metadata()
        if trace:
            add_trailing_metadata(context, trace)
        return reply


def context_from_grpc(context: grpc.ServicerContext) -> Context:
    """The kitcore Context of an incoming call: its deadline, text metadata, trace context."""
    remaining = context.time_remaining()
    deadline = None
    if remaining is not None and remaining < _NO_DEADLINE:
        deadline = time.monotonic() + remaining
    metadata = {
        key.lower(): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }
    return Context(deadline, MappingProxyType(metadata), tracing.current_context())


def abort(context: grpc.ServicerContext, error: errors.KitError) -> NoReturn:
    """End the call with the status of ``error``'s kind and its trailing metadata."""
    add_trailing_metadata(context, error_metadata(error) + trace_metadata())
    context.abort(getattr(grpc.StatusCode, error.wire.grpc_code), error.message)
    raise AssertionError("context.abort returned")  # pragma: no cover


def error_metadata(error: errors.KitError) -> list[tuple[str, str]]:
    """The trailing metadata that describes ``error``: kind, retry-after, headers."""
    metadata = [(ERROR_CODE_KEY, error.kind.value)]
    if error.retry_after is not None:
        # Whole seconds, as HTTP's Retry-After, so both transports say the same.
        metadata.append((RETRY_AFTER_KEY, str(max(0, math.ceil(error.retry_after)))))
    metadata.extend((name.lower(), str(value)) for name, value in error.headers.items())
    return metadata


def trace_metadata() -> list[tuple[str, str]]:
    """``[("x-trace-id", <trace id>)]`` while a span is active, else empty."""
    ids = log.trace_ids()
    return [(TRACE_ID_KEY, ids[0])] if ids else []


def _reject(context: grpc.ServicerContext, name: str, error: errors.KitError) -> NoReturn:
    """Log (one line) and answer a request refused before its endpoint ran."""
    fields = {"endpoint": name, "outcome": error.kind.value, "error": error.message}
    _log.info("rejected", extra={"fields": fields})
    abort(context, error)


def new_server(
    max_workers: int = 16, interceptors: Sequence[grpc.ServerInterceptor] = (), *,
    served_by: str | None = None,
) -> grpc.Server:
    """A grpcio server on a thread pool (:class:`~kitcore.transport.grpc_server.KitServer`).

    Malformed request bytes answer INVALID_ARGUMENT, every call but health
    checks gets a server span when tracing is on, every answer names
    ``served_by`` (an instance id) in ``x-served-by`` when given, and
    ``interceptors`` run first. SO_REUSEPORT is off, so binding a port that
    is taken fails instead of sharing it silently.
    """
    return KitServer(grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=list(interceptors),
        options=[("grpc.so_reuseport", 0)],
    ), _reject, served_by)


# --- client -------------------------------------------------------------------------


def record_served_by(ctx: Context) -> tuple[Context, list[str]]:
    """A context whose gRPC client calls append to the returned list the instance that
    answered each of them, as its ``x-served-by`` names it ("" if it names none)."""
    served_by: list[str] = []
    return ctx.with_value(SERVED_BY, served_by), served_by


def new_channel(target: str, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """An insecure channel to ``target`` ("host:port"); close it when done."""
    return grpc.insecure_channel(target, options=list(options))


class ClientEndpoint:
    """An Endpoint that calls one gRPC method: ``ClientEndpoint(stub_method, encode, decode)``.

    ``encode(request)`` builds the request message, ``decode(reply)`` the
    response. The call's timeout is ``min(ctx.remaining(), timeout)``; the
    metadata named in ``forward`` (``x-request-id`` by default) is passed on.
    The instance that answered, errors too, is appended to ``ctx.value(SERVED_BY)``
    when the caller put a list there (:func:`record_served_by`).
    """

    def __init__(
        self,
        stub_method: Callable[..., Any],
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
        *,
        timeout: float = 5.0,
        forward: Iterable[str] = ("x-request-id",),
    ) -> None:
        self._call = stub_method
        self._encode = encode
        self._decode = decode
        self._timeout = timeout
        self._forward = tuple(name.lower() for name in forward)

    def __call__(self, ctx: Context, request: Any) -> Any:
        timeout = self._timeout
        remaining = ctx.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise errors.DeadlineExceeded("deadline exceeded before the call was sent")
            timeout = min(timeout, remaining)
        metadata = [(name, ctx.metadata[name]) for name in self._forward if name in ctx.metadata]
        message = self._encode(request)
        served_by = ctx.value(SERVED_BY)
        try:
            reply, call = self._call.with_call(message, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            if served_by is not None and isinstance(exc, grpc.Call):
                served_by.append(_served_by(exc))
            raise error_from_rpc(exc) from None
        except ValueError as exc:  # grpcio: "Cannot invoke RPC on closed channel!"
            raise errors.NotSent(f"channel closed: {exc}") from None
        if served_by is not None:
            served_by.append(_served_by(call))
        return self._decode(reply)


def _served_by(call: grpc.Call) -> str:
    """The ``x-served-by`` of a finished call's trailing metadata, "" without one."""
    for key, value in call.trailing_metadata() or ():
        if key == SERVED_BY_KEY and isinstance(value, str):
            return value
    return ""


_NOT_CONNECTED = "failed to connect to all addresses"


def error_from_rpc(exc: grpc.RpcError) -> errors.KitError:
    """The KitError a failed call stands for: the server's kind, else the status code's."""
    call = exc if isinstance(exc, grpc.Call) else None
    code = call.code() if call else grpc.StatusCode.UNKNOWN
    details = (call.details() if call else None) or ""
    metadata = (call.trailing_metadata() if call else None) or ()
    trailing = {key.lower(): value for key, value in metadata if isinstance(value, str)}
    kind_code = trailing.pop(ERROR_CODE_KEY, None)
    trailing.pop(TRACE_ID_KEY, None)  # the caller's own trace: not the error's header
    trailing.pop(SERVED_BY_KEY, None)  # read through record_served_by, not a header
    retry_after = _seconds(trailing.pop(RETRY_AFTER_KEY, None))
    if code == grpc.StatusCode.UNAVAILABLE and _NOT_CONNECTED in details:
        # gRPC core's words for "no connection could be made": the call never left.
        error: errors.KitError = errors.NotSent(details, retry_after=retry_after)
    elif kind_code:
        error = errors.from_code(kind_code, details, retry_after=retry_after)
    else:
        error = errors.from_grpc_code(code.name, details)
        error.retry_after = retry_after
    error.headers = {key: value for key, value in trailing.items() if not key.startswith("grpc-")}
    return error


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
