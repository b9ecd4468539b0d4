"""Field checks shared by services and transports: one rule for text, numbers, ids, e-mails.

Each function takes a decoded value and the field's name, returns the value
checked (and for ids, in canonical form) or raises
:class:`kitcore.errors.InvalidArgument` worded ``"field: problem"``. Only the
standard library is used, so a service's business logic may call these
without pulling in a web framework or gRPC, and a request gets the same answer
whichever transport carried it. The limits (lengths, ranges) are the caller's
rules and are always passed in::

    title = validate.text(request.title, "title", max_len=TITLE_MAX)
    year = validate.integer(request.year, "year", low=YEAR_MIN, high=YEAR_MAX)
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from kitcore.errors import InvalidArgument

EMAIL_MAX = 254
"""The longest e-mail address SMTP allows."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_EXAMPLE = "3f2c8e1a-9b7d-4c6e-8f1a-2b3c4d5e6f70"
_DECIMAL = re.compile(r"-?[0-9]+")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# An ASCII address: a dot-atom local part, then a domain of two or more labels.
_EMAIL = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})+")
_EMAIL_LOCAL_MAX = 64


def text(value: Any, field: str, *, max_len: int, required: bool = True,
         strip: bool = True) -> str:
    """A non-blank string of at most ``max_len`` characters, free of control characters.

    ``strip`` drops surrounding white space from the result (the length is
    counted after it). Not ``required``: None or a blank string reads as ``""``.
    """
    if value is None and not required:
        return ""
    value = _string(value, field)
    if not value.strip():
        if required:
            raise InvalidArgument(f"{field}: must not be empty")
        return ""
    result = value.strip() if strip else value
    _max_length(result, field, max_len)
    if _CONTROL.search(value):
        raise InvalidArgument(f"{field}: must not contain control characters")
    return _unicode(result, field)


def password(value: Any, field: str = "password", *, min_len: int, max_len: int) -> str:
    """A secret of ``min_len`` to ``max_len`` characters, kept exactly as given.

    Unlike :func:`text` it is not stripped and may hold any character that
    UTF-8 can carry; only a blank one is refused.
    """
    value = _string(value, field)
    if not value.strip():
        raise InvalidArgument(f"{field}: must not be empty")
    if len(value) < min_len:
        raise InvalidArgument(f"{field}: shorter than {min_len} characters")
    _max_length(value, field, max_len)
    return _unicode(value, field)


def password_attempt(value: Any, field: str = "password", *, max_len: int) -> str:
    """A password offered to log in: any non-empty string of at most ``max_len``
    characters, kept exactly as given.

    The sign-up rules (:func:`password`'s lengths) are not applied: a password
    that cannot match is answered by the check against the stored hash, the
    same as any other wrong one, so a login tells nothing about the rules and
    an account made under older rules can still log in. ``max_len`` only
    bounds the work of hashing.
    """
    value = _string(value, field)
    if not value:
        raise InvalidArgument(f"{field}: must not be empty")
    _max_length(value, field, max_len)
    return _unicode(value, field)


def integer(value: Any, field: str, *, low: int, high: int) -> int:
    """An integer (not a bool, not a float) in ``[low, high]``."""
    if value is None:
        raise InvalidArgument(f"{field}: required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{field}: must be an integer, got {json_type(value)}")
    if not low <= value <= high:
        raise InvalidArgument(f"{field}: must be between {low} and {high}")
    return value


def integer_string(raw: str, field: str, *, low: int, high: int) -> int:
    """An integer written in plain decimal digits (a query parameter), in ``[low, high]``."""
    if len(raw) > 20 or not _DECIMAL.fullmatch(raw):
        raise InvalidArgument(f"{field}: must be an integer, got {raw[:20]!r}")
    return integer(int(raw), field, low=low, high=high)


def uuid(value: Any, field: str) -> str:
    """A UUID written ``8-4-4-4-12`` in any letter case, returned in lower case."""
    if value is None or value == "":
        raise InvalidArgument(f"{field}: required")
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        got = repr(value[:40]) if isinstance(value, str) else json_type(value)
        raise InvalidArgument(f"{field}: must be a UUID like {_UUID_EXAMPLE}, got {got}")
    return str(UUID(value))


def email(value: Any, field: str = "email") -> str:
    """An ASCII e-mail address (``name@example.org``), as given: at most 254 characters."""
    value = text(value, field, max_len=EMAIL_MAX, strip=False)
    found = _EMAIL.fullmatch(value)
    if not found or len(found.group("local")) > _EMAIL_LOCAL_MAX:
        raise InvalidArgument(f"{field}: not an e-mail address (name@example.org)")
    return value


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``"string"``, ``"number"``, ``"null"`` ...)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _string(value: Any, field: str) -> str:
    if value is None:
        raise InvalidArgument(f"{field}: required")
    if not isinstance(value, str):
        raise InvalidArgument(f"{field}: must be a string, got {json_type(value)}")
    return value


def _max_length(value: str, field: str, max_len: int) -> None:
    if len(value) > max_len:
        raise InvalidArgument(f"{field}: longer than {max_len} characters")


def _unicode(value: str, field: str) -> str:
    """``value`` unless it holds lone surrogates (JSON can carry them, UTF-8 cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{field}: not valid Unicode text") from None
    return value

