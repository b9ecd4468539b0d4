"""The HTTP routes through a real in-process server (its own HTTP server, free port)."""

from __future__ import annotations

import uuid

import pytest
import requests
from template.store import ItemStore
from template.transport_http import MAX_BODY_BYTES

from kitcore.app import App


@pytest.fixture
def url(served: App) -> str:
    return f"http://{served.config.http_address}"


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["X-Served-By"] == "template-test"
    error = response.json()["error"]
    assert error["code"] == code
    return error["message"]


def _rows(store: ItemStore) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM template_items").scalar()


def test_create_then_get(url: str) -> None:
    response = requests.post(f"{url}/items", json={"name": "first"}, timeout=5)
    assert response.status_code == 201
    assert response.headers["X-Served-By"] == "template-test"
    item = response.json()["item"]
    assert set(response.json()) == {"item"}  # the instance is named in the header only
    assert set(item) == {"id", "name"} and item["name"] == "first"
    got = requests.get(f"{url}/items/{item['id']}", timeout=5)
    assert got.json() == {"item": item}
    assert got.headers["X-Served-By"] == "template-test"


def test_unknown_item_is_404(url: str) -> None:
    _error(requests.get(f"{url}/items/{uuid.uuid4()}", timeout=5), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "name: required"), ({"name": 5}, "name: must be a string"),
     ({"name": ""}, "name: must not be empty"), ({"name": "n" * 101}, "longer than 100"),
     ({"name": "first", "nmae": "typo"}, "unknown field(s): nmae")],
)
def test_create_rejects_each_bad_field_and_writes_nothing(
    url: str, store: ItemStore, body: dict, message: str
) -> None:
    response = requests.post(f"{url}/items", json=body, timeout=5)
    assert message in _error(response, 400, "invalid_argument")
    assert _rows(store) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_argument"),
        ("[1, 2]", "application/json", 400, "invalid_argument"),
        ("", "application/json", 400, "invalid_argument"),
        ("name=first", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"name": "' + "x" * MAX_BODY_BYTES + '"}', "application/json", 413,
         "payload_too_large"),
    ],
)
def test_create_rejects_bodies_that_are_not_one_json_object(
    url: str, store: ItemStore, data: str, content_type: str, status: int, code: str
) -> None:
    headers = {"Content-Type": content_type}
    _error(requests.post(f"{url}/items", data=data, headers=headers, timeout=5), status, code)
    assert _rows(store) == 0


def test_malformed_id_unknown_route_and_wrong_method_are_json_errors(url: str) -> None:
    assert "must be a UUID" in _error(requests.get(f"{url}/items/nope", timeout=5), 400,
                                  "invalid_argument")
    _error(requests.get(f"{url}/nothing-here", timeout=5), 404, "not_found")
    _error(requests.delete(f"{url}/items", timeout=5), 405, "method_not_allowed")
