"""kitcore.validate: every field check accepts good values and refuses each kind of bad one."""

from __future__ import annotations

import pytest

from kitcore import validate
from kitcore.errors import InvalidArgument

A_UUID = "3F2C8E1A-9B7D-4C6E-8F1A-2B3C4D5E6F70"


def _refused(check, *args, says: str, **kwargs) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check(*args, **kwargs)
    assert says in caught.value.message, caught.value.message


def test_text_returns_the_stripped_value() -> None:
    assert validate.text("  Dune  ", "title", max_len=4) == "Dune"
    assert validate.text("Café ☕", "title", max_len=10) == "Café ☕"


def test_text_without_strip_keeps_the_value_as_given() -> None:
    assert validate.text(" Dune ", "title", max_len=6, strip=False) == " Dune "


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "title: required"),
        (12, "title: must be a string, got number"),
        (True, "title: must be a string, got boolean"),
        (["Dune"], "title: must be a string, got array"),
        ("", "title: must not be empty"),
        ("   ", "title: must not be empty"),
        ("x" * 11, "title: longer than 10 characters"),
        ("Dune\x00", "title: must not contain control characters"),
        ("\x01\x1b[31m", "title: must not contain control characters"),
        ("Du\x7fne", "title: must not contain control characters"),
        ("Dune\n", "title: must not contain control characters"),
        ("Du\tne", "title: must not contain control characters"),
        ("Du\ud800ne", "title: not valid Unicode text"),
    ],
)
def test_text_refuses(value: object, says: str) -> None:
    _refused(validate.text, value, "title", max_len=10, says=says)


def test_text_counts_the_length_after_stripping() -> None:
    assert validate.text("  abc  ", "t", max_len=3) == "abc"
    _refused(validate.text, "  abc  ", "t", max_len=3, strip=False, says="t: longer than 3")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_text_not_required_reads_nothing_as_empty(value: object) -> None:
    assert validate.text(value, "author", max_len=5, required=False) == ""


def test_text_not_required_still_checks_what_is_given() -> None:
    _refused(validate.text, "a\x01", "author", max_len=5, required=False,
             says="author: must not contain control characters")
    _refused(validate.text, 3, "author", max_len=5, required=False, says="must be a string")


def test_password_is_kept_exactly() -> None:
    assert validate.password(" pass\tword ", min_len=8, max_len=20) == " pass\tword "


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "password: required"),
        (12345678, "password: must be a string"),
        ("        ", "password: must not be empty"),
        ("1234567", "password: shorter than 8 characters"),
        ("p" * 21, "password: longer than 20 characters"),
        ("password\udc00", "password: not valid Unicode text"),
    ],
)
def test_password_refuses(value: object, says: str) -> None:
    _refused(validate.password, value, min_len=8, max_len=20, says=says)


@pytest.mark.parametrize("value", ["x", "        ", "1234567", " pass\tword "])
def test_password_attempt_takes_any_length_sign_up_would_refuse(value: str) -> None:
    assert validate.password_attempt(value, max_len=20) == value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "password: required"),
        (12345678, "password: must be a string"),
        ("", "password: must not be empty"),
        ("p" * 21, "password: longer than 20 characters"),
        ("password\udc00", "password: not valid Unicode text"),
    ],
)
def test_password_attempt_refuses(value: object, says: str) -> None:
    _refused(validate.password_attempt, value, max_len=20, says=says)


def test_integer_accepts_the_bounds() -> None:
    assert validate.integer(-3, "year", low=-3, high=5) == -3
    assert validate.integer(5, "year", low=-3, high=5) == 5


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "year: required"),
        (True, "year: must be an integer, got boolean"),
        (1965.0, "year: must be an integer, got number"),
        ("1965", "year: must be an integer, got string"),
        (-4, "year: must be between -3 and 5"),
        (6, "year: must be between -3 and 5"),
    ],
)
def test_integer_refuses(value: object, says: str) -> None:
    _refused(validate.integer, value, "year", low=-3, high=5, says=says)


def test_integer_string_reads_plain_digits() -> None:
    assert validate.integer_string("42", "page", low=1, high=100) == 42
    assert validate.integer_string("-7", "page", low=-10, high=0) == -7


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "page: must be an integer"),
        ("two", "page: must be an integer, got 'two'"),
        ("1.5", "page: must be an integer"),
        ("+5", "page: must be an integer"),
        (" 5", "page: must be an integer"),
        ("1_0", "page: must be an integer"),
        ("١٢", "page: must be an integer"),
        ("9" * 5000, "page: must be an integer"),
        ("0", "page: must be between 1 and 100"),
        ("101", "page: must be between 1 and 100"),
    ],
)
def test_integer_string_refuses(raw: str, says: str) -> None:
    _refused(validate.integer_string, raw, "page", low=1, high=100, says=says)


def test_uuid_is_returned_in_lower_case() -> None:
    assert validate.uuid(A_UUID, "id") == A_UUID.lower()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "id: required"),
        ("", "id: required"),
        (7, "id: must be a UUID like 3f2c8e1a-9b7d-4c6e-8f1a-2b3c4d5e6f70, got number"),
        ("nope", "id: must be a UUID like 3f2c8e1a-9b7d-4c6e-8f1a-2b3c4d5e6f70, got 'nope'"),
        (A_UUID.replace("-", ""), "id: must be a UUID"),
        ("{" + A_UUID + "}", "id: must be a UUID"),
        ("urn:uuid:" + A_UUID, "id: must be a UUID"),
        (A_UUID + "0", "id: must be a UUID"),
        (" " + A_UUID, "id: must be a UUID"),
    ],
)
def test_uuid_refuses(value: object, says: str) -> None:
    _refused(validate.uuid, value, "id", says=says)


def test_email_is_returned_as_given() -> None:
    assert validate.email("Ada.Lovelace+books@Example.org") == "Ada.Lovelace+books@Example.org"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "email: required"),
        (7, "email: must be a string"),
        ("", "email: must not be empty"),
        ("ada.example.org", "email: not an e-mail address"),
        ("ada@localhost", "email: not an e-mail address"),
        ("a b@example.org", "email: not an e-mail address"),
        (" ada@example.org", "email: not an e-mail address"),
        ("adá@example.org", "email: not an e-mail address"),
        ("ada..l@example.org", "email: not an e-mail address"),
        ("ada@-example.org", "email: not an e-mail address"),
        ("a" * 65 + "@example.org", "email: not an e-mail address"),
        ("a" * 250 + "@b.co", "email: longer than 254 characters"),
        ("ada@example.org\x00", "email: must not contain control characters"),
    ],
)
def test_email_refuses(value: object, says: str) -> None:
    _refused(validate.email, value, says=says)


def test_email_names_its_field() -> None:
    _refused(validate.email, "nope", "contact", says="contact: not an e-mail address")


@pytest.mark.parametrize(
    ("value", "name"),
    [({}, "object"), ([], "array"), ("", "string"), (True, "boolean"), (None, "null"),
     (1, "number"), (1.5, "number")],
)
def test_json_type_names(value: object, name: str) -> None:
    assert validate.json_type(value) == name
