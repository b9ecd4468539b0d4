"""The user service over HTTP, as the gateway's :class:`~gateway.service.UserBackend`.

:func:`user_endpoints` builds, for one user instance, one kitcore HTTP client
endpoint per route on a pooled session to ``instance.http``.
:class:`UserClient` makes each method one balanced, guarded and retried
endpoint of a :class:`~gateway.clients.Backend` (which says which instance
answered), and builds the requests. The small decoders come last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.clients import Backend, Closer, as_is
from gateway.service import Served, Shelf, Token, User
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.sd import Instance
from kitcore.transport.http import ClientRequest, HTTPClient


@dataclass(frozen=True)
class UserEndpoints:
    """The client endpoints of one user instance, one per remote method."""

    create_user: Endpoint
    get_user: Endpoint
    login: Endpoint
    get_shelf: Endpoint
    add_to_shelf: Endpoint


def user_endpoints(
    instance: Instance, guard: Middleware, *, timeout: float = 5.0
) -> tuple[UserEndpoints, Closer]:
    """The client endpoints of one user instance on one session, each wrapped by ``guard``."""
    client = HTTPClient(f"http://{instance.http}", timeout=timeout)

    def method(verb: str, path: str, decode: Callable[[Any, Mapping[str, str]], Any]) -> Endpoint:
        return guard(client.endpoint(verb, path, as_is, decode))

    endpoints = UserEndpoints(
        create_user=method("POST", "/users", _decode_user),
        get_user=method("GET", "/users/{id}", _decode_user),
        login=method("POST", "/login", _decode_token),
        get_shelf=method("GET", "/users/{id}/shelf", _decode_shelf),
        add_to_shelf=method("POST", "/users/{id}/shelf", _decode_shelf),
    )
    return endpoints, client.close


class UserClient:
    """The user service: one client endpoint per method of :class:`UserEndpoints`."""

    def __init__(self, backend: Backend[UserEndpoints]) -> None:
        self._create_user = backend.once(lambda user: user.create_user)  # not idempotent
        self._get_user = backend.safe(lambda user: user.get_user)
        self._login = backend.patient(lambda user: user.login)  # slow by design
        self._get_shelf = backend.safe(lambda user: user.get_shelf)
        self._add_to_shelf = backend.safe(lambda user: user.add_to_shelf)  # idempotent

    def create_user(self, ctx: Context, name: str, email: str, password: str) -> Served[User]:
        """Sign a user up (a retry could answer "email taken", so only unsent tries are)."""
        request = {"name": name, "email": email, "password": password}
        return self._create_user(ctx, ClientRequest(json=request))

    def get_user(self, ctx: Context, user_id: str) -> Served[User]:
        """One user by id."""
        return self._get_user(ctx, ClientRequest(path_params={"id": user_id}))

    def login(self, ctx: Context, email: str, password: str) -> Served[Token]:
        """Check a password and get a token (changes nothing: safe to retry)."""
        return self._login(ctx, ClientRequest(json={"email": email, "password": password}))

    def get_shelf(self, ctx: Context, user_id: str) -> Served[Shelf]:
        """The ids of the books on a user's shelf."""
        return self._get_shelf(ctx, ClientRequest(path_params={"id": user_id}))

    def add_to_shelf(self, ctx: Context, user_id: str, book_id: str) -> Served[Shelf]:
        """Put a book on a user's shelf (idempotent: safe to retry)."""
        request = ClientRequest(path_params={"id": user_id}, json={"book_id": book_id})
        return self._add_to_shelf(ctx, request)


def _decode_user(body: Any, headers: Mapping[str, str]) -> User:
    user = body["user"]
    return User(id=user["id"], name=user["name"], email=user["email"])


def _decode_token(body: Any, headers: Mapping[str, str]) -> Token:
    return Token(body["access_token"], body["token_type"], int(body["expires_in"]))


def _decode_shelf(body: Any, headers: Mapping[str, str]) -> Shelf:
    return Shelf(body["user_id"], list(body["book_ids"]))
