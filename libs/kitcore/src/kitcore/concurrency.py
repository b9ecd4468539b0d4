"""An adaptive concurrency limit: refuse at once what a server cannot serve in time.

A :class:`ConcurrencyLimiter` counts the calls in flight through a server and
admits a new one only while that count is below its current limit. A call past
the limit is refused at once with :class:`kitcore.errors.Unavailable` (HTTP 503
+ ``Retry-After``, gRPC ``UNAVAILABLE``) instead of waiting in a queue until
every caller's deadline has passed. :func:`concurrency_limit_middleware` puts it in front of any
endpoint; share one limiter between a server's endpoints so they draw on one
limit.

The limit moves by AIMD on latency, the scheme of Netflix's concurrency-limits
``AIMDLimit`` and of TCP congestion avoidance:

- a call that finishes within ``target_latency`` while the server was using at
  least half its limit adds ``1 / limit`` (about one more slot per limit's
  worth of calls); an idle server does not grow its limit;
- a call slower than its threshold, or one that ended in
  :class:`~kitcore.errors.DeadlineExceeded`, multiplies the limit by
  ``backoff``, once per batch: calls admitted before the last cut cannot cut
  again, so one slow spell costs one cut, not one per call in flight.

The threshold is ``target_latency`` (which an endpoint may set for itself) or
``tolerance`` times the long-run average latency (an EWMA over about the last
hundred calls), whichever is larger: the gradient idea of Netflix's
``Gradient2Limit``. A server whose calls all got slower together (a busy
machine, a slower disk) moves its own yardstick and keeps its limit; a queue
building up makes calls slower than their recent average, and that is cut.

The limit stays within ``[min_limit, max_limit]``. ``max_limit`` must stay
below the server's worker threads: a request waits for a free thread before
any middleware sees it, so only a free thread can refuse quickly.

The limit is exported as ``kit_concurrency_limit{name}`` and refusals are
counted in ``kit_concurrency_rejections_total{name}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.overload import RETRY_AFTER  # the same wait as every refusal for load

LIMIT = Gauge("kit_concurrency_limit", "Current adaptive concurrency limit.", ["name"])
"""The current limit per limiter name."""

REJECTIONS = Counter(
    "kit_concurrency_rejections_total", "Calls refused by a concurrency limit.", ["name"]
)
"""Refused calls per limiter name."""

_AVERAGE_WEIGHT = 0.01
"""Weight of one call in the long-run average latency (about the last hundred calls)."""


Clock = Callable[[], float]
"""A monotonic clock in seconds (``time.monotonic``; a fake one in tests)."""


class ConcurrencyLimiter:
    """Admits calls while fewer than the current limit are in flight; AIMD on latency."""

    def __init__(
        self,
        max_limit: int = 6,
        *,
        min_limit: int = 1,
        target_latency: float = 0.05,
        backoff: float = 0.9,
        tolerance: float = 2.0,
        name: str = "default",
        clock: Clock = time.monotonic,
    ) -> None:
        if not 1 <= min_limit <= max_limit:
            raise ValueError(f"need 1 <= min_limit ({min_limit}) <= max_limit ({max_limit})")
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be between 0 and 1, not {backoff}")
        if tolerance < 1:
            raise ValueError(f"tolerance must be at least 1, not {tolerance}")
        self.name = name
        self.min_limit = min_limit
        self.max_limit = max_limit
        self.target_latency = target_latency
        self.backoff = backoff
        self.tolerance = tolerance
        # The long-run average starts where the target alone decides.
        self._average = target_latency / tolerance
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = float(max_limit)
        self._in_flight = 0
        self._last_cut = float("-inf")
        self._gauge = LIMIT.labels(name)
        self._gauge.set(max_limit)

    @property
    def limit(self) -> int:
        """Calls admitted at once right now."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet finished."""
        return self._in_flight

    def acquire(self) -> float:
        """Admit one call and return its start time; raise Unavailable when at the limit."""
        with self._lock:
            if self._in_flight >= int(self._limit):
                in_flight, limit = self._in_flight, int(self._limit)
            else:
                self._in_flight += 1
                return self._clock()
        REJECTIONS.labels(self.name).inc()
        raise errors.Unavailable(
            f"overloaded: {in_flight} calls in flight, limit {limit}",
            retry_after=RETRY_AFTER,
        )

    def release(
        self, started: float, *, dropped: bool = False, target_latency: float | None = None
    ) -> None:
        """Finish a call admitted at ``started``; ``dropped``: it ran out of time.

        ``target_latency`` replaces the limiter's own for this call (a route
        that is slow by design, say).
        """
        now = self._clock()
        latency = now - started
        with self._lock:
            in_flight = self._in_flight
            self._in_flight -= 1
            if target_latency is None:
                target = max(self.target_latency, self.tolerance * self._average)
                if not dropped:
                    self._average += _AVERAGE_WEIGHT * (latency - self._average)
            else:  # slow by design: its own target, and no say in the average
                target = target_latency
            if dropped or latency > target:
                self._cut(started, now)
            elif in_flight * 2 >= self._limit:
                self._limit = min(float(self.max_limit), self._limit + 1.0 / self._limit)
            limit = self._limit
        self._gauge.set(int(limit))

    def _cut(self, started: float, now: float) -> None:
        if started < self._last_cut:
            return  # admitted before the last cut: that cut already answered it
        self._limit = max(float(self.min_limit), self._limit * self.backoff)
        self._last_cut = now


def concurrency_limit_middleware(
    limiter: ConcurrencyLimiter | None, target_latency: float | None = None
) -> Middleware:
    """Refuse calls past ``limiter``'s limit at once; time the others to adapt it.

    With no limiter the endpoint is returned as it is (no limit, no cost).
    ``target_latency`` overrides the limiter's for the endpoints this wraps:
    an endpoint that is slow by design (password hashing) still takes a slot,
    but only its slower-than-that calls cut the shared limit.
    """

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        if limiter is None:
            return next_endpoint

        def endpoint(ctx: Context, request: Any) -> Any:
            started = limiter.acquire()
            dropped = False
            try:
                return next_endpoint(ctx, request)
            except errors.DeadlineExceeded:
                dropped = True
                raise
            finally:
                limiter.release(started, dropped=dropped, target_latency=target_latency)

        return endpoint

    return wrap
