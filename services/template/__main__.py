"""Run the template service: ``python -m template``.

:func:`build` wires store -> service -> endpoints -> transports into a
:class:`kitcore.app.App`, which adds what every service serves (``/healthz``,
``/readyz``, ``/metrics``, the gRPC health service,
tracing), registers in etcd when configured and stops gracefully on SIGTERM.
:func:`main` reads the configuration once and runs it; the tests run the same
:func:`build`. With no settings at all it runs alone: SQLite in
./template.db, HTTP on 8080, gRPC on 50051, no etcd, no tracing.
"""

from __future__ import annotations

import logging

from kitcore import health
from kitcore.app import App, setup_process
from kitcore.config import KitConfig
from template.endpoints import new_set
from template.item_log import ItemLog
from template.service import Items
from template.store import ItemStore
from template.transport_grpc import add_to_server
from template.transport_http import make_http_app

DEFAULT_DATABASE_URL = "sqlite:///template.db"  # a file in the working directory


def build(config: KitConfig, store: ItemStore | None = None) -> App:
    """The service wired from ``config``, ready to start or run.

    ``store`` stands in for the one ``DATABASE_URL`` names (a test's own).
    """
    store = store or ItemStore.open(config.database_url or DEFAULT_DATABASE_URL,
                                    config.service_name)
    # A service middleware: logs what happened in business terms ("item created").
    items = ItemLog(Items(store), logging.getLogger("template"))
    endpoints = new_set(items, config.request_timeout)
    readiness = health.Readiness()
    readiness.add_check("database", store.ping)
    return App(
        config,
        http_app=make_http_app(endpoints, config.instance_id),  # X-Served-By on every answer
        grpc_register=lambda server: add_to_server(server, endpoints),
        readiness=readiness,
    )


def main() -> None:
    """Wire the service from the environment and serve until SIGTERM."""
    config = KitConfig.from_env("template")
    setup_process(config)  # JSON logs, and tracing when OTEL_* says so
    build(config).run()


if __name__ == "__main__":
    main()
