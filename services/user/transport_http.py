"""The user service over HTTP: JSON routes on Flask, served from the endpoint Set.

    POST /users {name, email, password} -> 201 {"user": {id, name, email}}
    GET  /users/<id>                    -> {"user": {...}}
    POST /login {email, password}       -> {"access_token", "token_type": "Bearer",
                                            "expires_in"}
    GET  /users/<id>/shelf              -> {"user_id", "book_ids": [...]}
    POST /users/<id>/shelf {book_id}    -> the same (adding twice is adding once)

Every response, errors too, names the instance that answered in
``X-Served-By`` (kitcore writes it from the instance id given to
:func:`make_http_app`); errors are kitcore's JSON error body. No response ever
holds a password or its hash.
"""

from __future__ import annotations

from typing import Any

import flask

from kitcore.transport import http
from user.endpoints import SERVICE, Set
from user.service import (
    AddToShelfRequest,
    CreateUserRequest,
    GetShelfRequest,
    GetUserRequest,
    LoginRequest,
    User,
)

MAX_BODY_BYTES = 16 * 1024  # a sign-up is a few hundred bytes


def make_http_app(endpoints: Set, instance_id: str) -> flask.Flask:
    """A Flask app serving the user endpoints, each answer naming ``instance_id`` in
    ``X-Served-By``; main adds health, metrics and admin routes."""
    app = http.new_app(SERVICE, max_body_bytes=MAX_BODY_BYTES, served_by=instance_id)
    http.route(app, "/users", ["POST"], endpoints.create_user, decode_create_user,
               encode_created, name="create_user")
    http.route(app, "/users/<user_id>", ["GET"], endpoints.get_user, decode_get_user,
               encode_user, name="get_user")
    http.route(app, "/login", ["POST"], endpoints.login, decode_login, name="login")
    http.route(app, "/users/<user_id>/shelf", ["GET"], endpoints.get_shelf, decode_get_shelf,
               name="get_shelf")
    http.route(app, "/users/<user_id>/shelf", ["POST"], endpoints.add_to_shelf,
               decode_add_to_shelf, name="add_to_shelf")
    return app


def decode_create_user(request: flask.Request, path: dict[str, Any]) -> CreateUserRequest:
    """``POST /users {name, email, password}``."""
    body = http.json_body(request, allowed={"name", "email", "password"})
    return CreateUserRequest(body.get("name"), body.get("email"), body.get("password"))


def decode_get_user(request: flask.Request, path: dict[str, Any]) -> GetUserRequest:
    """``GET /users/<id>``."""
    return GetUserRequest(path["user_id"])


def decode_login(request: flask.Request, path: dict[str, Any]) -> LoginRequest:
    """``POST /login {email, password}``."""
    body = http.json_body(request, allowed={"email", "password"})
    return LoginRequest(body.get("email"), body.get("password"))


def decode_get_shelf(request: flask.Request, path: dict[str, Any]) -> GetShelfRequest:
    """``GET /users/<id>/shelf``."""
    return GetShelfRequest(path["user_id"])


def decode_add_to_shelf(request: flask.Request, path: dict[str, Any]) -> AddToShelfRequest:
    """``POST /users/<id>/shelf {book_id}``."""
    body = http.json_body(request, allowed={"book_id"})
    return AddToShelfRequest(path["user_id"], body.get("book_id"))


def encode_user(user: User) -> flask.Response:
    """``{"user": {...}}``."""
    return http.encode_json({"user": user})


def encode_created(user: User) -> flask.Response:
    """201 with the new user."""
    return http.encode_json({"user": user}, 201)
