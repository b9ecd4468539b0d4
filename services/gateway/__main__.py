"""Run the gateway: ``python -m gateway``.

:func:`build` wires backends -> service -> endpoints -> HTTP transport into a
:class:`kitcore.app.App` (``/healthz``, ``/readyz``, ``/metrics``, tracing,
registration in etcd when configured, graceful SIGTERM); :func:`main` reads
the configuration once and runs it. The tests run the same :func:`build`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import flask

from gateway.book_client import BookClient, BookEndpoints, book_endpoints
from gateway.clients import Backend, new_instancer
from gateway.config import GatewayConfig
from gateway.endpoints import Policy, new_set
from gateway.service import GatewayService
from gateway.transport_http import new_http_app
from gateway.user_client import UserClient, UserEndpoints, user_endpoints
from kitcore import auth
from kitcore.app import App, setup_process
from kitcore.concurrency import ConcurrencyLimiter
from kitcore.ratelimit import Limiter
from kitcore.transport import instrument

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
"""The OpenAPI document served at ``/openapi.json``."""


@dataclass
class Gateway:
    """A wired gateway: the app that serves it, the backends to close after, its
    concurrency limit."""

    app: App
    http_app: flask.Flask
    users: Backend[UserEndpoints]
    books: Backend[BookEndpoints]
    concurrency: ConcurrencyLimiter | None = None

    def close(self) -> None:
        """Release the backends' instancers and connections."""
        self.users.close()
        self.books.close()


def build(cfg: GatewayConfig) -> Gateway:
    """Wire the gateway from its configuration."""
    kit = cfg.kit
    timeout = kit.request_timeout
    users = Backend(
        new_instancer("user", kit.etcd_endpoints, cfg.user_addresses, transport="http"),
        partial(user_endpoints, timeout=timeout),
        cfg.resilience,
    )
    books = Backend(
        new_instancer("book", kit.etcd_endpoints, cfg.book_addresses, transport="grpc"),
        partial(book_endpoints, timeout=timeout),
        cfg.resilience,
    )
    svc = GatewayService(UserClient(users), BookClient(books))
    policy = Policy(
        verifier=auth.JWTVerifier(
            secret=kit.jwt_key(), issuer=kit.jwt_issuer, audience=kit.jwt_audience
        ),
        limiter=Limiter(cfg.rate_limit, cfg.ratelimit_storage, name="gateway"),
        request_timeout=timeout,
        logger=logging.getLogger("gateway"),
        concurrency=_concurrency_limiter(kit.concurrency_limit, kit.concurrency_latency),
    )
    openapi = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    http_app = new_http_app(new_set(svc, policy), openapi)
    return Gateway(App(kit, http_app=http_app), http_app, users, books, policy.concurrency)


def _concurrency_limiter(limit: int, latency: float) -> ConcurrencyLimiter | None:
    """One limit for all routes; 0 turns it off."""
    if limit == 0:
        return None
    # Never below half: a fault on one replica slows some calls for a while, and
    # the other replica can still serve what half the limit admits.
    return ConcurrencyLimiter(
        limit, min_limit=max(1, limit // 2), target_latency=latency, name="gateway"
    )


def main() -> None:
    """Read the configuration, set up tracing, wire the gateway and serve until SIGTERM."""
    cfg = GatewayConfig.from_env()
    setup_process(cfg.kit)  # JSON logs, and tracing when OTEL_* says so
    # Client spans of the gRPC hop (nothing when tracing is off), before any channel;
    # kitcore's HTTP client makes its own.
    instrument.instrument_grpc_client()
    gateway = build(cfg)
    try:
        gateway.app.run()
    finally:
        gateway.close()


if __name__ == "__main__":
    main()
