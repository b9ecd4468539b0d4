"""Run the book service: ``python -m book``.

:func:`build` wires store -> service -> endpoints -> transports into a
:class:`kitcore.app.App`, which adds what every service serves (``/healthz``,
``/readyz``, ``/metrics``, ``/admin/faults``, the gRPC health service,
tracing), registers in etcd when configured and stops gracefully on SIGTERM.
:func:`main` reads the configuration once and runs it; the tests run the same
:func:`build`. With no settings at all it runs alone: SQLite in ./book.db,
HTTP on 8080, gRPC on 50051, no etcd, no tracing.
"""

from __future__ import annotations

import logging

from book.endpoints import new_set
from book.service import Catalogue
from book.stock_watch import StockWatch
from book.store import BookStore
from book.transport_grpc import add_to_server
from book.transport_http import make_http_app
from kitcore import faults, health
from kitcore.app import App, setup_process
from kitcore.config import KitConfig

DEFAULT_DATABASE_URL = "sqlite:///book.db"  # a file in the working directory


def open_store(config: KitConfig) -> BookStore:
    """The catalogue at ``DATABASE_URL``, once it answers: its table made, demo books in."""
    store = BookStore.open(config.database_url or DEFAULT_DATABASE_URL, config.service_name)
    store.seed()
    return store


def build(config: KitConfig, store: BookStore | None = None) -> App:
    """The book service wired from ``config``, ready to start or run.

    ``store`` stands in for the one ``DATABASE_URL`` names (tests give book
    replicas one store, as the stack gives them one database).
    """
    store = store or open_store(config)
    knobs = faults.FaultSettings(config.fault_error_rate, config.fault_latency_ms)
    # A service middleware: warns in business terms when a book runs low.
    catalogue = StockWatch(Catalogue(store), logging.getLogger("book"))
    endpoints = new_set(catalogue, knobs, config.request_timeout)

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
    """Wire the book service from the environment and serve until SIGTERM."""
    config = KitConfig.from_env("book")
    setup_process(config)  # JSON logs, and tracing when OTEL_* says so
    build(config).run()


if __name__ == "__main__":
    main()
