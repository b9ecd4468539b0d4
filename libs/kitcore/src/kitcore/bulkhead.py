"""Bulkhead: a limit on the calls one client has in flight to one backend.

A :class:`Bulkhead` lets at most ``limit`` calls through at a time; one more is
refused at once with :class:`~kitcore.overload.Overloaded` (503), never queued.
In a gateway with one bulkhead per backend, a slow backend can hold at most
``limit`` of the server's threads, and the routes that need only the other
backends keep theirs.

Metrics: ``kit_bulkhead_rejected_total{backend}`` counts refused calls,
``kit_bulkhead_in_flight{backend}`` the calls running now.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Gauge

from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.overload import Overloaded

REJECTED = Counter(
    "kit_bulkhead_rejected", "Calls refused because the bulkhead was full.", ["backend"]
)
"""Calls refused by a full bulkhead, per backend."""

IN_FLIGHT = Gauge("kit_bulkhead_in_flight", "Calls inside the bulkhead now.", ["backend"])
"""Calls running through the bulkhead now, per backend."""


class Bulkhead:
    """At most ``limit`` calls in flight to ``backend``; the next one fails fast."""

    def __init__(self, backend: str, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.backend = backend
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._rejected = REJECTED.labels(backend)
        self._in_flight = IN_FLIGHT.labels(backend)

    def middleware(self) -> Middleware:
        """The middleware that holds a slot of this bulkhead around each call."""

        def wrap(next_endpoint: Endpoint) -> Endpoint:
            def endpoint(ctx: Context, request: Any) -> Any:
                if not self._slots.acquire(blocking=False):
                    self._rejected.inc()
                    raise Overloaded(
                        f"{self.backend} bulkhead full: {self.limit} calls in flight"
                    )
                self._in_flight.inc()
                try:
                    return next_endpoint(ctx, request)
                finally:
                    self._in_flight.dec()
                    self._slots.release()

            return endpoint

        return wrap
