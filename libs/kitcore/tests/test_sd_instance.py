"""Instance values: the exact etcd JSON contract, and clear errors for garbage."""

from __future__ import annotations

import json

import pytest

from kitcore.sd import Instance, InvalidInstance


def make(**overrides: object) -> Instance:
    fields: dict[str, object] = {
        "id": "book-1", "service": "book", "http": "book-1:8080", "grpc": "book-1:50051",
        "version": "0.1.0", "meta": {"zone": "a"},
    }
    fields.update(overrides)
    return Instance(**fields)  # type: ignore[arg-type]


def test_json_value_is_exactly_the_contract() -> None:
    value = json.loads(make().to_json())
    assert list(value) == ["id", "service", "transport", "version", "meta"]
    assert value == {
        "id": "book-1", "service": "book",
        "transport": {"http": "book-1:8080", "grpc": "book-1:50051"},
        "version": "0.1.0", "meta": {"zone": "a"},
    }


def test_round_trip_and_key() -> None:
    instance = make(grpc=None, meta={"note": "café"})
    assert Instance.from_json(instance.to_json().encode()) == instance
    assert instance.key() == "/kitcore/services/book/book-1"
    assert instance.key("/other/") == "/other/book/book-1"
    assert len({instance, Instance.from_json(instance.to_json())}) == 1


def test_meta_cannot_be_changed_afterwards() -> None:
    with pytest.raises(TypeError):
        make().meta["zone"] = "b"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"service": "book"}', "id"),
        ('{"id": "b", "service": ""}', "service"),
        ('{"id": "a/b", "service": "book"}', "id"),
        ('{"id": "b", "service": "book", "transport": "x"}', "transport"),
        ('{"id": "b", "service": "book", "transport": {"http": "nohostport"}}', "http"),
        ('{"id": "b", "service": "book", "transport": {"grpc": "h:99999"}}', "grpc"),
        ('{"id": "b", "service": "book", "transport": {"http": 80}}', "http"),
        ('{"id": "b", "service": "book", "version": 1}', "version"),
        ('{"id": "b", "service": "book", "meta": [1]}', "meta"),
    ],
)
def test_garbage_is_a_clear_invalid_instance(text: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidInstance, match=reason):
        Instance.from_json(text)
