"""The real user and book services, started in this process for the gateway's tests.

Each runs from its own modules, as its ``__main__`` wires it, under
:class:`kitcore.app.App` on free ports, with SQLite in memory. Book replicas
share one store, as the stack's replicas share one database. Their fault knobs
stay reachable (``faults``), so a test can make one instance fail or slow down.
"""

from __future__ import annotations

from dataclasses import dataclass

from book.endpoints import new_set as new_book_set
from book.service import Catalogue
from book.store import BookStore
from book.transport_grpc import add_to_server as add_book_service
from book.transport_http import make_http_app as make_book_app
from user.endpoints import new_set as new_user_set
from user.service import Accounts
from user.store import UserStore
from user.transport_grpc import add_to_server as add_user_service
from user.transport_http import make_http_app as make_user_app

from kitcore import faults
from kitcore.app import App
from kitcore.auth import JWTIssuer
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, DEFAULT_JWT_SECRET, KitConfig
from kitcore.sql import connect
from kitcore.testing.process import free_port


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


def _config(service: str, instance_id: str, etcd: str) -> KitConfig:
    return KitConfig.from_env(service, {
        "KIT_INSTANCE_ID": instance_id,
        "KIT_HTTP_PORT": str(free_port()),
        "KIT_GRPC_PORT": str(free_port()),
        "KIT_ADVERTISE_HOST": "127.0.0.1",
        "KIT_ETCD_ENDPOINTS": etcd,
        "KIT_REGISTER_TTL": "2",
        "KIT_SHUTDOWN_GRACE": "1",
    })


def new_book_store() -> BookStore:
    """An empty catalogue in memory, to share between book replicas."""
    store = BookStore(connect("sqlite://"))
    store.create_schema()
    return store


def start_book(instance_id: str, store: BookStore, etcd: str = "") -> Backend:
    """A book instance over ``store``, registered in ``etcd`` ("host:port") if given."""
    config = _config("book", instance_id, etcd)
    knobs = faults.FaultSettings()
    endpoints = new_book_set(Catalogue(store, instance_id), knobs, config.request_timeout)
    app = App(config, http_app=make_book_app(endpoints, instance_id),
              grpc_register=lambda server: add_book_service(server, endpoints),
              fault_settings=knobs).start()
    return Backend(instance_id, app, knobs, config.http_address, config.grpc_address)


def start_user(instance_id: str, etcd: str = "") -> Backend:
    """A user instance with its own store in memory, signing tokens as in the stack,
    registered in ``etcd`` ("host:port") if given."""
    config = _config("user", instance_id, etcd)
    store = UserStore(connect("sqlite://"))
    store.create_schema()
    issuer = JWTIssuer(DEFAULT_JWT_SECRET, "HS256", issuer=DEFAULT_JWT_ISSUER,
                       audience=DEFAULT_JWT_AUDIENCE)
    knobs = faults.FaultSettings()
    endpoints = new_user_set(Accounts(store, issuer, instance_id), knobs, config.request_timeout)
    app = App(config, http_app=make_user_app(endpoints, instance_id),
              grpc_register=lambda server: add_user_service(server, endpoints),
              fault_settings=knobs).start()
    return Backend(instance_id, app, knobs, config.http_address, config.grpc_address)
