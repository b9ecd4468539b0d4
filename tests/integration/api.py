"""A thin client of the gateway's public API (DESIGN.md "Gateway API contract"),
used from the host through the published gateway port.

It only saves typing (base URL, bearer header, unique sign-up data); tests
still look at raw ``requests`` responses, status codes and headers.

Calls are paced (:data:`PACE`) so that no client of the suite outruns its rate
limit budget by accident; the limiting test bursts on purpose from inside the
stack instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT = 10.0
"""Seconds one gateway call may take before the test fails (never a hang)."""

PACE = 0.08
"""Least seconds between two calls: 12.5 calls/s, under the suite's budget of 30 per 2 s."""


@dataclass(frozen=True)
class User:
    """A signed-up user with a fresh access token."""

    id: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """The bearer header for this user's calls."""
        return {"Authorization": f"Bearer {self.token}"}


class Gateway:
    """The public gateway at ``base_url`` (one pooled session)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self._last_call = 0.0

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call to ``path`` (starting with '/'); never raises for an HTTP status."""
        kwargs.setdefault("timeout", TIMEOUT)
        time.sleep(max(0.0, self._last_call + PACE - time.monotonic()))
        self._last_call = time.monotonic()
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST ``path``."""
        return self.request("POST", path, **kwargs)

    def new_user(self, name: str = "Reader") -> User:
        """Sign up a user with a unique email, log in, and return it with its token."""
        email = f"{uuid.uuid4().hex[:12]}@example.test"
        password = "correct horse battery"
        created = self.post("/api/v1/users",
                            json={"name": name, "email": email, "password": password})
        assert created.status_code == 201, created.text
        return User(created.json()["user"]["id"], email, password, self.login(email, password))

    def login(self, email: str, password: str) -> str:
        """An access token for ``email``."""
        reply = self.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["token_type"].lower() == "bearer", body
        return str(body["access_token"])

    def create_book(self, user: User, **fields: Any) -> dict[str, Any]:
        """Create a book (title/author/year/stock defaulted) and return it (the ``book`` field)."""
        book = {"title": f"Book {uuid.uuid4().hex[:8]}", "author": "A. Writer",
                "year": 1999, "stock": 3, **fields}
        reply = self.post("/api/v1/books", json=book, headers=user.auth)
        assert reply.status_code == 201, reply.text
        return dict(reply.json()["book"])

    def close(self) -> None:
        """Close the pooled session."""
        self.session.close()
