"""Bad input: every malformed request to the gateway is a 4xx with the JSON error
body ``{"error": {"code", "message"}}``, never a 5xx, never a hang.

One table, one row per kind of mistake a client (or an attacker) makes:
broken or hostile JSON, wrong types, missing and unknown fields, values out of
range, an oversized body, the wrong content type, unknown routes, wrong methods,
bad ids, bad query parameters and every way a bearer token can be wrong.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from integration.api import User
from integration.stack import Stack

from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER

_NO_JSON = object()
MAX_BODY = 64 * 1024
"""The gateway's documented body limit (64 KiB)."""


@dataclass(frozen=True)
class Case:
    """One malformed request and the answer it must get."""

    method: str
    path: str  # {me}, {other}, {book}, {missing} are filled in per run
    status: int | tuple[int, ...]
    code: str | tuple[str, ...]
    json: Any = _NO_JSON
    data: str | bytes | None = None
    content_type: str | None = None
    auth: str = "me"  # "me": my token, "none": no header, else the Authorization value


_SIGN_UP = {"name": "Ann", "email": "ann@example.test", "password": "long enough"}
_BOOK = {"title": "T", "author": "A", "year": 2000, "stock": 1}
_JSON = "application/json"

CASES: dict[str, Case] = {
    # Broken or hostile JSON.
    "malformed_json": Case("POST", "/api/v1/users", 400, "invalid_argument",
                           data='{"name": "Ann", ', content_type=_JSON),
    "empty_body": Case("POST", "/api/v1/users", 400, "invalid_argument",
                       data="", content_type=_JSON),
    "json_array_not_object": Case("POST", "/api/v1/users", 400, "invalid_argument",
                                  json=[_SIGN_UP]),
    "json_null": Case("POST", "/api/v1/books", 400, "invalid_argument", data="null",
                      content_type=_JSON),
    "not_utf8": Case("POST", "/api/v1/users", 400, "invalid_argument",
                     data=b'{"name": "\xff\xfe"}', content_type=_JSON),
    "deeply_nested_json": Case("POST", "/api/v1/books", 400, "invalid_argument",
                               data="[" * 30_000 + "]" * 30_000, content_type=_JSON),
    "nan_number": Case("PATCH", "/api/v1/books/{book}/stock", 400, "invalid_argument",
                       data='{"delta": NaN}', content_type=_JSON),
    # Wrong types, missing and unknown fields, values out of range.
    "missing_field": Case("POST", "/api/v1/users", 400, "invalid_argument",
                          json={"name": "Ann", "email": "ann@example.test"}),
    "wrong_type_string": Case("POST", "/api/v1/users", 400, "invalid_argument",
                              json={**_SIGN_UP, "name": 42}),
    "wrong_type_int": Case("POST", "/api/v1/books", 400, "invalid_argument",
                           json={**_BOOK, "year": "1999"}),
    "bool_for_int": Case("POST", "/api/v1/books", 400, "invalid_argument",
                         json={**_BOOK, "stock": True}),
    "float_for_int": Case("PATCH", "/api/v1/books/{book}/stock", 400, "invalid_argument",
                          json={"delta": 1.5}),
    "huge_int": Case("PATCH", "/api/v1/books/{book}/stock", 400, "invalid_argument",
                     json={"delta": 10**30}),
    "zero_delta": Case("PATCH", "/api/v1/books/{book}/stock", 400, "invalid_argument",
                       json={"delta": 0}),
    "unknown_field": Case("POST", "/api/v1/users", 400, "invalid_argument",
                          json={**_SIGN_UP, "is_admin": True}),
    "blank_title": Case("POST", "/api/v1/books", 400, "invalid_argument",
                        json={**_BOOK, "title": "   "}),
    "negative_stock": Case("POST", "/api/v1/books", 400, "invalid_argument",
                           json={**_BOOK, "stock": -1}),
    "bad_email": Case("POST", "/api/v1/users", 400, "invalid_argument",
                      json={**_SIGN_UP, "email": "not-an-email"}),
    "short_password": Case("POST", "/api/v1/users", 400, "invalid_argument",
                           json={**_SIGN_UP, "password": "short"}),
    "shelf_book_not_uuid": Case("POST", "/api/v1/users/{me}/shelf", 400, "invalid_argument",
                                json={"book_id": "../../etc/passwd"}),
    # Size and content type.
    "oversized_body": Case("POST", "/api/v1/users", 413, "payload_too_large",
                           json={**_SIGN_UP, "name": "x" * (MAX_BODY + 1)}),
    "text_plain": Case("POST", "/api/v1/users", 415, "unsupported_media_type",
                       data="name=Ann", content_type="text/plain"),
    "form_encoded": Case("POST", "/api/v1/auth/login", 415, "unsupported_media_type",
                         data="email=a%40b.c&password=x",
                         content_type="application/x-www-form-urlencoded"),
    "no_content_type": Case("POST", "/api/v1/books", 415, "unsupported_media_type",
                            data=b'{"title": "T"}'),
    # Routes and methods.
    "unknown_route": Case("GET", "/api/v1/nothing-here", 404, "not_found"),
    "unknown_root": Case("GET", "/wp-admin.php", 404, "not_found", auth="none"),
    "wrong_method_delete": Case("DELETE", "/api/v1/books/{book}", 405, "method_not_allowed"),
    "wrong_method_put": Case("PUT", "/api/v1/books", 405, "method_not_allowed", json=_BOOK),
    # Ids.
    "book_id_not_uuid": Case("GET", "/api/v1/books/not-a-uuid", (400, 404),
                             ("invalid_argument", "not_found")),
    "book_id_too_long": Case("GET", "/api/v1/books/" + "a" * 300, (400, 404),
                             ("invalid_argument", "not_found")),
    "unknown_book": Case("GET", "/api/v1/books/{missing}", 404, "not_found"),
    "stock_unknown_book": Case("PATCH", "/api/v1/books/{missing}/stock", 404, "not_found",
                               json={"delta": 1}),
    "shelf_unknown_book": Case("POST", "/api/v1/users/{me}/shelf", 404, "not_found",
                               json={"book_id": "{missing}"}),
    "stock_below_zero": Case("PATCH", "/api/v1/books/{book}/stock", 409, "failed_precondition",
                             json={"delta": -1_000_000}),
    "duplicate_email": Case("POST", "/api/v1/users", 409, "already_exists",
                            json={**_SIGN_UP, "email": "{my_email}"}),
    # Query parameters.
    "page_not_int": Case("GET", "/api/v1/books?page=abc", 400, "invalid_argument"),
    "page_zero": Case("GET", "/api/v1/books?page=0", 400, "invalid_argument"),
    "page_size_too_big": Case("GET", "/api/v1/books?page_size=1000", 400, "invalid_argument"),
    "page_size_negative": Case("GET", "/api/v1/books?page_size=-1", 400, "invalid_argument"),
    "blank_author": Case("GET", "/api/v1/books?author=%20%20", 400, "invalid_argument"),
    # Tokens.
    "no_token": Case("POST", "/api/v1/books", 401, "unauthenticated", json=_BOOK, auth="none"),
    "garbage_token": Case("POST", "/api/v1/books", 401, "unauthenticated", json=_BOOK,
                          auth="Bearer not.a.jwt"),
    "wrong_scheme": Case("POST", "/api/v1/books", 401, "unauthenticated", json=_BOOK,
                         auth="Basic YWRtaW46YWRtaW4="),
    "empty_bearer": Case("GET", "/api/v1/users/{me}", 401, "unauthenticated", auth="Bearer "),
    "wrong_secret": Case("GET", "/api/v1/users/{me}", 401, "unauthenticated",
                         auth="forged:wrong-secret"),
    "alg_none": Case("GET", "/api/v1/users/{me}/shelf", 401, "unauthenticated",
                     auth="forged:none"),
    "wrong_password": Case("POST", "/api/v1/auth/login", 401, "unauthenticated",
                           json={"email": "{my_email}", "password": "not my password"},
                           auth="none"),
    "other_users_profile": Case("GET", "/api/v1/users/{other}", 403, "permission_denied"),
    "other_users_shelf": Case("POST", "/api/v1/users/{other}/shelf", 403, "permission_denied",
                              json={"book_id": "{book}"}),
}


@dataclass
class _Fixtures:
    me: User
    other: User
    book: str
    values: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def people(stack: Stack) -> _Fixtures:
    """Two users and one existing book for the table's placeholders."""
    me, other = stack.api.new_user("Me"), stack.api.new_user("Other")
    book = stack.api.create_book(me, title="Bad input target")["id"]
    values = {"me": me.id, "other": other.id, "book": book, "missing": str(uuid.uuid4()),
              "my_email": me.email}
    return _Fixtures(me, other, book, values)


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, text in values.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _authorization(case: Case, people: _Fixtures) -> dict[str, str]:
    if case.auth == "none":
        return {}
    if case.auth == "me":
        return people.me.auth
    if case.auth.startswith("forged:"):
        claims = {"sub": people.me.id, "iss": DEFAULT_JWT_ISSUER, "aud": DEFAULT_JWT_AUDIENCE,
                  "iat": int(time.time()), "exp": int(time.time()) + 600}
        if case.auth == "forged:none":
            return {"Authorization": "Bearer " + jwt.encode(claims, None, algorithm="none")}
        forged = jwt.encode(claims, "not-the-stack-secret-but-long-enough", algorithm="HS256")
        return {"Authorization": "Bearer " + forged}
    return {"Authorization": case.auth}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_gets_a_json_4xx(stack: Stack, people: _Fixtures, name: str) -> None:
    """The gateway answers the malformed request with the documented 4xx and error body."""
    case = CASES[name]
    headers = _authorization(case, people)
    kwargs: dict[str, Any] = {"headers": headers}
    if case.json is not _NO_JSON:
        kwargs["json"] = _fill(case.json, people.values)
    elif case.data is not None:
        kwargs["data"] = case.data
    if case.content_type:
        headers["Content-Type"] = case.content_type

    reply = stack.api.request(case.method, _fill(case.path, people.values), **kwargs)

    statuses = case.status if isinstance(case.status, tuple) else (case.status,)
    codes = case.code if isinstance(case.code, tuple) else (case.code,)
    assert reply.status_code < 500, f"{name}: server error {reply.status_code}: {reply.text}"
    assert reply.status_code in statuses, f"{name}: {reply.status_code} {reply.text}"
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
    body = reply.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] in codes, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
