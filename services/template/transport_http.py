"""The template service over HTTP: JSON routes on Flask, served from the endpoint Set.

    GET  /items/<id>      -> {"item": {"id", "name"}}
    POST /items {name}    -> 201 {"item": {"id", "name"}}

Every response, errors too, names the instance that answered in
``X-Served-By`` (kitcore writes it from the instance id given to
:func:`make_http_app`); errors are kitcore's JSON error body.
"""

from __future__ import annotations

from typing import Any

import flask

from kitcore.transport import http
from template.endpoints import SERVICE, Set
from template.service import CreateItemRequest, GetItemRequest, Item

MAX_BODY_BYTES = 16 * 1024  # an item is a few hundred bytes


def make_http_app(endpoints: Set, instance_id: str) -> flask.Flask:
    """A Flask app serving the endpoints, each answer naming ``instance_id`` in
    ``X-Served-By``; main adds health and metrics routes."""
    app = http.new_app(SERVICE, max_body_bytes=MAX_BODY_BYTES, served_by=instance_id)
    http.route(app, "/items/<item_id>", ["GET"], endpoints.get_item, decode_get_item,
               encode_item, name="get_item")
    http.route(app, "/items", ["POST"], endpoints.create_item, decode_create_item,
               encode_created, name="create_item")
    return app


def decode_get_item(request: flask.Request, path: dict[str, Any]) -> GetItemRequest:
    """``GET /items/<id>``."""
    return GetItemRequest(path["item_id"])


def decode_create_item(request: flask.Request, path: dict[str, Any]) -> CreateItemRequest:
    """``POST /items {name}``."""
    body = http.json_body(request, allowed={"name"})
    return CreateItemRequest(body.get("name"))


def encode_item(item: Item) -> flask.Response:
    """``{"item": {...}}``."""
    return http.encode_json({"item": item})


def encode_created(item: Item) -> flask.Response:
    """201 with the new item."""
    return http.encode_json({"item": item}, 201)
