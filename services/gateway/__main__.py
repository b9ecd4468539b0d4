"""Run the gateway: ``python -m gateway``.

Reads the configuration once, wires backends -> service -> endpoints -> HTTP
transport, and runs it with :class:`kitcore.app.App` (``/healthz``, ``/readyz``,
``/metrics``, tracing, registration in etcd when configured, graceful SIGTERM).
Nothing else happens here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import flask

from gateway.book_client import BookClient, book_methods
from gateway.clients import Backend, Resilience, new_instancer
from gateway.config import GatewayConfig
from gateway.endpoints import Policy, new_set
from gateway.service import GatewayService
from gateway.transport_http import new_http_app
from gateway.user_client import UserClient, user_methods
from kitcore import auth, health, sd, tracing
from kitcore.app import App, setup_process
from kitcore.concurrency import ConcurrencyLimiter
from kitcore.ratelimit import Limiter

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
"""The OpenAPI document served at ``/openapi.json``."""

JWT_ISSUER = "kitcore-user"
"""The ``iss`` of the tokens the user service signs."""

JWT_AUDIENCE = "kitcore"
"""The ``aud`` of the tokens the user service signs."""


@dataclass
class Gateway:
    """A wired gateway: its Flask app, readiness, the backends to close, its concurrency limit."""

    http_app: flask.Flask
    readiness: health.Readiness
    users: Backend
    books: Backend
    concurrency: ConcurrencyLimiter | None = None

    def close(self) -> None:
        """Release the backends' instancers and connections."""
        self.users.close()
        self.books.close()


def build(cfg: GatewayConfig) -> Gateway:
    """Wire the gateway from its configuration."""
    kit = cfg.kit
    resilience = Resilience(
        attempts=cfg.retry_attempts,
        per_try_timeout=cfg.per_try_timeout,
        breaker_fail_max=kit.breaker_fail_max,
        breaker_reset_timeout=kit.breaker_reset_timeout,
    )
    timeout = kit.request_timeout
    users = Backend(
        new_instancer("user", kit.etcd_endpoints, cfg.user_addresses, transport="http"),
        partial(user_methods, timeout=timeout),
        sd.LeastLoaded,  # user runs as one instance in the stack; least loaded if scaled
        resilience,
    )
    books = Backend(
        new_instancer("book", kit.etcd_endpoints, cfg.book_addresses, transport="grpc"),
        partial(book_methods, timeout=timeout),
        sd.RoundRobin,  # book-1, book-2, book-1 ...: the alternation shows in X-Served-By
        resilience,
    )
    svc = GatewayService(UserClient(users), BookClient(books))
    policy = Policy(
        verifier=auth.JWTVerifier(secret=kit.jwt_secret, issuer=JWT_ISSUER, audience=JWT_AUDIENCE),
        limiter=Limiter(kit.rate_limit, kit.ratelimit_storage, name="gateway"),
        request_timeout=timeout,
        logger=logging.getLogger("gateway"),
        concurrency=_concurrency_limiter(kit.concurrency_limit, kit.concurrency_latency),
    )
    readiness = health.Readiness()
    openapi = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    http_app = new_http_app(new_set(svc, policy), openapi)
    return Gateway(http_app, readiness, users, books, policy.concurrency)


def _concurrency_limiter(limit: int, latency: float) -> ConcurrencyLimiter | None:
    """One limit for all routes; 0 turns it off."""
    if limit == 0:
        return None
    return ConcurrencyLimiter(limit, target_latency=latency, name="gateway")


def main() -> None:
    """Read the configuration, set up tracing, wire the gateway and serve until SIGTERM."""
    cfg = GatewayConfig.from_env()
    setup_process(cfg.kit)  # JSON logs, and tracing when OTEL_* says so
    # Client spans of the gRPC hop (nothing when tracing is off), before any channel;
    # kitcore's HTTP client makes its own.
    tracing.instrument_grpc_client()
    gateway = build(cfg)
    try:
        App(cfg.kit, http_app=gateway.http_app, readiness=gateway.readiness).run()
    finally:
        gateway.close()


if __name__ == "__main__":
    main()
