"""Endpoints, middlewares and the request Context.

An :data:`Endpoint` is the one shape every service method takes on its way to
a transport: a callable ``(ctx, request) -> response``. A :data:`Middleware`
wraps an endpoint in another (``Endpoint -> Endpoint``), and :func:`chain`
composes middlewares so that they run in reading order.

The :class:`Context` travels with each call. It carries the deadline, the
request metadata (HTTP headers or gRPC metadata, keys lower-cased), the trace
context and a few typed values that middlewares add (verified claims, the
instance that served a call ...). It is immutable: each ``with_*`` method
returns a new Context (built directly: these run on every request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kitcore import errors

Endpoint = Callable[["Context", Any], Any]
"""A service method as a callable ``(ctx, request) -> response``."""

Middleware = Callable[[Endpoint], Endpoint]
"""A function that wraps an endpoint in another endpoint."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Context:
    """What travels with one call: deadline, metadata, trace context, values.

    ``deadline`` is an absolute ``time.monotonic()`` value, or None for no
    deadline. ``metadata`` holds incoming or outgoing request metadata with
    lower-case keys. ``trace`` holds the OpenTelemetry context of the call
    (set by ``kitcore.tracing``; None when tracing is off).
    """

    deadline: float | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    trace: Any = None
    values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def background(cls) -> Context:
        """An empty Context: no deadline, no metadata."""
        return cls()

    def with_timeout(self, seconds: float) -> Context:
        """A Context whose deadline is at most ``seconds`` from now."""
        deadline = time.monotonic() + seconds
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return Context(deadline, self.metadata, self.trace, self.values)

    def with_deadline(self, deadline: float | None) -> Context:
        """A Context with the earlier of its own deadline and ``deadline``."""
        if deadline is None:
            return self
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return Context(deadline, self.metadata, self.trace, self.values)

    def with_metadata(self, metadata: Mapping[str, str]) -> Context:
        """A Context with ``metadata`` merged in (keys lower-cased)."""
        merged = dict(self.metadata)
        merged.update({k.lower(): v for k, v in metadata.items()})
        return Context(self.deadline, MappingProxyType(merged), self.trace, self.values)

    def with_trace(self, trace: Any) -> Context:
        """A Context carrying the given trace context."""
        return Context(self.deadline, self.metadata, trace, self.values)

    def with_value(self, key: str, value: Any) -> Context:
        """A Context with one more named value."""
        merged = dict(self.values)
        merged[key] = value
        return Context(self.deadline, self.metadata, self.trace, MappingProxyType(merged))

    def value(self, key: str, default: Any = None) -> Any:
        """The named value, or ``default``."""
        return self.values.get(key, default)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), None if none."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def check_deadline(self) -> None:
        """Raise :class:`kitcore.errors.DeadlineExceeded` if the deadline passed."""
        if self.expired():
            raise errors.DeadlineExceeded("deadline exceeded")


def chain(outer: Middleware, *others: Middleware) -> Middleware:
    """Compose middlewares so that they run in the order they are written.

    ``chain(a, b, c)(endpoint)`` is ``a(b(c(endpoint)))``: a request passes
    through ``a`` first, then ``b``, then ``c``, then the endpoint.
    """

    def wrap(endpoint: Endpoint) -> Endpoint:
        for middleware in reversed((outer, *others)):
            endpoint = middleware(endpoint)
        return endpoint

    return wrap


def deadline_middleware(default_timeout: float) -> Middleware:
    """Give calls without a deadline one ``default_timeout`` seconds long,
    and refuse calls whose deadline has already passed."""

    def middleware(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            if ctx.deadline is None:
                ctx = ctx.with_timeout(default_timeout)
            ctx.check_deadline()
            return next_endpoint(ctx, request)

        return endpoint

    return middleware
