"""Client-side adaptive throttling (Google SRE book, "Handling Overload").

A :class:`Throttle` watches the calls to one backend over a sliding window:
``requests`` (calls sent to the backend) and ``accepts`` (calls the backend
answered, including answers that are the caller's fault, such as not found).
A new call is refused locally, with probability::

    max(0, (requests - floor - K * accepts) / (requests + 1))

as :class:`~kitcore.overload.Overloaded`, without being sent. With K = 2 a
backend that refuses most calls (down, timing out, shedding load) costs
microseconds per refused call instead of a connection attempt or a timeout;
the calls still sent probe it, and it gets its traffic back as it recovers.
The ``floor`` (10 calls) keeps a handful of failures in a quiet window from
refusing anything: the formula alone refuses one call in four after three
calls and one failure.

Unlike the SRE book, calls refused locally are not counted as requests. Counted,
they keep the probability near 1 after the backend has recovered (each refusal
is a request without an accept, so the ratio feeds itself) until the outage's
calls leave the window and beyond: over a 10 s window a backend back after a
10 s outage stayed mostly refused for more than 10 s. Counting only what was
sent, the first calls that succeed bring it back within a second or two; in
exchange about one call in seven still reaches a backend that is down (at
50 calls/s and a 10 s window), each failing fast.

Metrics: ``kit_client_throttled_total{backend}`` counts refused calls,
``kit_client_throttle_ratio{backend}`` is the last computed refusal probability.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.overload import Overloaded
from kitcore.window import RollingCounts

THROTTLED = Counter(
    "kit_client_throttled", "Calls refused locally by the adaptive throttle.", ["backend"]
)
"""Calls refused locally, per backend."""

RATIO = Gauge(
    "kit_client_throttle_ratio", "Probability that the adaptive throttle refuses a call.",
    ["backend"],
)
"""The last computed refusal probability, per backend."""


def accepted(error: BaseException | None) -> bool:
    """Whether a call's outcome shows the backend accepted it: an answer, or an
    error about the request itself (4xx) other than being rate limited."""
    if error is None:
        return True
    if isinstance(error, errors.RateLimited):
        return False
    return errors.is_client_error(error)


class Throttle:
    """The adaptive throttle of one backend, as a middleware factory."""

    def __init__(
        self,
        backend: str,
        *,
        k: float = 2.0,
        window: float = 10.0,
        floor: int = 10,
        seed: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.backend = backend
        self.k = k
        self.floor = floor
        extra = {"clock": clock} if clock else {}
        self._counts = RollingCounts(("requests", "accepts"), window=window, **extra)
        self._random = random.Random(seed)
        self._throttled = THROTTLED.labels(backend)
        self._ratio = RATIO.labels(backend)

    def rejection_probability(self) -> float:
        """The probability that a call made now is refused."""
        totals = self._counts.totals()
        requests, accepts = totals["requests"], totals["accepts"]
        return max(0.0, (requests - self.floor - self.k * accepts) / (requests + 1))

    def middleware(self) -> Middleware:
        """The middleware that throttles an endpoint (the backend's balanced calls)."""

        def wrap(next_endpoint: Endpoint) -> Endpoint:
            def endpoint(ctx: Context, request: Any) -> Any:
                self._admit()
                try:
                    response = next_endpoint(ctx, request)
                except Exception as error:
                    self._record(error)
                    raise
                self._record(None)
                return response

            return endpoint

        return wrap

    def _admit(self) -> None:
        probability = self.rejection_probability()
        self._ratio.set(probability)
        if probability > 0 and self._random.random() < probability:
            self._throttled.inc()
            raise Overloaded(f"{self.backend} throttled: it refused most recent calls")
        self._counts.add("requests")

    def _record(self, error: BaseException | None) -> None:
        if accepted(error):
            self._counts.add("accepts")
