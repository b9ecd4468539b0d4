"""Bad input: every kind is a clear 4xx JSON error from the gateway itself.

The gateway under test has no backend at all: an input that got past the
gateway's checks would reach for one and answer 503, so each 4xx here shows
the request was refused before any backend call (nothing half-written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

USER = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
BOOK = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
GOOD_SIGN_UP = {"name": "Ada", "email": "ada@example.org", "password": "correct horse"}
GOOD_BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3}


@dataclass(frozen=True)
class Case:
    """One bad request and the error it must get."""

    name: str
    method: str
    path: str
    body: Any = None  # JSON-encoded unless raw is set
    raw: bytes | None = None
    content_type: str | None = "application/json"
    status: int = 400
    code: str = "invalid_argument"
    says: str = ""  # a part of the message
    headers: dict[str, str] = field(default_factory=dict)


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {**base, **changes}
    return {key: value for key, value in body.items() if value is not _DROP}


_DROP = object()

CASES = [
    # Request bodies: JSON, media type, size.
    Case("malformed JSON", "POST", "/api/v1/users", raw=b'{"name": ', says="malformed JSON"),
    Case("JSON array body", "POST", "/api/v1/users", body=[1, 2], says="must be an object"),
    Case("empty JSON body", "POST", "/api/v1/users", raw=b"", says="empty"),
    Case("text body", "POST", "/api/v1/users", raw=b"name=Ada", content_type="text/plain",
         status=415, code="unsupported_media_type", says="application/json"),
    Case("no content type", "POST", "/api/v1/books", raw=b"{}", content_type=None,
         status=415, code="unsupported_media_type"),
    Case("form body", "PATCH", f"/api/v1/books/{BOOK}/stock", raw=b"delta=1",
         content_type="application/x-www-form-urlencoded", status=415,
         code="unsupported_media_type"),
    Case("oversized body", "POST", "/api/v1/users",
         body={**GOOD_SIGN_UP, "name": "x" * 70_000}, status=413, code="payload_too_large"),
    Case("unknown field", "POST", "/api/v1/users", body={**GOOD_SIGN_UP, "admin": True},
         says="unknown field(s): admin"),
    # Sign up.
    Case("name missing", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, name=_DROP),
         says="name: required"),
    Case("name null", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, name=None),
         says="name: required"),
    Case("name a number", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, name=42),
         says="name: must be a string"),
    Case("name blank", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, name="   "),
         says="name: must not be empty"),
    Case("name too long", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, name="n" * 101),
         says="name: longer than 100"),
    Case("name with a control character", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, name="Ada\x00"), says="name: must not contain control"),
    Case("name with a lone surrogate", "POST", "/api/v1/users",
         raw=b'{"name": "\\ud800", "email": "a@b.co", "password": "12345678"}',
         says="name: not valid Unicode"),
    Case("email missing", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, email=_DROP),
         says="email: required"),
    Case("email without @", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="ada.example.org"), says="email: not an e-mail"),
    Case("email without domain dot", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="ada@localhost"), says="email: not an e-mail"),
    Case("email with a newline", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="ada@example.org\n"), says="email"),
    Case("email too long", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="a" * 250 + "@b.co"), says="email: longer than 254"),
    Case("email not ASCII", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="adá@example.org"), says="email: not an e-mail"),
    Case("email with two dots in a row", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="ada..l@example.org"), says="email: not an e-mail"),
    Case("email with a long local part", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="a" * 65 + "@example.org"), says="email: not an e-mail"),
    Case("email with a bad domain label", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email="ada@-example.org"), says="email: not an e-mail"),
    Case("email a list", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, email=["ada@example.org"]), says="email: must be a string"),
    Case("password missing", "POST", "/api/v1/users", body=_with(GOOD_SIGN_UP, password=_DROP),
         says="password: required"),
    Case("password too short", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, password="1234567"), says="password: shorter than 8"),
    Case("password too long", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, password="p" * 129), says="password: longer than 128"),
    Case("password a number", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, password=12345678), says="password: must be a string"),
    Case("password blank", "POST", "/api/v1/users",
         body=_with(GOOD_SIGN_UP, password=" " * 8), says="password: must not be empty"),
    # Login.
    Case("login email bad", "POST", "/api/v1/auth/login",
         body={"email": "nobody", "password": "secret123"}, says="email: not an e-mail"),
    Case("login password empty", "POST", "/api/v1/auth/login",
         body={"email": "ada@example.org", "password": ""}, says="password: must not be empty"),
    Case("login password absurdly long", "POST", "/api/v1/auth/login",
         body={"email": "ada@example.org", "password": "p" * 1025},
         says="password: longer than 1024"),
    Case("login password missing", "POST", "/api/v1/auth/login",
         body={"email": "ada@example.org"}, says="password: required"),
    Case("login unknown field", "POST", "/api/v1/auth/login",
         body={"email": "ada@example.org", "password": "secret123", "remember": True},
         says="unknown field(s): remember"),
    # Ids in paths.
    Case("user id not a UUID", "GET", "/api/v1/users/42", says="id: must be a UUID"),
    Case("user id almost a UUID", "GET", f"/api/v1/users/{USER}0", says="id: must be a UUID"),
    Case("user id UUID without dashes", "GET", f"/api/v1/users/{USER.replace('-', '')}",
         says="id: must be a UUID"),
    Case("book id not a UUID", "GET", "/api/v1/books/dune", says="id: must be a UUID"),
    Case("shelf user id not a UUID", "GET", "/api/v1/users/me/shelf", says="id: must be a UUID"),
    Case("stock book id not a UUID", "PATCH", "/api/v1/books/dune/stock", body={"delta": 1},
         says="id: must be a UUID"),
    # Listing books.
    Case("page zero", "GET", "/api/v1/books?page=0", says="page: must be between 1 and 10000"),
    Case("page negative", "GET", "/api/v1/books?page=-3", says="page: must be between"),
    Case("page too big", "GET", "/api/v1/books?page=10001", says="page: must be between"),
    Case("page not a number", "GET", "/api/v1/books?page=two", says="page: must be an integer"),
    Case("page empty", "GET", "/api/v1/books?page=", says="page: must be an integer"),
    Case("page with a plus sign", "GET", "/api/v1/books?page=%2B2",
         says="page: must be an integer"),
    Case("page in other digits", "GET", "/api/v1/books?page=%D9%A2",
         says="page: must be an integer"),
    Case("page a fraction", "GET", "/api/v1/books?page=1.5", says="page: must be an integer"),
    Case("page_size zero", "GET", "/api/v1/books?page_size=0", says="page_size: must be between"),
    Case("page_size too big", "GET", "/api/v1/books?page_size=101",
         says="page_size: must be between 1 and 100"),
    Case("author too long", "GET", "/api/v1/books?author=" + "a" * 101,
         says="author: longer than 100"),
    Case("author with a control character", "GET", "/api/v1/books?author=Ada%01",
         says="author: must not contain control"),
    # Creating books.
    Case("title missing", "POST", "/api/v1/books", body=_with(GOOD_BOOK, title=_DROP),
         says="title: required"),
    Case("title too long", "POST", "/api/v1/books", body=_with(GOOD_BOOK, title="t" * 201),
         says="title: longer than 200"),
    Case("author missing", "POST", "/api/v1/books", body=_with(GOOD_BOOK, author=_DROP),
         says="author: required"),
    Case("author blank", "POST", "/api/v1/books", body=_with(GOOD_BOOK, author="\t "),
         says="author: must not be empty"),
    Case("year missing", "POST", "/api/v1/books", body=_with(GOOD_BOOK, year=_DROP),
         says="year: required"),
    Case("year a string", "POST", "/api/v1/books", body=_with(GOOD_BOOK, year="1965"),
         says="year: must be an integer"),
    Case("year a fraction", "POST", "/api/v1/books", body=_with(GOOD_BOOK, year=1965.5),
         says="year: must be an integer"),
    Case("year a boolean", "POST", "/api/v1/books", body=_with(GOOD_BOOK, year=True),
         says="year: must be an integer"),
    Case("year out of range", "POST", "/api/v1/books", body=_with(GOOD_BOOK, year=2101),
         says="year: must be between -3000 and 2100"),
    Case("stock negative", "POST", "/api/v1/books", body=_with(GOOD_BOOK, stock=-1),
         says="stock: must be between 0"),
    Case("stock too big", "POST", "/api/v1/books", body=_with(GOOD_BOOK, stock=10**12),
         says="stock: must be between"),
    Case("stock a string", "POST", "/api/v1/books", body=_with(GOOD_BOOK, stock="3"),
         says="stock: must be an integer"),
    Case("stock null", "POST", "/api/v1/books", body=_with(GOOD_BOOK, stock=None),
         says="stock: must be an integer, got null"),
    Case("book unknown field", "POST", "/api/v1/books", body={**GOOD_BOOK, "isbn": "x"},
         says="unknown field(s): isbn"),
    # Changing stock.
    Case("delta zero", "PATCH", f"/api/v1/books/{BOOK}/stock", body={"delta": 0},
         says="delta: must not be 0"),
    Case("delta missing", "PATCH", f"/api/v1/books/{BOOK}/stock", body={},
         says="delta: required"),
    Case("delta a string", "PATCH", f"/api/v1/books/{BOOK}/stock", body={"delta": "1"},
         says="delta: must be an integer"),
    Case("delta a fraction", "PATCH", f"/api/v1/books/{BOOK}/stock", body={"delta": 0.5},
         says="delta: must be an integer"),
    Case("delta a boolean", "PATCH", f"/api/v1/books/{BOOK}/stock", body={"delta": True},
         says="delta: must be an integer"),
    Case("delta too big", "PATCH", f"/api/v1/books/{BOOK}/stock", body={"delta": 1_000_001},
         says="delta: must be between"),
    # Shelves.
    Case("book_id missing", "POST", f"/api/v1/users/{USER}/shelf", body={},
         says="book_id: required"),
    Case("book_id not a UUID", "POST", f"/api/v1/users/{USER}/shelf", body={"book_id": "dune"},
         says="book_id: must be a UUID"),
    Case("book_id a number", "POST", f"/api/v1/users/{USER}/shelf", body={"book_id": 7},
         says="book_id: must be a UUID"),
    Case("shelf unknown field", "POST", f"/api/v1/users/{USER}/shelf",
         body={"book_id": BOOK, "copies": 2}, says="unknown field(s): copies"),
    # Routes and methods.
    Case("unknown route", "GET", "/api/v1/authors", status=404, code="not_found",
         says="no route"),
    Case("unknown version", "GET", "/api/v2/books", status=404, code="not_found"),
    Case("trailing slash", "GET", "/api/v1/books/", status=404, code="not_found"),
    Case("double slash", "GET", "/api/v1//books", status=404, code="not_found",
         says="no route for /api/v1//books"),
    Case("leading double slash", "GET", "//api/v1/books", status=404, code="not_found",
         says="no route for //api/v1/books"),
    Case("wrong method on books", "DELETE", "/api/v1/books", status=405,
         code="method_not_allowed"),
    Case("wrong method on a book", "PUT", f"/api/v1/books/{BOOK}", body=GOOD_BOOK, status=405,
         code="method_not_allowed"),
    Case("wrong method on login", "GET", "/api/v1/auth/login", status=405,
         code="method_not_allowed"),
    # Headers.
    Case("request timeout not a number", "GET", "/api/v1/books",
         headers={"X-Request-Timeout": "soon"}, says="X-Request-Timeout"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_a_clear_4xx(lone_gateway, token_for, case: Case):
    headers = {"Authorization": f"Bearer {token_for(USER)}", **case.headers}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    data = case.raw
    if data is None and case.body is not None:
        data = json.dumps(case.body).encode()
    response = lone_gateway.request(case.method, case.path, data=data, headers=headers)
    assert response.status_code == case.status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == case.code
    assert case.says in error["message"]
    if case.status == 405:
        assert response.headers["Allow"]


def test_the_cases_cover_every_documented_route(lone_gateway):
    """Each route with input of its own has bad-input cases above."""
    covered = {(case.method, case.path.split("?")[0].replace(BOOK, "{id}").replace(USER, "{id}"))
               for case in CASES}
    for method, path in [("POST", "/api/v1/users"), ("POST", "/api/v1/auth/login"),
                         ("GET", "/api/v1/books"), ("POST", "/api/v1/books"),
                         ("PATCH", "/api/v1/books/{id}/stock"),
                         ("POST", "/api/v1/users/{id}/shelf")]:
        assert (method, path) in covered, (method, path)


def test_valid_input_reaches_for_the_backend(lone_gateway, token_for):
    """The counter-check: the same gateway answers 503 once the input is good."""
    headers = {"Authorization": f"Bearer {token_for(USER)}"}
    assert lone_gateway.request("POST", "/api/v1/users", json=GOOD_SIGN_UP).status_code == 503
    assert lone_gateway.request("POST", "/api/v1/books", json=GOOD_BOOK,
                                headers=headers).status_code == 503
    assert lone_gateway.get(f"/api/v1/books/{BOOK.upper()}").status_code == 503
