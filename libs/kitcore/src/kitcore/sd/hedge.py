"""Hedged reads: after the backend's recent p95, ask a second instance too.

:func:`hedged` wraps a balanced endpoint (an idempotent read). It sends the
call, and if no answer came within the backend's recent 95th percentile
latency (:class:`LatencyTracker`), sends the same call to another instance
(the first one is excluded through ``EXCLUDE``) and returns whichever answers
first; an error of one try waits for the other. A hedge is a retry sent early:
each one is taken from the backend's :class:`~kitcore.sd.budget.RetryBudget`,
and none is sent once the budget is spent. grpcio does not hedge by itself.
Tries run in a small thread pool, each in a copy of the caller's context
variables, so a trace goes on through them.

Metrics: ``kit_hedges_total{backend,outcome}``: ``sent``, and ``won`` when the
hedge answered first.
"""

from __future__ import annotations

import bisect
import contextvars
import threading
import time
from collections import deque
from concurrent import futures
from typing import Any

from prometheus_client import Counter

from kitcore.endpoint import Context, Endpoint
from kitcore.sd.balancer import EXCLUDE, TRIED, record_instances
from kitcore.sd.budget import RetryBudget

HEDGES = Counter("kit_hedges", "Hedged reads by outcome (sent, won).", ["backend", "outcome"])
"""Hedges sent, and hedges that answered first, per backend."""


class LatencyTracker:
    """The recent latencies of one backend's calls, and their 95th percentile."""

    def __init__(self, *, size: int = 500, floor: float = 0.005) -> None:
        self.floor = floor
        self._recent: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Count one answered call's latency."""
        with self._lock:
            if len(self._recent) == self._recent.maxlen:
                oldest = self._recent[0]
                del self._sorted[bisect.bisect_left(self._sorted, oldest)]
            self._recent.append(seconds)
            bisect.insort(self._sorted, seconds)

    def p95(self) -> float:
        """The 95th percentile of the recent latencies, at least ``floor`` seconds."""
        with self._lock:
            if not self._sorted:
                return self.floor
            return max(self.floor, self._sorted[int(0.95 * (len(self._sorted) - 1))])


def hedged(
    endpoint: Endpoint, *, backend: str, budget: RetryBudget,
    latency: LatencyTracker | None = None, workers: int = 16,
) -> Endpoint:
    """``endpoint`` (a balanced, idempotent read) hedged after the recent p95."""
    tracker = latency or LatencyTracker()
    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"hedge-{backend}")
    sent, won = HEDGES.labels(backend, "sent"), HEDGES.labels(backend, "won")

    def attempt(ctx: Context, request: Any) -> Any:
        started = time.monotonic()
        response = endpoint(ctx, request)
        tracker.observe(time.monotonic() - started)
        return response

    def call(ctx: Context, request: Any) -> Any:
        first_ctx, first_tried = record_instances(ctx)
        first = pool.submit(contextvars.copy_context().run, attempt, first_ctx, request)
        done, _ = futures.wait([first], timeout=tracker.p95())
        if done or not budget.try_spend():
            return _answer(ctx, first, first_tried)
        sent.inc()
        avoid = frozenset({instance.id for instance in first_tried} | set(ctx.value(EXCLUDE) or ()))
        second_ctx, second_tried = record_instances(ctx.with_value(EXCLUDE, avoid))
        second = pool.submit(contextvars.copy_context().run, attempt, second_ctx, request)
        if _first_success([first, second]) is second:
            won.inc()
            return _answer(ctx, second, first_tried + second_tried)
        return _answer(ctx, first, second_tried + first_tried)

    return call


def _first_success(tries: list[futures.Future[Any]]) -> futures.Future[Any]:
    """The first try to answer without an error, else the last one to fail."""
    pending = set(tries)
    last = tries[0]
    while pending:
        done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
        for future in done:
            last = future
            if future.exception() is None:
                return future
    return last


def _answer(ctx: Context, attempt: futures.Future[Any], tried: list[Any]) -> Any:
    """Add the instances tried to the caller's record (the one that answered last);
    the answer or error of ``attempt``."""
    outer = ctx.value(TRIED)
    if outer is not None:
        outer.extend(tried)
    return attempt.result()
