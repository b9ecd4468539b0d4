"""Small helpers for HTTP decoders: read a JSON body, check fields and query params.

Each raises :class:`kitcore.errors.InvalidArgument` naming the field, so a bad
request gets a 400 that says what to fix. A decoder reads top to bottom::

    def decode_create_book(request, path_params):
        body = json_body(request, allowed={"title", "author", "stock"})
        return CreateBookRequest(
            title=required_str(body, "title", max_len=200),
            author=required_str(body, "author", max_len=200),
            stock=optional_int(body, "stock", min_value=0, max_value=1_000_000, default=0),
        )

Unknown fields: ``json_body(..., allowed=...)`` rejects fields outside
``allowed`` with a 400 (a typo such as ``"titel"`` is an error, not ignored).
Query parameters are read leniently: unknown ones are ignored, known ones
are checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import flask

from kitcore.errors import InvalidArgument, UnsupportedMediaType

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def json_body(request: flask.Request, *, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """The request body as a JSON object; 415 unless JSON, 400 unless an object.

    With ``allowed``, fields outside it are rejected.
    """
    if not request.is_json:
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {request.mimetype or 'none'!r}"
        )
    data = request.get_data(cache=True)  # raises 413 over max_body_bytes
    if not data:
        raise InvalidArgument("request body is empty; expected a JSON object")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidArgument(f"JSON body must be an object, got {_json_type(body)}")
    if allowed is not None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise InvalidArgument(f"unknown field(s): {', '.join(unknown)}")
    return body


def required_str(body: Mapping[str, Any], field: str, *, max_len: int = 255) -> str:
    """A non-empty string field of at most ``max_len`` characters."""
    if field not in body or body[field] is None:
        raise InvalidArgument(f"{field}: required")
    return _check_str(field, body[field], max_len)


def optional_str(
    body: Mapping[str, Any], field: str, *, max_len: int = 255, default: str | None = None
) -> str | None:
    """A string field of at most ``max_len`` characters, or ``default`` when absent."""
    if body.get(field) is None:
        return default
    return _check_str(field, body[field], max_len)


def required_int(body: Mapping[str, Any], field: str, *, min_value: int, max_value: int) -> int:
    """An integer field (not a float, not a bool) in ``[min_value, max_value]``."""
    if field not in body or body[field] is None:
        raise InvalidArgument(f"{field}: required")
    return _check_int(field, body[field], min_value, max_value)


def optional_int(
    body: Mapping[str, Any],
    field: str,
    *,
    min_value: int,
    max_value: int,
    default: int | None = None,
) -> int | None:
    """An integer field in ``[min_value, max_value]``, or ``default`` when absent."""
    if body.get(field) is None:
        return default
    return _check_int(field, body[field], min_value, max_value)


def email_str(body: Mapping[str, Any], field: str = "email") -> str:
    """A required string that looks like an e-mail address (``a@b.c``), at most 254 chars."""
    value = required_str(body, field, max_len=254)
    if not _EMAIL.match(value):
        raise InvalidArgument(f"{field}: not an e-mail address")
    return value


def query_int(
    request: flask.Request, name: str, *, min_value: int, max_value: int, default: int
) -> int:
    """An integer query parameter in ``[min_value, max_value]``, or ``default``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"{name}: must be an integer, got {raw!r}") from None
    return _check_int(name, value, min_value, max_value)


def query_str(
    request: flask.Request, name: str, *, max_len: int = 255, default: str | None = None
) -> str | None:
    """A query parameter of at most ``max_len`` characters, or ``default``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return _check_str(name, raw, max_len)


def path_str(path_params: Mapping[str, Any], name: str, *, max_len: int = 128) -> str:
    """A path parameter of at most ``max_len`` characters."""
    return _check_str(name, path_params.get(name, ""), max_len)


def _check_str(field: str, value: Any, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{field}: must be a string, got {_json_type(value)}")
    if not value.strip():
        raise InvalidArgument(f"{field}: must not be empty")
    if len(value) > max_len:
        raise InvalidArgument(f"{field}: longer than {max_len} characters")
    return value


def _check_int(field: str, value: Any, min_value: int, max_value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{field}: must be an integer, got {_json_type(value)}")
    if not min_value <= value <= max_value:
        raise InvalidArgument(f"{field}: must be between {min_value} and {max_value}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")

