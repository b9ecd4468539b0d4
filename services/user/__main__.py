"""Run the user service: ``python -m user``.

:func:`build` wires store -> service -> endpoints -> transports into a
:class:`kitcore.app.App`, which adds what every service serves (``/healthz``,
``/readyz``, ``/metrics``, ``/admin/faults``, the gRPC health service,
tracing), registers in etcd when configured and stops gracefully on SIGTERM.
:func:`main` reads the configuration once and runs it; the tests run the same
:func:`build`. With no settings at all it runs alone: SQLite in ./user.db,
HTTP on 8080, gRPC on 50051, no etcd, no tracing.
"""

from __future__ import annotations

from kitcore import faults, health
from kitcore.app import App, setup_process
from kitcore.auth import JWTIssuer
from kitcore.config import KitConfig
from user.endpoints import new_set
from user.service import Accounts
from user.store import UserStore
from user.transport_grpc import add_to_server
from user.transport_http import make_http_app

DEFAULT_DATABASE_URL = "sqlite:///user.db"  # a file in the working directory
TOKEN_TTL = 3600  # a login token is valid for one hour


def build(config: KitConfig, store: UserStore | None = None) -> App:
    """The user service wired from ``config``, ready to start or run.

    ``store`` stands in for the one ``DATABASE_URL`` names (a test's own).
    """
    store = store or UserStore.open(config.database_url or DEFAULT_DATABASE_URL,
                                    config.service_name)
    # The gateway checks the same secret, issuer and audience (KIT_JWT_*).
    issuer = JWTIssuer(config.jwt_key(), "HS256", issuer=config.jwt_issuer,
                       audience=config.jwt_audience, ttl=TOKEN_TTL)
    knobs = faults.FaultSettings(config.fault_error_rate, config.fault_latency_ms)
    endpoints = new_set(Accounts(store, issuer), knobs, config.request_timeout)
    readiness = health.Readiness()
    readiness.add_check("database", store.ping)
    return App(
        config,
        http_app=make_http_app(endpoints, config.instance_id),  # X-Served-By on every answer
        grpc_register=lambda server: add_to_server(server, endpoints),
        readiness=readiness,
        fault_settings=knobs,  # turned at /admin/faults while it runs
    )


def main() -> None:
    """Wire the user service from the environment and serve until SIGTERM."""
    config = KitConfig.from_env("user")
    setup_process(config)  # JSON logs, and tracing when OTEL_* says so
    build(config).run()


if __name__ == "__main__":
    main()
