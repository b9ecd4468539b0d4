"""The real gateway, user and book started in this process for fuzzing, wired
as their ``__main__`` wires them, on free ports with SQLite in memory (the
gateway tests' backend helpers, reused as they are).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from gateway.__main__ import build
from gateway.config import GatewayConfig
from gateway.tests.backends import new_book_store, start_book, start_user

from kitcore.testing.config import JWT_SECRET
from kitcore.testing.process import free_port

RATE_LIMIT = "1000000/second"
"""A budget no fuzzing run reaches: a 429 would hide the answer under test."""

REQUEST_TIMEOUT = 5.0
PER_TRY_TIMEOUT = 2.0
"""The gateway's deadlines, raised from 3 s and 1 s: fuzzing tests input handling,
and on a busy machine a slow password hash must not turn into a 504."""

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class FuzzStack:
    """The running stack: the gateway's base URL, a signed-up user, one existing book."""

    url: str
    user_id: str
    token: str
    book_id: str


@contextmanager
def running_stack() -> Iterator[FuzzStack]:
    """Gateway + user + book-1 + book-2 (one shared catalogue) until the block ends."""
    store = new_book_store()
    backends = [start_user("user-1"), start_book("book-1", store), start_book("book-2", store)]
    try:
        cfg = GatewayConfig.from_env({
            "KIT_HTTP_PORT": str(free_port()),
            "KIT_INSTANCE_ID": "gateway-fuzz",
            "KIT_USER_ADDRS": backends[0].http,
            "KIT_BOOK_ADDRS": ",".join(book.grpc for book in backends[1:]),
            "KIT_RATE_LIMIT": RATE_LIMIT,
            "KIT_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
            "KIT_PER_TRY_TIMEOUT": str(PER_TRY_TIMEOUT),
            "KIT_SHUTDOWN_GRACE": "2",
            "KIT_JWT_SECRET": JWT_SECRET,
        })
        wired = build(cfg)
        app = wired.app.start()
        try:
            yield _seed(f"http://127.0.0.1:{cfg.kit.http_port}")
        finally:
            app.stop()
            wired.close()
    finally:
        for backend in backends:
            backend.stop()


def _seed(url: str) -> FuzzStack:
    """Sign up a user and create a book through the gateway, so fuzzed ids can hit them."""
    email = f"fuzz-{uuid.uuid4().hex[:8]}@example.org"
    created = requests.post(f"{url}/api/v1/users", timeout=10,
                            json={"name": "Fuzz", "email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    login = requests.post(f"{url}/api/v1/auth/login", timeout=10,
                          json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    book = requests.post(f"{url}/api/v1/books", timeout=10,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"title": "Fuzzed", "author": "A. Writer", "year": 2001, "stock": 5})
    assert book.status_code == 201, book.text
    return FuzzStack(url, created.json()["user"]["id"], token, book.json()["book"]["id"])
