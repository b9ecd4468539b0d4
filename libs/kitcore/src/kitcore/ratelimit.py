"""Rate limiting middlewares on the limits library.

A :class:`Limiter` holds one rate (``"20/second"``, ``"100 per minute"``) counted
per key in a storage: ``memory://`` (one process) or ``redis://host:port/db``
(every process using the same Redis shares one budget). Two middlewares use it:

- :func:`erroring_limit_middleware` rejects a call over budget at once with
  :class:`kitcore.errors.RateLimited`, carrying ``retry_after`` and the
  ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` headers
  (HTTP 429 + ``Retry-After``; gRPC ``RESOURCE_EXHAUSTED``);
- :func:`delaying_limit_middleware` waits for a free slot instead, but never past the call's
  deadline: when the wait would outlast it, the call is rejected at once.

The key function picks whose budget a call spends: :func:`global_key` (one
budget for all), :func:`by_subject` (the verified JWT ``sub``),
:func:`by_client_id` (metadata ``x-client-id``) or :func:`by_remote_address`.
Rejections are counted in ``kit_ratelimit_rejections_total{name}``.

If the storage cannot be reached (Redis down), calls are admitted and the
outage is logged once: the limiter protects a service, it must not take it down.
Nor may it eat the calls' time: a Redis call is never retried and gives up after
0.25 s (redis-py would otherwise retry three times with backoff, which cost
calls their whole deadline while Redis was stopping), and after a failure the
storage is left alone for :data:`STORAGE_RETRY` seconds, every call admitted at
once, before one call tries it again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import limits
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES
from prometheus_client import Counter
from redis.backoff import NoBackoff
from redis.retry import Retry

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware

KeyFunc = Callable[[Context, Any], str]
"""Picks the budget a call spends: ``(ctx, request) -> key``."""

REJECTIONS = Counter(
    "kit_ratelimit_rejections_total", "Calls rejected by a rate limiter.", ["name"]
)
"""Rejected calls per limiter name."""

REMOTE_ADDRESS_KEYS = ("remote-addr", "x-forwarded-for")
"""Metadata keys read, in order, for the caller's address (first hop of a list).

``remote-addr`` is meant to be set by the server transport from the socket's
peer (after the headers, so a client cannot choose it); ``X-Forwarded-For`` is
written by clients and proxies alike and is only a fallback."""

_REDIS_OPTIONS = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25,
                  "retry": Retry(NoBackoff(), 0)}

STORAGE_RETRY = 1.0
"""Seconds after a storage failure during which calls are admitted without trying it."""
_log = logging.getLogger(__name__)


class Limiter:
    """One rate, counted per key in a ``memory://`` or ``redis://`` storage."""

    def __init__(
        self,
        rate: str,
        storage_uri: str = "memory://",
        strategy: str = "moving-window",
        *,
        name: str = "default",
    ) -> None:
        self.name = name
        self.item = limits.parse(rate)
        options: dict[str, Any] = {"wrap_exceptions": True}
        if storage_uri.startswith(("redis://", "rediss://")):
            options.update(_REDIS_OPTIONS)
        self._strategy = STRATEGIES[strategy](storage_from_string(storage_uri, **options))
        self._storage_up = True
        self._retry_at = 0.0  # while the storage is down: when to try it again

    def hit(self, key: str) -> bool:
        """Spend one unit of ``key``'s budget; False when it is used up (True, at once,
        while the storage is down)."""
        if not self._storage_up and time.monotonic() < self._retry_at:
            return True
        try:
            admitted = self._strategy.hit(self.item, self.name, key)
        except StorageError as exc:
            self._retry_at = time.monotonic() + STORAGE_RETRY
            self._storage_state(False, exc)
            return True
        self._storage_state(True)
        return admitted

    def wait_time(self, key: str) -> float:
        """Seconds until ``key`` has budget again (0 when it has some now)."""
        try:
            reset_time, remaining = self._strategy.get_window_stats(self.item, self.name, key)
        except StorageError:
            return 0.0
        return 0.0 if remaining > 0 else max(0.0, reset_time - time.time())

    def rejection(self, key: str) -> errors.RateLimited:
        """The error for a call over ``key``'s budget (and count it)."""
        REJECTIONS.labels(self.name).inc()
        reset = max(1, math.ceil(self.wait_time(key)))
        headers = {
            "RateLimit-Limit": str(self.item.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
        }
        return errors.RateLimited(
            f"rate limit of {self.item} exceeded", retry_after=reset, headers=headers
        )

    def _storage_state(self, up: bool, exc: BaseException | None = None) -> None:
        if up != self._storage_up:
            self._storage_up = up
            fields = {"limiter": self.name, "error": str(exc) if exc else None}
            message = "storage is back" if up else "storage unreachable, admitting calls"
            _log.warning("rate limit %s: %s", message, self.name, extra={"fields": fields})


def global_key(ctx: Context, request: Any) -> str:
    """One budget shared by every caller."""
    return "global"


def by_remote_address(ctx: Context, request: Any) -> str:
    """The caller's address from metadata (see :data:`REMOTE_ADDRESS_KEYS`)."""
    for name in REMOTE_ADDRESS_KEYS:
        value = ctx.metadata.get(name)
        if value:
            return "addr:" + value.split(",")[0].strip()
    return "addr:unknown"


def by_subject(ctx: Context, request: Any) -> str:
    """The verified JWT subject (``claims["sub"]``), else the caller's address."""
    claims = ctx.value("claims") or {}
    subject = claims.get("sub")
    return f"sub:{subject}" if subject else by_remote_address(ctx, request)


def by_client_id(ctx: Context, request: Any) -> str:
    """Metadata ``x-client-id``, else the caller's address."""
    client = ctx.metadata.get("x-client-id")
    return f"client:{client}" if client else by_remote_address(ctx, request)


def erroring_limit_middleware(limiter: Limiter, key: KeyFunc = global_key) -> Middleware:
    """Reject calls over budget at once with :class:`kitcore.errors.RateLimited`."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            budget = key(ctx, request)
            if not limiter.hit(budget):
                raise limiter.rejection(budget)
            return next_endpoint(ctx, request)

        return endpoint

    return wrap


def delaying_limit_middleware(limiter: Limiter, key: KeyFunc = global_key) -> Middleware:
    """Wait for budget before calling, but reject at once if the wait would
    outlast the call's deadline."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            budget = key(ctx, request)
            while not limiter.hit(budget):
                wait = limiter.wait_time(budget) + 0.001
                left = ctx.remaining()
                if left is not None and wait >= left:
                    raise limiter.rejection(budget)
                time.sleep(wait)
            ctx.check_deadline()
            return next_endpoint(ctx, request)

        return endpoint

    return wrap
