"""Run the book service: ``python -m book``.

Reads the configuration once, builds store -> service -> endpoints ->
transports, and hands them to :class:`kitcore.app.App`, which adds what every
service serves (``/healthz``, ``/readyz``, ``/metrics``, ``/admin/faults``, the
gRPC health service, tracing), registers in etcd when configured and stops
gracefully on SIGTERM. With no settings at all it runs alone: SQLite in
./book.db, HTTP on 8080, gRPC on 50051, no etcd, no tracing.
"""

from __future__ import annotations

from book.endpoints import new_set
from book.service import Catalogue
from book.store import BookStore
from book.transport_grpc import add_to_server
from book.transport_http import make_http_app
from kitcore import faults, health
from kitcore.app import App, setup_process
from kitcore.config import KitConfig
from kitcore.sql import connect

DEFAULT_DATABASE_URL = "sqlite:///book.db"  # a file in the working directory
DATABASE_WAIT = 30.0  # seconds to wait for PostgreSQL when the stack starts together


def main() -> None:
    """Wire the book service from the environment and serve until SIGTERM."""
    config = KitConfig.from_env("book")
    setup_process(config)  # JSON logs, and tracing when OTEL_* says so

    store = BookStore(connect(config.database_url or DEFAULT_DATABASE_URL, config.service_name))
    store.wait_until_up(DATABASE_WAIT)
    store.create_schema()
    store.seed()
    knobs = faults.FaultSettings(config.fault_error_rate, config.fault_latency_ms)
    endpoints = new_set(Catalogue(store, config.instance_id), knobs, config.request_timeout)

    readiness = health.Readiness()
    readiness.add_check("database", store.ping)
    App(
        config,
        http_app=make_http_app(endpoints, config.instance_id),
        grpc_register=lambda server: add_to_server(server, endpoints),
        readiness=readiness,
        fault_settings=knobs,  # turned at /admin/faults while it runs
    ).run()


if __name__ == "__main__":
    main()
