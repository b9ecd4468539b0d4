"""The user service over HTTP, as the gateway's :class:`~gateway.service.UserBackend`.

:func:`user_methods` builds, for one user instance, one kitcore HTTP client
endpoint per route on a pooled session to ``instance.http``.
:class:`UserClient` sends each gateway call through a
:class:`~gateway.clients.Backend` (balanced, broken per instance, retried
where that is safe). The small encoders and decoders come last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.clients import Backend, Call, Closer
from gateway.service import ShelfReply, TokenReply, User, UserReply
from kitcore.endpoint import Context, Endpoint
from kitcore.sd import Instance
from kitcore.transport.http import ClientRequest, HTTPClient


def user_methods(
    instance: Instance, *, timeout: float = 5.0
) -> tuple[Mapping[str, Endpoint], Closer]:
    """The client endpoints of one user instance, sharing one pooled session."""
    client = HTTPClient(f"http://{instance.http}", timeout=timeout)
    methods = {
        "CreateUser": client.endpoint("POST", "/users", _encode_create_user, _decode_user),
        "GetUser": client.endpoint("GET", "/users/{id}", _encode_user_id, _decode_user),
        "Login": client.endpoint("POST", "/login", _encode_login, _decode_token),
        "GetShelf": client.endpoint("GET", "/users/{id}/shelf", _encode_user_id, _decode_shelf),
        "AddToShelf": client.endpoint(
            "POST", "/users/{id}/shelf", _encode_add_to_shelf, _decode_shelf
        ),
    }
    return methods, client.close


class UserClient:
    """The user service through a :class:`~gateway.clients.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def create_user(self, ctx: Context, name: str, email: str, password: str) -> UserReply:
        """Sign a user up (not idempotent: a taken email would answer a retry)."""
        request = {"name": name, "email": email, "password": password}
        return self.backend.once(ctx, Call("CreateUser", request))

    def get_user(self, ctx: Context, user_id: str) -> UserReply:
        """One user by id."""
        return self.backend.safe(ctx, Call("GetUser", {"id": user_id}))

    def login(self, ctx: Context, email: str, password: str) -> TokenReply:
        """Check a password and get a token (changes nothing: safe to retry; slow by
        design, so no per-try cut)."""
        request = {"email": email, "password": password}
        return self.backend.patient(ctx, Call("Login", request))

    def get_shelf(self, ctx: Context, user_id: str) -> ShelfReply:
        """The ids of the books on a user's shelf."""
        return self.backend.safe(ctx, Call("GetShelf", {"id": user_id}))

    def add_to_shelf(self, ctx: Context, user_id: str, book_id: str) -> ShelfReply:
        """Put a book on a user's shelf (idempotent: safe to retry)."""
        return self.backend.safe(ctx, Call("AddToShelf", {"id": user_id, "book_id": book_id}))


def _encode_create_user(request: dict[str, Any]) -> ClientRequest:
    return ClientRequest(json=request)


def _encode_user_id(request: dict[str, Any]) -> ClientRequest:
    return ClientRequest(path_params={"id": request["id"]})


def _encode_login(request: dict[str, Any]) -> ClientRequest:
    return ClientRequest(json=request)


def _encode_add_to_shelf(request: dict[str, Any]) -> ClientRequest:
    return ClientRequest(path_params={"id": request["id"]}, json={"book_id": request["book_id"]})


def _decode_user(body: Any, headers: Mapping[str, str]) -> UserReply:
    user = body["user"]
    return UserReply(
        User(id=user["id"], name=user["name"], email=user["email"]),
        _served_by(body, headers),
    )


def _decode_token(body: Any, headers: Mapping[str, str]) -> TokenReply:
    return TokenReply(
        access_token=body["access_token"],
        token_type=body["token_type"],
        expires_in=int(body["expires_in"]),
        served_by=_served_by(body, headers),
    )


def _decode_shelf(body: Any, headers: Mapping[str, str]) -> ShelfReply:
    return ShelfReply(
        user_id=body["user_id"],
        book_ids=list(body["book_ids"]),
        served_by=_served_by(body, headers),
    )


def _served_by(body: Any, headers: Mapping[str, str]) -> str:
    """The instance that answered: the body's ``served_by``, else ``X-Served-By``."""
    return str(body.get("served_by") or headers.get("X-Served-By", ""))
