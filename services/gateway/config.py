"""The gateway's configuration: kitcore's settings, where the backends are, and
the gateway's own protection (its rate limit per client, its breakers, retries).

Read once from the environment by ``__main__``. With ``KIT_ETCD_ENDPOINTS``
set, backends are found in etcd only; without it, at the fixed addresses of
``KIT_USER_ADDRS`` (user's HTTP) and ``KIT_BOOK_ADDRS`` (book's gRPC), so the
gateway runs alone next to local backends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from kitcore.config import (
    Environ,
    KitConfig,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_storage_uri,
)

DEFAULT_REQUEST_TIMEOUT = "3"
"""Seconds a request may take end to end unless ``KIT_REQUEST_TIMEOUT`` says otherwise."""

DEFAULT_CONCURRENCY_LIMIT = "6"
"""Requests in flight at most unless ``KIT_CONCURRENCY_LIMIT`` says otherwise: below
the server's 8 worker threads, so a free thread is always there to refuse the rest."""

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
    retry_attempts: int
    per_try_timeout: float
    rate_limit: str  # per client (token subject, else address), e.g. "20/second"
    ratelimit_storage: str  # memory://, or redis:// so replicas share one budget
    breaker_fail_max: int  # failures in a row that open one instance's breaker
    breaker_reset_timeout: float  # seconds open before one trial call

    @classmethod
    def from_env(cls, environ: Environ = os.environ) -> GatewayConfig:
        """Read the configuration (the gateway serves HTTP only, on 8080 by default)."""
        kit_environ = {"KIT_REQUEST_TIMEOUT": DEFAULT_REQUEST_TIMEOUT,
                       "KIT_CONCURRENCY_LIMIT": DEFAULT_CONCURRENCY_LIMIT, **environ}
        kit = KitConfig.from_env("gateway", kit_environ, http_port=8080)
        return cls(
            kit=replace(kit, grpc_port=0),  # no gRPC server: registered with HTTP only
            user_addresses=env_list("KIT_USER_ADDRS", DEFAULT_USER_ADDRS, environ),
            book_addresses=env_list("KIT_BOOK_ADDRS", DEFAULT_BOOK_ADDRS, environ),
            retry_attempts=env_int("KIT_RETRY_ATTEMPTS", 3, environ, minimum=1, maximum=10),
            per_try_timeout=env_float("KIT_PER_TRY_TIMEOUT", 1.0, environ, minimum=0.01),
            rate_limit=env_rate("KIT_RATE_LIMIT", "20/second", environ),
            ratelimit_storage=env_storage_uri("KIT_RATELIMIT_STORAGE", "memory://", environ),
            breaker_fail_max=env_int("KIT_BREAKER_FAIL_MAX", 5, environ, minimum=1),
            breaker_reset_timeout=env_float(
                "KIT_BREAKER_RESET_TIMEOUT", 10.0, environ, minimum=0.001
            ),
        )
