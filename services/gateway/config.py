"""The gateway's configuration: kitcore's settings, where the backends are, and
the gateway's own protection (its rate limit per client, and how it treats its
backends: retries and their budget, throttle, bulkhead, balancer, breakers).

Read once from the environment by ``__main__``. With ``KIT_ETCD_ENDPOINTS``
set, backends are found in etcd only; without it, at the fixed addresses of
``KIT_USER_ADDRS`` (user's HTTP) and ``KIT_BOOK_ADDRS`` (book's gRPC), so the
gateway runs alone next to local backends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from gateway.clients import BALANCERS, Resilience
from kitcore.config import (
    Environ,
    KitConfig,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_storage_uri,
    env_str,
)

DEFAULT_REQUEST_TIMEOUT = "3"
"""Seconds a request may take end to end unless ``KIT_REQUEST_TIMEOUT`` says otherwise."""

DEFAULT_HTTP_THREADS = "24"
"""Worker threads unless ``KIT_HTTP_THREADS`` says otherwise: the gateway mostly waits
on its backends, and a call to a replica that just vanished waits out its per-try
timeout, so it needs more threads than a service that works on its own CPU."""

DEFAULT_CONCURRENCY_LIMIT = "20"
"""Requests in flight at most unless ``KIT_CONCURRENCY_LIMIT`` says otherwise: below
the worker threads, so a free thread is always there to refuse the rest."""

DEFAULT_BULKHEAD = 12
"""Calls in flight to one backend unless ``KIT_BULKHEAD_MAX`` says otherwise: a slow
backend can hold at most this many of the concurrency limit's requests, so routes
that need only the other backend keep the rest."""

DEFAULT_USER_ADDRS = ("127.0.0.1:8081",)
"""Where user answers HTTP when run alone (``KIT_HTTP_PORT=8081 python -m user``)."""

DEFAULT_BOOK_ADDRS = ("127.0.0.1:50051",)
"""Where book answers gRPC when run alone (its default gRPC port)."""


@dataclass(frozen=True)
class GatewayConfig:
    """Every setting of one gateway instance."""

    kit: KitConfig
    user_addresses: tuple[str, ...]  # user HTTP host:port, used without etcd
    book_addresses: tuple[str, ...]  # book gRPC host:port, used without etcd
    rate_limit: str  # per client (token subject, else address), e.g. "20/second"
    ratelimit_storage: str  # memory://, or redis:// so replicas share one budget
    resilience: Resilience  # how each backend is called (defaults: gateway.clients)

    @classmethod
    def from_env(cls, environ: Environ = os.environ) -> GatewayConfig:
        """Read the configuration (the gateway serves HTTP only, on 8080 by default)."""
        kit_environ = {"KIT_REQUEST_TIMEOUT": DEFAULT_REQUEST_TIMEOUT,
                       "KIT_HTTP_THREADS": DEFAULT_HTTP_THREADS,
                       "KIT_CONCURRENCY_LIMIT": DEFAULT_CONCURRENCY_LIMIT, **environ}
        kit = KitConfig.from_env("gateway", kit_environ, http_port=8080)
        return cls(
            kit=replace(kit, grpc_port=0),  # no gRPC server: registered with HTTP only
            user_addresses=env_list("KIT_USER_ADDRS", DEFAULT_USER_ADDRS, environ),
            book_addresses=env_list("KIT_BOOK_ADDRS", DEFAULT_BOOK_ADDRS, environ),
            rate_limit=env_rate("KIT_RATE_LIMIT", "20/second", environ),
            ratelimit_storage=env_storage_uri("KIT_RATELIMIT_STORAGE", "memory://", environ),
            resilience=_resilience(environ),
        )


def _resilience(environ: Environ) -> Resilience:
    """How the gateway treats each backend, from the ``KIT_*`` settings named below."""
    balancer = env_str("KIT_BALANCER", "peak_ewma", environ)
    if balancer not in BALANCERS:
        raise ValueError(f"KIT_BALANCER={balancer!r}: must be one of {', '.join(BALANCERS)}")
    return Resilience(
        attempts=env_int("KIT_RETRY_ATTEMPTS", 3, environ, minimum=1, maximum=10),
        per_try_timeout=env_float("KIT_PER_TRY_TIMEOUT", 1.0, environ, minimum=0.01),
        breaker_fail_max=env_int("KIT_BREAKER_FAIL_MAX", 5, environ, minimum=1),
        breaker_reset_timeout=env_float("KIT_BREAKER_RESET_TIMEOUT", 10.0, environ,
                                        minimum=0.001),
        retry_budget_ratio=env_float("KIT_RETRY_BUDGET_RATIO", 0.2, environ, minimum=0.0),
        retry_budget_floor=env_float("KIT_RETRY_BUDGET_FLOOR", 10.0, environ, minimum=0.0),
        throttle_k=env_float("KIT_THROTTLE_K", 2.0, environ, minimum=1.0),
        throttle_window=env_float("KIT_THROTTLE_WINDOW", 10.0, environ, minimum=0.1),
        bulkhead=env_int("KIT_BULKHEAD_MAX", DEFAULT_BULKHEAD, environ, minimum=1),
        balancer=balancer,
        balancer_decay=env_float("KIT_BALANCER_DECAY", 2.0, environ, minimum=0.01),
    )
