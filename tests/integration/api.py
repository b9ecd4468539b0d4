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

import jwt
import requests

TIMEOUT = 10.0
"""Seconds one gateway call may take before the test fails (never a hang)."""

SETUP_ATTEMPTS = 4
"""Tries of a sign-up or login that ran out of time (503/504) on a loaded machine."""

SETUP_BACKOFF = 2.5
"""Seconds between those tries: past the suite's 2 s breaker reset, should slow
answers have opened the gateway's breaker for user."""

PACE = 0.11
"""Least seconds between two calls: 9 calls/s, under the suite's budget of 40 per 4 s."""


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
        """Sign up a user with a unique email, log in, and return it with its token.

        Password hashing is CPU-heavy: on a loaded machine a sign-up or login may
        run past the gateway's deadline (503/504). Those are tried again, up to
        :data:`SETUP_ATTEMPTS` times, :data:`SETUP_BACKOFF` apart; a sign-up that
        answers 409 on a later try was created by an earlier one. Any other answer
        fails at once.
        """
        email = f"{uuid.uuid4().hex[:12]}@example.test"
        password = "correct horse battery"
        signed_up = self._setup_call("/api/v1/users",
                                     {"name": name, "email": email, "password": password},
                                     ok=(201, 409))
        token = self.login(email, password)
        user_id = str(jwt.decode(token, options={"verify_signature": False})["sub"])
        if signed_up.status_code == 201:
            assert signed_up.json()["user"]["id"] == user_id, signed_up.text
        return User(user_id, email, password, token)

    def login(self, email: str, password: str) -> str:
        """An access token for ``email``."""
        reply = self._setup_call("/api/v1/auth/login", {"email": email, "password": password},
                                 ok=(200,))
        body = reply.json()
        assert body["token_type"].lower() == "bearer", body
        return str(body["access_token"])

    def _setup_call(self, path: str, body: dict[str, Any], ok: tuple[int, ...]
                    ) -> requests.Response:
        tries = 0
        while True:
            reply = self.post(path, json=body)
            tries += 1
            if reply.status_code not in (503, 504) or tries == SETUP_ATTEMPTS:
                break
            time.sleep(SETUP_BACKOFF)
        first_try_409 = reply.status_code == 409 and tries == 1
        assert reply.status_code in ok and not first_try_409, \
            f"{path}: {reply.status_code} {reply.text}"
        return reply

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
