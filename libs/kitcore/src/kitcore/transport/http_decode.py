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
are checked. The field rules themselves (no control characters, no lone
surrogates, plain integers, e-mail shape) are :mod:`kitcore.validate`'s, the
same the services apply whatever the transport.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import flask

from kitcore import validate
from kitcore.errors import InvalidArgument, UnsupportedMediaType


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
        raise InvalidArgument(f"JSON body must be an object, got {validate.json_type(body)}")
    if allowed is not None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise InvalidArgument(f"unknown field(s): {', '.join(unknown)}")
    return body


def required_str(body: Mapping[str, Any], field: str, *, max_len: int = 255) -> str:
    """A non-empty string field of at most ``max_len`` characters (see :func:`validate.text`)."""
    return validate.text(body.get(field), field, max_len=max_len, strip=False)


def optional_str(
    body: Mapping[str, Any], field: str, *, max_len: int = 255, default: str | None = None
) -> str | None:
    """A string field of at most ``max_len`` characters, or ``default`` when absent."""
    if body.get(field) is None:
        return default
    return required_str(body, field, max_len=max_len)


def required_int(body: Mapping[str, Any], field: str, *, min_value: int, max_value: int) -> int:
    """An integer field (not a float, not a bool) in ``[min_value, max_value]``."""
    return validate.integer(body.get(field), field, low=min_value, high=max_value)


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
    return required_int(body, field, min_value=min_value, max_value=max_value)


def email_str(body: Mapping[str, Any], field: str = "email") -> str:
    """A required e-mail address (see :func:`validate.email`), at most 254 characters."""
    return validate.email(body.get(field), field)


def query_int(
    request: flask.Request, name: str, *, min_value: int, max_value: int, default: int
) -> int:
    """An integer query parameter in plain digits in ``[min_value, max_value]``, or ``default``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return validate.integer_string(raw, name, low=min_value, high=max_value)


def query_str(
    request: flask.Request, name: str, *, max_len: int = 255, default: str | None = None
) -> str | None:
    """A query parameter of at most ``max_len`` characters, or ``default``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return validate.text(raw, name, max_len=max_len, strip=False)


def path_str(path_params: Mapping[str, Any], name: str, *, max_len: int = 128) -> str:
    """A path parameter of at most ``max_len`` characters."""
    return validate.text(path_params.get(name, ""), name, max_len=max_len, strip=False)
