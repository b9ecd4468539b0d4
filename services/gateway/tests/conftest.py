"""Fixtures for the gateway tests: real gateways on free ports, in front of real backends."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest
import requests
from book.store import BookStore
from gateway.__main__ import Gateway, build
from gateway.config import GatewayConfig
from gateway.tests.backends import Backend, new_book_store, start_book, start_user

from kitcore.app import App
from kitcore.auth import JWTIssuer
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER
from kitcore.testing.config import JWT_SECRET
from kitcore.testing.fixtures import etcd  # noqa: F401 (a fixture)
from kitcore.testing.process import free_port

NOWHERE = "127.0.0.1:9"
"""An address where nothing listens (the discard port): a backend that is down."""


@dataclass
class RunningGateway:
    """A gateway serving on a free port: its base URL and its wiring."""

    url: str
    wired: Gateway
    app: App

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET ``path`` on the gateway."""
        return requests.request("GET", self.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """Send ``method path`` to the gateway."""
        return requests.request(method, self.url + path, timeout=10, **kwargs)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., RunningGateway]]:
    """Start gateways with extra environment settings; stopped after the test."""
    running: list[RunningGateway] = []

    def start(env: Mapping[str, str] | None = None) -> RunningGateway:
        environ = {
            "KIT_HTTP_PORT": str(free_port()),
            "KIT_INSTANCE_ID": "gateway-test",
            "KIT_USER_ADDRS": NOWHERE,
            "KIT_BOOK_ADDRS": NOWHERE,
            "KIT_RATE_LIMIT": "1000/second",
            "KIT_SHUTDOWN_GRACE": "2",
            "KIT_JWT_SECRET": JWT_SECRET,
            **(env or {}),
        }
        cfg = GatewayConfig.from_env(environ)
        wired = build(cfg)
        app = wired.app.start()
        gateway = RunningGateway(f"http://127.0.0.1:{cfg.kit.http_port}", wired, app)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.app.stop()
        gateway.wired.close()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An address that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", free_port()))
    sock.listen(64)  # the kernel completes handshakes; nothing ever reads
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def lone_gateway(start_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    """A gateway whose backends are all down."""
    return start_gateway()


@pytest.fixture
def token_for() -> Callable[[str], str]:
    """Sign a token for a user id as the user service would."""
    issuer = JWTIssuer(JWT_SECRET, issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE,
                       ttl=600)
    return issuer.issue


@dataclass
class Stack:
    """A gateway in front of one user and two book instances, all in this process."""

    gateway: RunningGateway
    user: Backend
    books: list[Backend]
    book_store: BookStore
    through_etcd: bool = False

    def named(self, backend: Backend) -> str:
        """How the gateway names ``backend`` in ``served_by``: as discovery knows it, by its
        instance id when found through etcd, else by its address."""
        if self.through_etcd:
            return backend.instance_id
        return backend.http if backend is self.user else backend.grpc

    def sign_up(self, name: str = "Ada") -> tuple[str, dict[str, str]]:
        """A new user's id and the Authorization header of its token."""
        email = f"{name.lower()}-{next(_serial)}@example.org"
        created = self.gateway.request("POST", "/api/v1/users",
                                       json={"name": name, "email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = self.gateway.request("POST", "/api/v1/auth/login",
                                     json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        return created.json()["user"]["id"], {"Authorization": f"Bearer {token}"}

    def create_book(self, auth: dict[str, str], title: str = "Dune", stock: int = 3) -> str:
        """A new book's id."""
        created = self.gateway.request(
            "POST", "/api/v1/books", headers=auth,
            json={"title": title, "author": "Frank Herbert", "year": 1965, "stock": stock},
        )
        assert created.status_code == 201, created.text
        return created.json()["book"]["id"]


PASSWORD = "correct horse battery"
_serial = itertools.count(1)


@pytest.fixture
def start_stack(start_gateway: Callable[..., RunningGateway]) -> Iterator[Callable[..., Stack]]:
    """Start user-1, book-1 and book-2 (sharing one catalogue) and a gateway in front."""
    backends: list[Backend] = []

    def start(env: Mapping[str, str] | None = None, *, etcd_address: str = "") -> Stack:
        """With ``etcd_address`` ("host:port"), backends register there and the gateway
        finds them there only; else the gateway gets their addresses."""
        store = new_book_store()
        user = start_user("user-1", etcd_address)
        books = [start_book("book-1", store, etcd_address),
                 start_book("book-2", store, etcd_address)]
        backends.extend([user, *books])
        where = {"KIT_ETCD_ENDPOINTS": etcd_address} if etcd_address else {
            "KIT_USER_ADDRS": user.http,
            "KIT_BOOK_ADDRS": ",".join(book.grpc for book in books),
        }
        gateway = start_gateway({**where, **(env or {})})
        return Stack(gateway, user, books, store, bool(etcd_address))

    yield start
    for backend in backends:
        backend.stop()


@pytest.fixture
def stack(start_stack: Callable[..., Stack]) -> Stack:
    """A gateway with healthy backends and default settings."""
    return start_stack()
