"""The template service over HTTP: JSON routes on Flask, served from the endpoint Set.

    GET  /items/<id>      -> {"item": {"id", "name"}, "served_by"}
    POST /items {name}    -> 201 {"item": {"id", "name"}, "served_by"}

Every response, errors too, carries ``X-Served-By``; errors are kitcore's JSON
error body.
"""

from __future__ import annotations

from typing import Any

import flask

from kitcore.transport import http
from template.endpoints import SERVICE, Set
from template.service import CreateItemRequest, GetItemRequest, ItemReply

MAX_BODY_BYTES = 16 * 1024  # an item is a few hundred bytes


def make_http_app(endpoints: Set, instance_id: str) -> flask.Flask:
    """A Flask app serving the endpoints; main adds health and metrics routes."""
    app = http.new_app(SERVICE, max_body_bytes=MAX_BODY_BYTES, served_by=instance_id)
    http.route(app, "/items/<item_id>", ["GET"], endpoints.get_item, decode_get_item,
               name="get_item")
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


def encode_created(reply: ItemReply) -> flask.Response:
    """201 with the new item."""
    return http.encode_json(reply, 201)
