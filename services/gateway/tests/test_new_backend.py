"""Adding a backend to the gateway, as the docs say: a client file, a route block, and
(not exercised here) its OpenAPI entries. The template service is the new backend.

The client below is what ``gateway/item_client.py`` would hold: the typed set of one
instance's endpoints, the factory that builds it, and the client with one line per
method, each going through the same chain as book's and user's calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import flask
import pytest
import requests
from gateway.__main__ import build
from gateway.clients import Backend, Closer, as_is, new_instancer
from gateway.config import GatewayConfig
from gateway.service import Served
from template.__main__ import build as build_template
from template.store import ItemStore

from kitcore.app import App
from kitcore.config import KitConfig
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.sd import Instance
from kitcore.sql import connect
from kitcore.testing.config import JWT_SECRET
from kitcore.testing.process import free_port
from kitcore.transport import http

# --- the client file -----------------------------------------------------------------


@dataclass(frozen=True)
class ItemEndpoints:
    """The client endpoints of one template instance."""

    get_item: Endpoint
    create_item: Endpoint


def item_endpoints(instance: Instance, guard: Middleware) -> tuple[ItemEndpoints, Closer]:
    """One template instance's endpoints on one pooled session, each behind ``guard``."""
    client = http.HTTPClient(f"http://{instance.http}", timeout=2.0)
    endpoints = ItemEndpoints(
        get_item=guard(client.endpoint("GET", "/items/{id}", as_is, _decode_item)),
        create_item=guard(client.endpoint("POST", "/items", as_is, _decode_item)),
    )
    return endpoints, client.close


class ItemClient:
    """The template service, one client endpoint per method."""

    def __init__(self, backend: Backend[ItemEndpoints]) -> None:
        self._get_item = backend.safe(lambda item: item.get_item)
        self._create_item = backend.once(lambda item: item.create_item)  # not idempotent

    def get_item(self, ctx: Context, item_id: str) -> Served[dict[str, Any]]:
        """One item by id, and the instance that answered."""
        return self._get_item(ctx, http.ClientRequest(path_params={"id": item_id}))

    def create_item(self, ctx: Context, name: str) -> Served[dict[str, Any]]:
        """Add an item."""
        return self._create_item(ctx, http.ClientRequest(json={"name": name}))


def _decode_item(body: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    return body["item"]


# --- the route block -----------------------------------------------------------------


def add_item_routes(app: flask.Flask, items: ItemClient) -> None:
    """``GET /api/v1/items/<id>`` and ``POST /api/v1/items`` through the item client."""
    http.route(app, "/api/v1/items/<id>", ["GET"],
               lambda ctx, item_id: items.get_item(ctx.with_timeout(3), item_id),
               lambda request, path: path["id"], _encode_item, name="get_item")
    http.route(app, "/api/v1/items", ["POST"],
               lambda ctx, name: items.create_item(ctx.with_timeout(3), name),
               lambda request, path: http.json_body(request, allowed={"name"}).get("name"),
               lambda reply: _encode_item(reply, 201), name="create_item")


def _encode_item(reply: Served[dict[str, Any]], status: int = 200) -> flask.Response:
    response = http.encode_json({"item": reply.value}, status)
    response.headers["X-Served-By"] = reply.served_by
    return response


# --- the test ------------------------------------------------------------------------


@pytest.fixture
def template_instance() -> Iterator[App]:
    """The template service as its main builds it, on free ports, SQLite in memory."""
    config = KitConfig.from_env("template", {
        "KIT_INSTANCE_ID": "template-1", "KIT_HTTP_PORT": str(free_port()),
        "KIT_GRPC_PORT": str(free_port()), "KIT_ADVERTISE_HOST": "127.0.0.1",
        "KIT_SHUTDOWN_GRACE": "1",
    })
    store = ItemStore(connect("sqlite://"))
    store.create_schema()
    app = build_template(config, store).start()
    yield app
    app.stop()


def test_a_gateway_built_with_the_template_backend_serves_its_routes(template_instance) -> None:
    template = template_instance
    port = free_port()
    cfg = GatewayConfig.from_env({"KIT_HTTP_PORT": str(port), "KIT_SHUTDOWN_GRACE": "1",
                                  "KIT_RATE_LIMIT": "1000/second", "KIT_JWT_SECRET": JWT_SECRET})
    wired = build(cfg)
    address = template.config.http_address
    items = Backend(new_instancer("template", (), (address,), transport="http"),
                    item_endpoints, cfg.resilience)
    add_item_routes(wired.http_app, ItemClient(items))
    wired.app.start()
    url = f"http://127.0.0.1:{port}/api/v1/items"
    try:
        created = requests.post(url, json={"name": "lamp"}, timeout=10)
        assert created.status_code == 201, created.text
        # The instance that answered, as discovery knows it: without etcd, its address.
        assert created.headers["X-Served-By"] == address
        item = created.json()["item"]
        fetched = requests.get(f"{url}/{item['id']}", timeout=10)
        assert fetched.status_code == 200 and fetched.json()["item"] == item
        missing = requests.get(f"{url}/00000000-0000-4000-8000-000000000000", timeout=10)
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "not_found"

        # The same chain as book's and user's: a breaker per instance, and retries
        # taken from the template's own budget once the instance is gone.
        assert set(items.breakers) == {address}
        template.stop()
        gone = requests.get(f"{url}/{item['id']}", timeout=10)
        assert gone.status_code == 503, gone.text
        assert gone.json()["error"]["message"].startswith("template unavailable")
        spent = _sample(f"http://127.0.0.1:{port}",
                        'kit_retries_total{backend="template",outcome="spent"}')
        assert spent >= 1
    finally:
        wired.app.stop()
        wired.close()
        items.close()


def _sample(gateway_url: str, name: str) -> float:
    text = requests.get(f"{gateway_url}/metrics", timeout=10).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name)]
    return float(values[0]) if values else 0.0
