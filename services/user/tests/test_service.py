"""The account rules, with no network: SQLite in memory under the service."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from user.service import (
    Accounts,
    AddToShelfRequest,
    CreateUserRequest,
    EmailTaken,
    GetShelfRequest,
    GetUserRequest,
    LoginRequest,
    User,
    UserNotFound,
    WrongPassword,
)
from user.store import UserStore

from kitcore.auth import JWTVerifier
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER
from kitcore.errors import InvalidArgument

PASSWORD = "correct horse battery"


def _sign_up(accounts: Accounts, email: str = "ada@example.org") -> User:
    return accounts.create_user(CreateUserRequest("Ada Lovelace", email, PASSWORD))


def _all_rows(store: UserStore) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text("SELECT * FROM users"))]


def test_sign_up_then_get(accounts: Accounts) -> None:
    user = _sign_up(accounts, "Ada@Example.ORG")
    assert user.email == "ada@example.org"
    assert accounts.get_user(GetUserRequest(user.id)) == user


def test_password_is_stored_hashed_with_scrypt_and_never_in_clear(
    accounts: Accounts, store: UserStore
) -> None:
    _sign_up(accounts)
    [row] = _all_rows(store)
    assert row["password_hash"].startswith("scrypt:")
    assert all(PASSWORD not in str(value) for value in row.values())


def test_an_email_is_taken_in_any_letter_case(accounts: Accounts, store: UserStore) -> None:
    _sign_up(accounts, "ada@example.org")
    with pytest.raises(EmailTaken):
        _sign_up(accounts, "ADA@example.org")
    assert len(_all_rows(store)) == 1


def test_a_taken_email_is_refused_before_the_password_is_hashed(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-up retried after a timeout must answer 409 at once, not hash again."""
    import user.service

    hashed = []
    real_hash = user.service.generate_password_hash

    def counting_hash(password: str, method: str) -> str:
        hashed.append(method)
        return real_hash(password, method)

    monkeypatch.setattr(user.service, "generate_password_hash", counting_hash)
    _sign_up(accounts, "ada@example.org")
    assert hashed == ["scrypt"]
    with pytest.raises(EmailTaken):
        _sign_up(accounts, "Ada@example.org")
    assert hashed == ["scrypt"], "the password of a refused sign-up was hashed"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", None, "name: required"),
        ("name", "  ", "name: must not be empty"),
        ("name", "n" * 101, "name: longer than 100"),
        ("name", 5, "name: must be a string"),
        ("name", "Ada\x1b[31m", "name: must not contain control characters"),
        ("name", "Ada\x00", "name: must not contain control characters"),
        ("name", "Ada\ud800", "name: not valid Unicode text"),
        ("email", None, "email: required"),
        ("email", "not-an-email", "email: not an e-mail address"),
        ("email", "a@b", "email: not an e-mail address"),
        ("email", "a b@example.org", "email: not an e-mail address"),
        ("email", " ada@example.org ", "email: not an e-mail address"),
        ("email", "a@example.org" + "x" * 250, "email: longer than 254"),
        ("password", None, "password: required"),
        ("password", "short", "password: shorter than 8 characters"),
        ("password", "p" * 129, "password: longer than 128 characters"),
        ("password", " " * 8, "password: must not be empty"),
        ("password", "password\udc00", "password: not valid Unicode text"),
        ("password", 12345678, "password: must be a string"),
    ],
)
def test_sign_up_rejects_each_bad_field_and_writes_nothing(
    accounts: Accounts, store: UserStore, field: str, value: object, message: str
) -> None:
    fields = {"name": "Ada", "email": "ada@example.org", "password": PASSWORD}
    fields[field] = value
    with pytest.raises(InvalidArgument, match=message):
        accounts.create_user(CreateUserRequest(**fields))
    assert _all_rows(store) == []


def test_login_returns_a_token_the_gateway_accepts(
    accounts: Accounts, verifier: JWTVerifier
) -> None:
    user = _sign_up(accounts)
    reply = accounts.login(LoginRequest("ADA@example.org", PASSWORD))
    assert reply.token_type == "Bearer" and reply.expires_in == 600
    claims = verifier.verify(reply.access_token)
    assert claims["sub"] == user.id and claims["name"] == "Ada Lovelace"
    assert (claims["iss"], claims["aud"]) == (DEFAULT_JWT_ISSUER, DEFAULT_JWT_AUDIENCE)
    assert claims["exp"] > claims["iat"]
    assert PASSWORD not in repr(reply)


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.org", "wrong password"), ("nobody@example.org", PASSWORD),
     ("ada@example.org", "short"), ("ada@example.org", "   "), ("ada@example.org", "p" * 129)],
)
def test_login_with_a_wrong_password_or_unknown_email_says_the_same(
    accounts: Accounts, email: str, password: str
) -> None:
    _sign_up(accounts)
    with pytest.raises(WrongPassword, match="^wrong email or password$"):
        accounts.login(LoginRequest(email, password))


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [(None, PASSWORD, "email: required"), ("ada@example.org", None, "password: required"),
     ("nope", PASSWORD, "email: not an e-mail address"),
     ("ada@example.org", "", "password: must not be empty"),
     ("ada@example.org", "p" * 1025, "password: longer than 1024 characters")],
)
def test_login_rejects_missing_fields(accounts: Accounts, email: object, password: object,
                                      message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        accounts.login(LoginRequest(email, password))


def test_unknown_user_is_not_found_everywhere(accounts: Accounts) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(UserNotFound):
        accounts.get_user(GetUserRequest(unknown))
    with pytest.raises(UserNotFound):
        accounts.get_shelf(GetShelfRequest(unknown))
    with pytest.raises(UserNotFound):
        accounts.add_to_shelf(AddToShelfRequest(unknown, str(uuid.uuid4())))


def test_shelf_adds_are_idempotent_and_keep_their_order(accounts: Accounts) -> None:
    user = _sign_up(accounts)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert accounts.get_shelf(GetShelfRequest(user.id)).book_ids == []
    accounts.add_to_shelf(AddToShelfRequest(user.id, first))
    accounts.add_to_shelf(AddToShelfRequest(user.id, second))
    reply = accounts.add_to_shelf(AddToShelfRequest(user.id, first))
    assert reply.book_ids == [first, second]
    assert reply.user_id == user.id


@pytest.mark.parametrize(
    ("user_id", "book_id", "message"),
    [(None, "x", "user_id: required"), ("nope", None, "user_id: must be a UUID"),
     ("00000000-0000-4000-8000-000000000001", None, "book_id: required"),
     ("00000000-0000-4000-8000-000000000001", "book", "book_id: must be a UUID")],
)
def test_add_to_shelf_rejects_bad_ids(accounts: Accounts, user_id: object, book_id: object,
                                      message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        accounts.add_to_shelf(AddToShelfRequest(user_id, book_id))
