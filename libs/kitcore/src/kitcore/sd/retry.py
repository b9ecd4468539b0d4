"""Retry a balanced call on another instance, within the caller's deadline.

:func:`retry` turns a balancer into an endpoint that tries up to ``attempts``
times. Each try goes through the balancer again, avoiding the instances that
already failed while others remain, and gets at most ``per_try_timeout``
seconds (through ``ctx.with_timeout``; the endpoint below must honour
``ctx.remaining()``, as kitcore's HTTP and gRPC clients do). Between tries it
waits an exponential backoff with jitter, but never sleeps or starts a try
past the context's deadline. Only retryable errors are retried (Unavailable
by default; DeadlineExceeded of one try too when the call is ``idempotent``);
any other error is raised at once, and so is a call the client refused itself
(:class:`~kitcore.overload.Overloaded`: throttled or over its bulkhead).

The instances to avoid travel in the context (:data:`EXCLUDE`), so
middlewares between the retry and the balancer (a throttle, a bulkhead) keep
the failover. Given a :class:`~kitcore.sd.budget.RetryBudget`, every retry
is taken from it; once it is spent the call fails fast with the last error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.overload import is_overloaded
from kitcore.sd import backoff as _backoff
from kitcore.sd.balancer import EXCLUDE, TRIED
from kitcore.sd.budget import RetryBudget


def retry(
    balancer: Endpoint,
    *,
    attempts: int = 3,
    per_try_timeout: float | None = None,
    backoff: float = 0.05,
    max_backoff: float = 1.0,
    jitter: bool = True,
    retryable: Callable[[BaseException], bool] = errors.is_retryable,
    idempotent: bool = False,
    budget: RetryBudget | None = None,
) -> Endpoint:
    """An endpoint that calls ``balancer`` up to ``attempts`` times (see the module doc)."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    def should_retry(error: errors.KitError, ctx: Context) -> bool:
        if is_overloaded(error):
            return False
        if isinstance(error, errors.DeadlineExceeded):
            return idempotent and not ctx.expired()
        return retryable(error)

    def endpoint(ctx: Context, request: Any) -> Any:
        tried = ctx.value(TRIED)
        if tried is None:
            tried = []
            ctx = ctx.with_value(TRIED, tried)
        failed: set[str] = set()
        last: errors.KitError | None = None
        if budget is not None:
            budget.record_call()
        for attempt in range(attempts):
            if attempt and budget is not None and not budget.try_spend():
                break  # fail fast with the error of the last try
            if attempt and not _pause(ctx, attempt - 1, backoff, max_backoff, jitter):
                break
            if ctx.expired():
                break
            try_ctx = ctx if per_try_timeout is None else ctx.with_timeout(per_try_timeout)
            try_ctx = try_ctx.with_value(EXCLUDE, frozenset(failed))
            before = len(tried)
            try:
                return balancer(try_ctx, request)
            except errors.KitError as error:
                if not should_retry(error, ctx):
                    raise
                last = error
                if len(tried) > before:
                    failed.add(tried[-1].id)
        if last is None:
            raise errors.DeadlineExceeded("deadline exceeded before the call could be made")
        raise last

    return endpoint


def _pause(ctx: Context, attempt: int, base: float, cap: float, jitter: bool) -> bool:
    """Sleep before the next try; False (without sleeping) if the deadline comes first."""
    wait = _backoff.delay(attempt, base=base, cap=cap, jitter=jitter)
    left = ctx.remaining()
    if left is not None and wait >= left:
        return False
    time.sleep(wait)
    return True
