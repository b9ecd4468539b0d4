"""Fault injection for demos: added latency and a fraction of failed calls.

:class:`FaultSettings` holds the two knobs (``error_rate`` in 0..1,
``latency_ms`` >= 0), safe to change while requests run. :func:`fault_middleware`
applies them to an endpoint: it waits ``latency_ms`` (never past the call's
deadline), then fails a fraction ``error_rate`` of the calls with
:class:`kitcore.errors.Unavailable` ("injected fault"), the kind a breaker and
a retry react to. :func:`kitcore.transport.http_admin.fault_routes` adds
``GET``/``PUT /admin/faults`` behind basic auth so the knobs can be turned on a
running service.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware

MAX_LATENCY_MS = 60_000.0
"""The largest latency the admin route accepts (one minute)."""


class FaultSettings:
    """The current fault knobs, shared by every call of a service."""

    def __init__(
        self, error_rate: float = 0.0, latency_ms: float = 0.0, *, seed: int | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.error_rate = 0.0
        self.latency_ms = 0.0
        self.update(error_rate=error_rate, latency_ms=latency_ms)

    def update(self, *, error_rate: float | None = None, latency_ms: float | None = None) -> None:
        """Change one or both knobs; :class:`kitcore.errors.InvalidArgument` when out of range."""
        if error_rate is not None:
            error_rate = _number("error_rate", error_rate, 0.0, 1.0)
        if latency_ms is not None:
            latency_ms = _number("latency_ms", latency_ms, 0.0, MAX_LATENCY_MS)
        with self._lock:
            if error_rate is not None:
                self.error_rate = error_rate
            if latency_ms is not None:
                self.latency_ms = latency_ms

    def as_dict(self) -> dict[str, float]:
        """``{"error_rate": ..., "latency_ms": ...}``."""
        with self._lock:
            return {"error_rate": self.error_rate, "latency_ms": self.latency_ms}

    def draw(self) -> tuple[float, bool]:
        """For one call: the latency to add (seconds) and whether it fails."""
        with self._lock:
            fail = self.error_rate > 0 and self._random.random() < self.error_rate
            return self.latency_ms / 1000.0, fail


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise errors.InvalidArgument(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def fault_middleware(settings: FaultSettings) -> Middleware:
    """Add the configured latency, then fail the configured fraction of calls."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            latency, fail = settings.draw()
            if latency > 0:
                left = ctx.remaining()
                time.sleep(latency if left is None else max(0.0, min(latency, left)))
                ctx.check_deadline()
            if fail:
                raise errors.Unavailable("injected fault")
            return next_endpoint(ctx, request)

        return endpoint

    return wrap
