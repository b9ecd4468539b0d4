"""The real user and book services, started in this process for the gateway's tests.

Each is its own ``build(config)``, as its ``__main__`` runs it, under
:class:`kitcore.app.App` on free ports, with SQLite in memory. Book replicas
share one store, as the stack's replicas share one database. Their fault knobs
stay reachable (``faults``), so a test can make one instance fail or slow down.
"""

from __future__ import annotations

from dataclasses import dataclass

from book.__main__ import build as build_book
from book.store import BookStore
from user.__main__ import build as build_user

from kitcore import faults
from kitcore.app import App
from kitcore.sql import connect
from kitcore.testing.config import local_config


@dataclass
class Backend:
    """One running backend instance."""

    instance_id: str
    app: App
    faults: faults.FaultSettings
    http: str
    grpc: str

    def stop(self) -> None:
        """Stop serving, as a crash or a shutdown would leave it."""
        self.app.stop()


def _started(app: App) -> Backend:
    assert app.fault_settings is not None
    config = app.config
    return Backend(config.instance_id, app.start(), app.fault_settings,
                   config.http_address, config.grpc_address)


def _env(instance_id: str, etcd: str) -> dict[str, str]:
    return {"KIT_INSTANCE_ID": instance_id, "KIT_ETCD_ENDPOINTS": etcd}


def new_book_store() -> BookStore:
    """An empty catalogue in memory, to share between book replicas."""
    store = BookStore(connect("sqlite://"))
    store.create_schema()
    return store


def start_book(instance_id: str, store: BookStore, etcd: str = "") -> Backend:
    """A book instance over ``store``, registered in ``etcd`` ("host:port") if given."""
    return _started(build_book(local_config("book", _env(instance_id, etcd)), store))


def start_user(instance_id: str, etcd: str = "") -> Backend:
    """A user instance with its own store in memory, signing tokens as in the stack,
    registered in ``etcd`` ("host:port") if given."""
    return _started(build_user(local_config("user", _env(instance_id, etcd))))
