"""The book HTTP routes through a real in-process server (its own HTTP server, free port)."""

from __future__ import annotations

import uuid

import pytest
import requests
from book.transport_http import MAX_BODY_BYTES

from kitcore.app import App

DUNE = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3}


@pytest.fixture
def url(served: App) -> str:
    return f"http://{served.config.http_address}"


def _create(url: str, **fields: object) -> dict:
    response = requests.post(f"{url}/books", json={**DUNE, **fields}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["book"]


def _count(url: str) -> int:
    return len(requests.get(f"{url}/books?page_size=100", timeout=5).json()["items"])


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["X-Served-By"] == "book-test"
    error = response.json()["error"]
    assert error["code"] == code
    return error["message"]


def test_create_then_get(url: str) -> None:
    response = requests.post(f"{url}/books", json=DUNE, timeout=5)
    assert response.status_code == 201
    assert response.headers["X-Served-By"] == "book-test"
    book = response.json()["book"]
    assert set(response.json()) == {"book"}  # the instance is named in the header only
    assert set(book) == {"id", "title", "author", "year", "stock"}
    got = requests.get(f"{url}/books/{book['id']}", timeout=5)
    assert got.json() == {"book": book}
    assert got.headers["X-Served-By"] == "book-test"


def test_stock_may_be_left_out_and_starts_at_zero(url: str) -> None:
    fields = {k: v for k, v in DUNE.items() if k != "stock"}
    response = requests.post(f"{url}/books", json=fields, timeout=5)
    assert response.status_code == 201 and response.json()["book"]["stock"] == 0


def test_list_pages_and_filters(url: str) -> None:
    for i in range(3):
        _create(url, title=f"Dune {i}")
    _create(url, title="Kindred", author="Octavia E. Butler")
    first = requests.get(f"{url}/books?page_size=2", timeout=5).json()
    assert len(first["items"]) == 2 and first["next_page"] == 2
    last = requests.get(f"{url}/books?page=2&page_size=2", timeout=5)
    assert set(last.json()) == {"items", "next_page"}
    assert len(last.json()["items"]) == 2 and last.json()["next_page"] is None
    assert last.headers["X-Served-By"] == "book-test"
    by_author = requests.get(f"{url}/books", params={"author": "Octavia E. Butler"}, timeout=5)
    assert [b["title"] for b in by_author.json()["items"]] == ["Kindred"]


def test_stock_moves_and_never_below_zero(url: str) -> None:
    book = _create(url, stock=2)
    moved = requests.patch(f"{url}/books/{book['id']}/stock", json={"delta": -2}, timeout=5)
    assert moved.json()["book"]["stock"] == 0
    refused = requests.patch(f"{url}/books/{book['id']}/stock", json={"delta": -1}, timeout=5)
    assert "in stock" in _error(refused, 409, "failed_precondition")
    assert requests.get(f"{url}/books/{book['id']}", timeout=5).json()["book"]["stock"] == 0


def test_unknown_book_is_404(url: str) -> None:
    unknown = uuid.uuid4()
    _error(requests.get(f"{url}/books/{unknown}", timeout=5), 404, "not_found")
    patch = requests.patch(f"{url}/books/{unknown}/stock", json={"delta": 1}, timeout=5)
    _error(patch, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"author": "A", "year": 2000}, "title: required"),
        ({"title": "T", "year": 2000}, "author: required"),
        ({"title": "T", "author": "A"}, "year: required"),
        ({**DUNE, "title": 5}, "title: must be a string"),
        ({**DUNE, "title": ""}, "title: must not be empty"),
        ({**DUNE, "title": "t" * 201}, "title: longer than 200"),
        ({**DUNE, "title": "\x01\x1b[31m"}, "title: must not contain control characters"),
        ({**DUNE, "author": "A\nB"}, "author: must not contain control characters"),
        ({**DUNE, "year": "1965"}, "year: must be an integer"),
        ({**DUNE, "year": 1965.5}, "year: must be an integer"),
        ({**DUNE, "year": 99999}, "year: must be between"),
        ({**DUNE, "stock": -1}, "stock: must be between 0"),
        ({**DUNE, "stock": True}, "stock: must be an integer"),
        ({**DUNE, "stock": None}, "stock: required"),
        ({**DUNE, "titel": "typo"}, "unknown field(s): titel"),
    ],
)
def test_create_rejects_each_bad_field_and_writes_nothing(
    url: str, body: dict, message: str
) -> None:
    response = requests.post(f"{url}/books", json=body, timeout=5)
    assert message in _error(response, 400, "invalid_argument")
    assert _count(url) == 0


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "invalid_argument"),
        ("[1, 2]", "application/json", 400, "invalid_argument"),
        ("", "application/json", 400, "invalid_argument"),
        ("title=Dune", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"title": "' + "x" * MAX_BODY_BYTES + '"}', "application/json", 413,
         "payload_too_large"),
    ],
)
def test_create_rejects_bodies_that_are_not_one_json_object(
    url: str, data: str, content_type: str, status: int, code: str
) -> None:
    headers = {"Content-Type": content_type}
    response = requests.post(f"{url}/books", data=data, headers=headers, timeout=5)
    _error(response, status, code)
    assert _count(url) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "delta: required"), ({"delta": 0}, "delta: must not be zero"),
     ({"delta": "1"}, "delta: must be an integer"), ({"delta": 10**7}, "delta: must be between")],
)
def test_update_stock_rejects_a_bad_delta(url: str, body: dict, message: str) -> None:
    book = _create(url)
    response = requests.patch(f"{url}/books/{book['id']}/stock", json=body, timeout=5)
    assert message in _error(response, 400, "invalid_argument")
    assert requests.get(f"{url}/books/{book['id']}", timeout=5).json()["book"]["stock"] == 3


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=0", "page_size=0", "page_size=101", "page_size=1.5",
     "author=" + "a" * 101],
)
def test_list_rejects_bad_query_params(url: str, query: str) -> None:
    _error(requests.get(f"{url}/books?{query}", timeout=5), 400, "invalid_argument")


def test_malformed_id_unknown_route_and_wrong_method_are_json_errors(url: str) -> None:
    assert "must be a UUID" in _error(requests.get(f"{url}/books/nope", timeout=5), 400,
                                  "invalid_argument")
    _error(requests.get(f"{url}/nothing-here", timeout=5), 404, "not_found")
    _error(requests.delete(f"{url}/books", timeout=5), 405, "method_not_allowed")
