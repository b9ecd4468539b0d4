"""The gateway's HTTP transport: the public routes, then their decoders and encoders.

Every route of ``openapi.json`` is served here. A decoder checks each field of
the request (types, lengths, ranges, UUID-shaped ids) with the rules of
:mod:`kitcore.validate`, the same the services apply, and raises
:class:`~kitcore.errors.InvalidArgument` before any endpoint or backend runs,
so bad input is a 400 and nothing is half-written. Encoders write the JSON
body and ``X-Served-By``: the backend instance(s) that answered, user first
(``user-1,book-2``) when both did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flask

from gateway.clients import SERVED_BY_HEADER
from gateway.endpoints import (
    AddToShelfRequest,
    CreateBookRequest,
    GetBookRequest,
    GetShelfRequest,
    GetUserRequest,
    ListBooksRequest,
    LoginRequest,
    Set,
    SignUpRequest,
    UpdateStockRequest,
)
from gateway.service import Book, BookPage, Served, ShelfUpdate, ShelfView, Token, User
from kitcore import validate
from kitcore.errors import InvalidArgument
from kitcore.transport import http

MAX_BODY_BYTES = 64 * 1024
"""The largest request body accepted (larger: 413)."""

PASSWORD_MIN, PASSWORD_MAX = 8, 128
"""Password lengths accepted at sign-up (openapi.json says the same)."""

LOGIN_PASSWORD_MAX = 1024
"""The longest password a login checks (longer: 400); shorter rules are sign-up's only."""


def new_http_app(endpoints: Set, openapi: Mapping[str, Any]) -> flask.Flask:
    """The gateway's Flask app: the public API and its OpenAPI document.

    :class:`kitcore.app.App` adds ``/healthz``, ``/readyz`` and ``/metrics`` when it serves it.
    """
    app = http.new_app("gateway", max_body_bytes=MAX_BODY_BYTES)
    api = "/api/v1"
    _route(app, f"{api}/users", "POST", endpoints.sign_up, decode_sign_up,
           _created(encode_user), "sign_up")
    _route(app, f"{api}/auth/login", "POST", endpoints.login, decode_login, encode_token, "login")
    _route(app, f"{api}/users/<id>", "GET", endpoints.get_user, decode_get_user,
           encode_user, "get_user")
    _route(app, f"{api}/books", "GET", endpoints.list_books, decode_list_books,
           encode_books, "list_books")
    _route(app, f"{api}/books", "POST", endpoints.create_book, decode_create_book,
           _created(encode_book), "create_book")
    _route(app, f"{api}/books/<id>", "GET", endpoints.get_book, decode_get_book,
           encode_book, "get_book")
    _route(app, f"{api}/books/<id>/stock", "PATCH", endpoints.update_stock,
           decode_update_stock, encode_book, "update_stock")
    _route(app, f"{api}/users/<id>/shelf", "POST", endpoints.add_to_shelf,
           decode_add_to_shelf, encode_shelf_update, "add_to_shelf")
    _route(app, f"{api}/users/<id>/shelf", "GET", endpoints.get_shelf, decode_get_shelf,
           encode_shelf, "get_shelf")
    app.add_url_rule("/openapi.json", "openapi", lambda: flask.jsonify(openapi))
    return app


def _route(
    app: flask.Flask,
    rule: str,
    method: str,
    endpoint: Any,
    decode: Callable[[flask.Request, dict[str, Any]], Any],
    encode: Callable[[Any], flask.Response],
    name: str,
) -> None:
    http.route(app, rule, [method], endpoint, decode, encode, name=name)


# Decoders: wire request -> endpoint request. Limits match openapi.json.


def decode_sign_up(request: flask.Request, path_params: dict[str, Any]) -> SignUpRequest:
    """``{name, email, password}``."""
    body = http.json_body(request, allowed={"name", "email", "password"})
    return SignUpRequest(
        name=http.required_str(body, "name", max_len=100),
        email=http.email_str(body),
        password=_password(body),
    )


def decode_login(request: flask.Request, path_params: dict[str, Any]) -> LoginRequest:
    """``{email, password}``."""
    body = http.json_body(request, allowed={"email", "password"})
    password = validate.password_attempt(body.get("password"), max_len=LOGIN_PASSWORD_MAX)
    return LoginRequest(email=http.email_str(body), password=password)


def decode_get_user(request: flask.Request, path_params: dict[str, Any]) -> GetUserRequest:
    """The user id from the path."""
    return GetUserRequest(user_id=validate.uuid(path_params.get("id"), "id"))


def decode_list_books(request: flask.Request, path_params: dict[str, Any]) -> ListBooksRequest:
    """``?author=&page=&page_size=``, all optional."""
    return ListBooksRequest(
        author=http.query_str(request, "author", max_len=100, default=""),
        page=_query_int(request, "page", min_value=1, max_value=10_000, default=1),
        page_size=_query_int(request, "page_size", min_value=1, max_value=100, default=20),
    )


def decode_get_book(request: flask.Request, path_params: dict[str, Any]) -> GetBookRequest:
    """The book id from the path."""
    return GetBookRequest(book_id=validate.uuid(path_params.get("id"), "id"))


def decode_create_book(request: flask.Request, path_params: dict[str, Any]) -> CreateBookRequest:
    """``{title, author, year, stock?}``."""
    body = http.json_body(request, allowed={"title", "author", "year", "stock"})
    return CreateBookRequest(
        title=http.required_str(body, "title", max_len=200),
        author=http.required_str(body, "author", max_len=100),
        year=http.required_int(body, "year", min_value=-3000, max_value=2100),
        stock=_optional_int(body, "stock", min_value=0, max_value=1_000_000_000, default=0),
    )


def decode_update_stock(
    request: flask.Request, path_params: dict[str, Any]
) -> UpdateStockRequest:
    """The book id from the path and ``{delta}``, a non-zero integer."""
    book_id = validate.uuid(path_params.get("id"), "id")
    body = http.json_body(request, allowed={"delta"})
    delta = http.required_int(body, "delta", min_value=-1_000_000, max_value=1_000_000)
    if delta == 0:
        raise InvalidArgument("delta: must not be 0")
    return UpdateStockRequest(book_id=book_id, delta=delta)


def decode_add_to_shelf(request: flask.Request, path_params: dict[str, Any]) -> AddToShelfRequest:
    """The user id from the path and ``{book_id}``."""
    user_id = validate.uuid(path_params.get("id"), "id")
    body = http.json_body(request, allowed={"book_id"})
    return AddToShelfRequest(user_id=user_id, book_id=validate.uuid(body.get("book_id"), "book_id"))


def decode_get_shelf(request: flask.Request, path_params: dict[str, Any]) -> GetShelfRequest:
    """The user id from the path."""
    return GetShelfRequest(user_id=validate.uuid(path_params.get("id"), "id"))


def _query_int(
    request: flask.Request, name: str, *, min_value: int, max_value: int, default: int
) -> int:
    """An integer query parameter in plain digits, ``default`` when absent (not when empty)."""
    if request.args.get(name) == "":
        raise InvalidArgument(f"{name}: must be an integer, got ''")
    return http.query_int(request, name, min_value=min_value, max_value=max_value, default=default)


def _optional_int(
    body: Mapping[str, Any], field: str, *, min_value: int, max_value: int, default: int
) -> int:
    """An integer in ``[min_value, max_value]``; ``default`` when absent, but null is refused."""
    if field not in body:
        return default
    if body[field] is None:
        raise InvalidArgument(f"{field}: must be an integer, got null")
    return http.required_int(body, field, min_value=min_value, max_value=max_value)


def _password(body: Mapping[str, Any]) -> str:
    """A required password of ``PASSWORD_MIN`` to ``PASSWORD_MAX`` characters, kept as given."""
    return validate.password(body.get("password"), min_len=PASSWORD_MIN, max_len=PASSWORD_MAX)


# Encoders: endpoint response -> JSON body and X-Served-By.


def encode_user(reply: Served[User]) -> flask.Response:
    """``{user, served_by}``."""
    user = {"id": reply.value.id, "name": reply.value.name, "email": reply.value.email}
    return _served({"user": user, "served_by": reply.served_by}, reply.served_by)


def encode_token(reply: Served[Token]) -> flask.Response:
    """``{access_token, token_type, expires_in, served_by}``."""
    token = reply.value
    body = {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_in": token.expires_in,
        "served_by": reply.served_by,
    }
    return _served(body, reply.served_by)


def encode_book(reply: Served[Book]) -> flask.Response:
    """``{book, served_by}``."""
    return _served({"book": _book(reply.value), "served_by": reply.served_by}, reply.served_by)


def encode_books(reply: Served[BookPage]) -> flask.Response:
    """``{items, next_page, served_by}``; ``next_page`` is null on the last page."""
    body = {
        "items": [_book(book) for book in reply.value.items],
        "next_page": reply.value.next_page,
        "served_by": reply.served_by,
    }
    return _served(body, reply.served_by)


def encode_shelf_update(update: ShelfUpdate) -> flask.Response:
    """``{user_id, book_ids, served_by: {user, book}}``."""
    body = {
        "user_id": update.user_id,
        "book_ids": list(update.book_ids),
        "served_by": {"user": update.user_served_by, "book": update.book_served_by},
    }
    return _served(body, update.user_served_by, update.book_served_by)


def encode_shelf(view: ShelfView) -> flask.Response:
    """``{user_id, book_ids, books, degraded, served_by: {user, book}}``."""
    body = {
        "user_id": view.user_id,
        "book_ids": list(view.book_ids),
        "books": [_book(book) for book in view.books],
        "degraded": view.degraded,
        "served_by": {"user": view.user_served_by, "book": view.book_served_by},
    }
    return _served(body, view.user_served_by, view.book_served_by)


def _created(encode: Callable[[Any], flask.Response]) -> Callable[[Any], flask.Response]:
    """``encode`` with status 201 Created."""

    def encode_created(response: Any) -> flask.Response:
        encoded = encode(response)
        encoded.status_code = 201
        return encoded

    return encode_created


def _book(book: Book) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "author": book.author,
        "year": book.year,
        "stock": book.stock,
    }


def _served(body: dict[str, Any], *served_by: str | None) -> flask.Response:
    """A 200 JSON response naming the instances that answered in ``X-Served-By``."""
    response = http.encode_json(body)
    names = [name for name in served_by if name]
    if names:
        response.headers[SERVED_BY_HEADER] = ",".join(names)
    return response
