"""Retry budget: retries may add only a fraction to a backend's recent calls.

A :class:`RetryBudget` counts, over a sliding window, the calls made to one
backend (first tries) and the retries spent on them. A retry is allowed while
``retries < ratio * calls + floor * window``: by default retries add at most
20 % to the calls of the last 10 seconds, plus 10 per second so a quiet client
can still retry. When a backend is down for everyone, retries therefore never
multiply the load on it more than 1.2 times; :func:`kitcore.sd.retry` given a
budget fails fast with the original error once it is spent.

Metrics: ``kit_retry_budget_calls_total{backend}`` (first tries) and
``kit_retries_total{backend,outcome}`` with outcome ``spent`` or ``denied``;
``spent / calls`` is the retry amplification.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import Counter

from kitcore.window import RollingCounts

CALLS = Counter("kit_retry_budget_calls", "First tries counted by a retry budget.", ["backend"])
"""First tries, per backend."""

RETRIES = Counter(
    "kit_retries", "Retries by budget outcome (spent, denied).", ["backend", "outcome"]
)
"""Retries allowed (``spent``) or refused by the budget (``denied``), per backend."""


class RetryBudget:
    """The retries ``backend`` may still spend: ``ratio`` of recent calls plus a floor."""

    def __init__(
        self,
        backend: str,
        *,
        ratio: float = 0.2,
        floor_per_second: float = 10.0,
        window: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if ratio < 0 or floor_per_second < 0:
            raise ValueError("ratio and floor_per_second must not be negative")
        self.backend = backend
        self.ratio = ratio
        self.floor = floor_per_second * window
        extra = {"clock": clock} if clock else {}
        self._counts = RollingCounts(("calls", "retries"), window=window, **extra)
        self._lock = threading.Lock()
        self._calls = CALLS.labels(backend)
        self._spent = RETRIES.labels(backend, "spent")
        self._denied = RETRIES.labels(backend, "denied")

    def record_call(self) -> None:
        """Count one first try (each one earns ``ratio`` of a retry)."""
        self._counts.add("calls")
        self._calls.inc()

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and counted as denied) when it is spent."""
        with self._lock:  # check and spend as one step, so racing retries cannot overdraw
            totals = self._counts.totals()
            if totals["retries"] >= self.ratio * totals["calls"] + self.floor:
                self._denied.inc()
                return False
            self._counts.add("retries")
        self._spent.inc()
        return True
