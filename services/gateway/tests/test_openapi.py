"""The OpenAPI document: valid, complete, and in step with the routes the app serves."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from gateway.__main__ import OPENAPI_PATH

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


def _served_routes(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule the Flask app serves, HEAD/OPTIONS aside."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    return served


def _documented_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item
            if method in METHODS}


def test_document_lists_exactly_the_routes_served(lone_gateway, doc):
    assert _documented_routes(doc) == _served_routes(lone_gateway.wired.http_app)


def test_document_is_served_as_loaded(lone_gateway, doc):
    response = lone_gateway.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == doc


def test_every_reference_resolves(doc):
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in refs(value)]
        return []

    for ref in refs(doc):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert target, ref


def test_every_operation_documents_its_answers(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if "$ref" in response:
                    continue
                assert response["description"], (method, path, code)
                assert response["content"], (method, path, code)
            if path.startswith("/api/"):
                assert "429" in responses, (method, path)
                assert "503" in responses, (method, path)
            if "{id}" in path:
                assert "400" in responses, (method, path)


def test_writes_need_a_bearer_token_and_bodies_are_closed(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    public = {("/api/v1/users", "post"), ("/api/v1/auth/login", "post"),
              ("/api/v1/books", "get"), ("/api/v1/books/{id}", "get")}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/") and (path, method) not in public:
                assert operation.get("security") == [{"bearerAuth": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
            body = operation.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
                assert schema["additionalProperties"] is False, ref
                assert schema["required"], ref
                assert "415" in operation["responses"] and "413" in operation["responses"]


def test_patterns_compile_as_python_regular_expressions(doc):
    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return found + [p for value in node.values() for p in patterns(value)]
        if isinstance(node, list):
            return [p for value in node for p in patterns(value)]
        return []

    assert patterns(doc)
    for pattern in patterns(doc):
        re.compile(pattern)


USER = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
BOOK = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
VALID_BODIES = {
    "SignUp": {"name": "Ada", "email": "ada@example.org", "password": "correct horse"},
    "Login": {"email": "ada@example.org", "password": "correct horse"},
    "NewBook": {"title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3},
    "StockChange": {"delta": -1},
    "ShelfAdd": {"book_id": BOOK},
}


def _violations(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(what, value) pairs that break one rule of a property schema."""
    found: list[tuple[str, Any]] = []
    if schema["type"] == "string":
        found.append(("a number", 7))
        if "maxLength" in schema:
            found.append(("too long", "x" * (schema["maxLength"] + 1)))
        if schema.get("minLength", 0) > 1:
            found.append(("too short", "x" * (schema["minLength"] - 1)))
        if "pattern" in schema or "format" in schema:
            found.append(("off pattern", "\t"))
    if schema["type"] == "integer":
        found += [("a string", "1"), ("a fraction", 1.5), ("a boolean", True)]
        if "minimum" in schema:
            found.append(("below minimum", schema["minimum"] - 1))
        if "maximum" in schema:
            found.append(("above maximum", schema["maximum"] + 1))
        if "not" in schema:
            found += [("excluded", value) for value in schema["not"]["enum"]]
    return found


def _body_operations(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, concrete path, schema name) of every operation with a JSON body."""
    found = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                concrete = path.replace("{id}", USER if "/users/" in path else BOOK)
                found.append((method.upper(), concrete, ref.rsplit("/", 1)[1]))
    return found


def test_every_documented_body_rule_is_enforced(lone_gateway, token_for, doc):
    """Each rule the document states for a body field gets a 400; a valid body
    passes the checks (and, with no backend, gets a 503)."""
    headers = {"Authorization": f"Bearer {token_for(USER)}"}
    operations = _body_operations(doc)
    assert {name for _, _, name in operations} == set(VALID_BODIES)
    for method, path, name in operations:
        schema = doc["components"]["schemas"][name]
        valid = VALID_BODIES[name]

        def send(body: Any, method: str = method, path: str = path) -> Any:
            return lone_gateway.request(method, path, json=body, headers=headers)

        assert send(valid).status_code == 503, (method, path)
        assert send({**valid, "extra": 1}).status_code == 400, (name, "extra field")
        for field in schema["required"]:
            body = {key: value for key, value in valid.items() if key != field}
            assert send(body).status_code == 400, (name, field, "missing")
        for field, rules in schema["properties"].items():
            for what, value in _violations(rules):
                response = send({**valid, field: value})
                assert response.status_code == 400, (name, field, what, response.text)


def test_every_documented_query_rule_is_enforced(lone_gateway, doc):
    parameters = doc["paths"]["/api/v1/books"]["get"]["parameters"]
    assert lone_gateway.get("/api/v1/books?page=2&page_size=5&author=Ada").status_code == 503
    for parameter in parameters:
        for what, value in _violations(parameter["schema"]):
            if isinstance(value, bool | int) and parameter["schema"]["type"] == "string":
                continue  # a query string cannot tell 7 from "7"
            if what == "a string":
                value = "one"
            response = lone_gateway.get("/api/v1/books", params={parameter["name"]: value})
            assert response.status_code == 400, (parameter["name"], what, response.text)
