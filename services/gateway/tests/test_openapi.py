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
