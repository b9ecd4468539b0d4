"""openapi.json against the routes, both ways: parameters, bodies and statuses.

The document stays hand-written: it carries the contract's prose, examples,
patterns and error descriptions, which no decoder knows. These tests keep it
from drifting, in both directions, from the routes the gateway serves:

- path and query parameters: what each operation documents is exactly what its
  route's rule holds and its decoder reads;
- bodies: the documented properties are exactly the fields the decoder allows;
- statuses: every status the document lists for an operation is answered by
  the running gateway to some request, and every answer below is documented.

(Paths and methods both ways, the body and query rules, and the fuzzing of
every operation are in test_openapi.py and tests/reliability/fuzz.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from gateway.__main__ import OPENAPI_PATH
from werkzeug.datastructures import MultiDict

from kitcore.transport import http

METHODS = {"get", "post", "put", "patch", "delete"}
ANYONE = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"  # a user id nobody signed up with
NO_BOOK = "9b2e4f1c-7a3d-4e5b-9c8a-1d2e3f4a5b6c"
VALID = {
    "SignUp": {"name": "Ada", "email": "ada@example.org", "password": "correct horse"},
    "Login": {"email": "ada@example.org", "password": "correct horse"},
    "NewBook": {"title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3},
    "StockChange": {"delta": -1},
    "ShelfAdd": {"book_id": NO_BOOK},
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _parameters(doc: dict[str, Any], path: str, operation: dict[str, Any], where: str) -> set:
    listed = doc["paths"][path].get("parameters", []) + operation.get("parameters", [])
    return {parameter["name"] for parameter in listed if parameter["in"] == where}


def _body_schema(doc: dict[str, Any], operation: dict[str, Any]) -> tuple[str, dict] | None:
    if "requestBody" not in operation:
        return None
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    return name, doc["components"]["schemas"][name]


def _concrete(path: str, user: str = ANYONE, book: str = NO_BOOK) -> str:
    return path.replace("{id}", user if path.startswith("/api/v1/users/") else book)


def test_path_parameters_are_the_rules_variables(lone_gateway, doc):
    rules = {
        (rule.rule, method.lower()): set(rule.arguments)
        for rule in lone_gateway.wired.http_app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    for path, method, operation in _operations(doc):
        rule = path.replace("{", "<").replace("}", ">")
        placeholders = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert _parameters(doc, path, operation, "path") == placeholders, (method, path)
        assert rules[(rule, method)] == placeholders, (method, path)


class _ReadArgs(MultiDict):
    """Query arguments that note every name a decoder asks for."""

    asked: set[str] = set()

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # noqa: A002
        _ReadArgs.asked.add(key)
        return super().get(key, default, type)

    def __getitem__(self, key: Any) -> Any:
        _ReadArgs.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        _ReadArgs.asked.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)


@pytest.fixture
def app_noting_reads(lone_gateway, monkeypatch) -> tuple[flask.Flask, dict[str, set[str]]]:
    """The gateway's app, noting the query names and body fields each request's decoder reads."""
    app = lone_gateway.wired.http_app
    noted: dict[str, set[str]] = {}
    real_json_body = http.json_body

    def json_body(request: flask.Request, *, allowed: Any = None) -> Any:
        noted["fields"] = set(allowed or ())
        return real_json_body(request, allowed=allowed)

    base = app.request_class

    class NotingRequest(base):  # type: ignore[valid-type, misc]
        @property
        def args(self) -> MultiDict:
            return _ReadArgs(super().args)

    monkeypatch.setattr(app, "request_class", NotingRequest)
    monkeypatch.setattr(http, "json_body", json_body)  # the real one runs, its argument noted
    return app, noted


def test_query_parameters_are_what_the_decoders_read(app_noting_reads, token_for, doc):
    app, _ = app_noting_reads
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token_for(ANYONE)}"}
    for path, method, operation in _operations(doc):
        if not path.startswith("/api/"):
            continue
        schema = _body_schema(doc, operation)
        _ReadArgs.asked = set()
        client.open(_concrete(path), method=method.upper(), headers=headers,
                    json=VALID[schema[0]] if schema else None)
        assert _ReadArgs.asked == _parameters(doc, path, operation, "query"), (method, path)


def test_body_properties_are_the_fields_the_decoders_allow(app_noting_reads, token_for, doc):
    app, allowed = app_noting_reads
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token_for(ANYONE)}"}
    bodies = 0
    for path, method, operation in _operations(doc):
        schema = _body_schema(doc, operation)
        allowed.clear()
        body = VALID[schema[0]] if schema else None
        reply = client.open(_concrete(path), method=method.upper(), headers=headers, json=body)
        if schema is None:
            assert allowed == {}, (method, path)  # no body is read where none is documented
            continue
        bodies += 1
        assert allowed["fields"] == set(schema[1]["properties"]), (method, path)
        assert set(body) == set(schema[1]["properties"])  # every documented field, accepted:
        assert reply.status_code == 503, (method, path, reply.get_data(as_text=True))
    assert bodies == len(VALID)


Trigger = Callable[[], Any]


def _triggers(stack, token_for) -> dict[tuple[str, str], dict[int, Trigger]]:
    """For each operation, one request per status it can answer, sent when called."""
    gw = stack.gateway
    me, auth = stack.sign_up("Grace")
    other = {"Authorization": f"Bearer {token_for(ANYONE)}"}
    book = stack.create_book(auth, stock=1)
    big = {"name": "x" * (70 * 1024)}
    text = {**auth, "Content-Type": "text/plain"}
    email = f"taken-{me[:8]}@example.org"
    assert gw.request("POST", "/api/v1/users", json={**VALID["SignUp"], "email": email}).ok

    def send(method: str, path: str, **kwargs: Any) -> Trigger:
        return lambda: gw.request(method, path, **kwargs)

    users, login, books = "/api/v1/users", "/api/v1/auth/login", "/api/v1/books"
    shelf = f"{users}/{me}/shelf"
    body_errors = {
        413: {"json": big}, 415: {"data": "{}", "headers": text},
    }

    def with_body_errors(method: str, path: str, ok: dict[int, Trigger]) -> dict[int, Trigger]:
        for status, kwargs in body_errors.items():
            ok[status] = send(method, path, **{"headers": auth, **kwargs})
        return ok

    return {
        (users, "post"): with_body_errors("POST", users, {
            201: send("POST", users, json={**VALID["SignUp"], "email": f"new-{email}"}),
            400: send("POST", users, json={}),
            409: send("POST", users, json={**VALID["SignUp"], "email": email}),
        }),
        (login, "post"): with_body_errors("POST", login, {
            200: send("POST", login, json={**VALID["Login"], "email": email}),
            400: send("POST", login, json={}),
            401: send("POST", login, json={"email": email, "password": "wrong password"}),
        }),
        (f"{users}/{{id}}", "get"): {
            200: send("GET", f"{users}/{me}", headers=auth),
            400: send("GET", f"{users}/not-an-id", headers=auth),
            401: send("GET", f"{users}/{me}"),
            403: send("GET", f"{users}/{me}", headers=other),
            404: send("GET", f"{users}/{ANYONE}", headers=other),
        },
        (books, "get"): {
            200: send("GET", books),
            400: send("GET", f"{books}?page=0"),
        },
        (books, "post"): with_body_errors("POST", books, {
            201: send("POST", books, headers=auth, json=VALID["NewBook"]),
            400: send("POST", books, headers=auth, json={}),
            401: send("POST", books, json=VALID["NewBook"]),
        }),
        (f"{books}/{{id}}", "get"): {
            200: send("GET", f"{books}/{book}"),
            400: send("GET", f"{books}/not-an-id"),
            404: send("GET", f"{books}/{NO_BOOK}"),
        },
        (f"{books}/{{id}}/stock", "patch"): with_body_errors("PATCH", f"{books}/{book}/stock", {
            200: send("PATCH", f"{books}/{book}/stock", headers=auth, json={"delta": 1}),
            400: send("PATCH", f"{books}/{book}/stock", headers=auth, json={"delta": 0}),
            401: send("PATCH", f"{books}/{book}/stock", json={"delta": 1}),
            404: send("PATCH", f"{books}/{NO_BOOK}/stock", headers=auth, json={"delta": 1}),
            409: send("PATCH", f"{books}/{book}/stock", headers=auth, json={"delta": -1000}),
        }),
        (f"{users}/{{id}}/shelf", "get"): {
            200: send("GET", shelf, headers=auth),
            400: send("GET", f"{users}/not-an-id/shelf", headers=auth),
            401: send("GET", shelf),
            403: send("GET", shelf, headers=other),
            404: send("GET", f"{users}/{ANYONE}/shelf", headers=other),
        },
        (f"{users}/{{id}}/shelf", "post"): with_body_errors("POST", shelf, {
            200: send("POST", shelf, headers=auth, json={"book_id": book}),
            400: send("POST", shelf, headers=auth, json={}),
            401: send("POST", shelf, json={"book_id": book}),
            403: send("POST", shelf, headers=other, json={"book_id": book}),
            404: send("POST", shelf, headers=auth, json={"book_id": NO_BOOK}),
        }),
        ("/openapi.json", "get"): {200: send("GET", "/openapi.json")},
        ("/healthz", "get"): {200: send("GET", "/healthz")},
        ("/readyz", "get"): {200: send("GET", "/readyz")},
        ("/metrics", "get"): {200: send("GET", "/metrics")},
    }


def _valid_request(operation: dict[str, Any], doc: dict[str, Any], auth: dict) -> dict:
    schema = _body_schema(doc, operation)
    return {"headers": auth, "json": VALID[schema[0]] if schema else None}


def test_every_documented_status_is_answered_and_every_answer_documented(
    stack, start_gateway, token_for, doc
):
    triggers = _triggers(stack, token_for)
    where = {"KIT_USER_ADDRS": stack.user.http,
             "KIT_BOOK_ADDRS": ",".join(book.grpc for book in stack.books)}
    limited = start_gateway({**where, "KIT_RATE_LIMIT": "1/hour"})
    down = start_gateway()  # its backends are nowhere
    me, auth = stack.sign_up("Lin")
    answered: dict[tuple[str, str], set[int]] = {}
    for path, method, operation in _operations(doc):
        documented = {int(code) for code in operation["responses"]}
        seen = answered.setdefault((path, method), set())
        for status, trigger in triggers[(path, method)].items():
            reply = trigger()
            assert reply.status_code == status, (method, path, status, reply.text)
            seen.add(status)
        if not path.startswith("/api/"):
            continue
        concrete = _concrete(path, user=me, book=NO_BOOK)
        valid = _valid_request(operation, doc, auth)
        for gateway, status in ((down, 503), (limited, 429)):
            gateway.request(method.upper(), concrete, **valid)  # the limited one's only try
            reply = gateway.request(method.upper(), concrete, **valid)
            assert reply.status_code == status, (method, path, status, reply.text)
            seen.add(status)
        # The caller leaves no time: the deadline has passed before any backend is asked.
        late = _past_deadline(stack.gateway, method, concrete, valid)
        assert late.status_code == 504, (method, path, late.text)
        seen.add(504)
        assert seen == documented, (method, path, sorted(seen), sorted(documented))
    readyz = down.wired.app.readiness
    readyz.set_ready(False)
    assert down.get("/readyz").status_code == 503
    answered[("/readyz", "get")].add(503)
    for path, method, operation in _operations(doc):
        documented = {int(code) for code in operation["responses"]}
        assert answered[(path, method)] == documented, (method, path)


def _past_deadline(gateway, method: str, path: str, valid: dict) -> Any:
    """``valid`` sent with a deadline that has already passed (``X-Request-Timeout: 0``)."""
    headers = {**(valid["headers"] or {}), "X-Request-Timeout": "0"}
    return gateway.request(method.upper(), path, headers=headers, json=valid["json"])
