"""The user HTTP routes through a real in-process server (its own HTTP server, free port)."""

from __future__ import annotations

import uuid

import pytest
import requests
import sqlalchemy as sa
from user.__main__ import TOKEN_TTL
from user.store import UserStore

from kitcore.app import App
from kitcore.auth import JWTVerifier

PASSWORD = "correct horse battery"
ADA = {"name": "Ada Lovelace", "email": "ada@example.org", "password": PASSWORD}


@pytest.fixture
def url(served: App) -> str:
    return f"http://{served.config.http_address}"


def _sign_up(url: str, **fields: object) -> dict:
    response = requests.post(f"{url}/users", json={**ADA, **fields}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["user"]


def _users(store: UserStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM users")).scalar_one()


def _error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["X-Served-By"] == "user-test"
    error = response.json()["error"]
    assert error["code"] == code
    return error["message"]


def test_sign_up_get_and_log_in_without_the_password_ever_coming_back(
    url: str, verifier: JWTVerifier
) -> None:
    created = requests.post(f"{url}/users", json=ADA, timeout=5)
    assert created.status_code == 201 and created.headers["X-Served-By"] == "user-test"
    user = created.json()["user"]
    assert created.json() == {"user": user}  # the instance is named in the header only
    assert set(user) == {"id", "name", "email"}
    got = requests.get(f"{url}/users/{user['id']}", timeout=5)
    assert got.json() == {"user": user}
    login = requests.post(f"{url}/login", json={"email": ADA["email"], "password": PASSWORD},
                          timeout=5)
    body = login.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert got.headers["X-Served-By"] == login.headers["X-Served-By"] == "user-test"
    assert body["token_type"] == "Bearer" and body["expires_in"] == TOKEN_TTL
    assert verifier.verify(body["access_token"])["sub"] == user["id"]
    for response in (created, got, login):
        assert PASSWORD not in response.text and "scrypt" not in response.text


def test_a_taken_email_is_409_in_any_letter_case(url: str, store: UserStore) -> None:
    _sign_up(url)
    response = requests.post(f"{url}/users", json={**ADA, "email": "ADA@Example.org"}, timeout=5)
    _error(response, 409, "already_exists")
    assert _users(store) == 1


@pytest.mark.parametrize(
    "credentials",
    [{"email": "ada@example.org", "password": "wrong password"},
     {"email": "eve@example.org", "password": PASSWORD}],
)
def test_wrong_password_or_unknown_email_is_401(url: str, credentials: dict) -> None:
    _sign_up(url)
    response = requests.post(f"{url}/login", json=credentials, timeout=5)
    assert _error(response, 401, "unauthenticated") == "wrong email or password"


def test_shelf_add_is_idempotent(url: str) -> None:
    user = _sign_up(url)
    shelf_url = f"{url}/users/{user['id']}/shelf"
    assert requests.get(shelf_url, timeout=5).json() == {
        "user_id": user["id"], "book_ids": []}
    book_id = str(uuid.uuid4())
    for _ in range(2):
        added = requests.post(shelf_url, json={"book_id": book_id}, timeout=5)
        assert added.status_code == 200 and added.json()["book_ids"] == [book_id]
    assert requests.get(shelf_url, timeout=5).json()["book_ids"] == [book_id]


def test_unknown_user_is_404_everywhere(url: str) -> None:
    unknown = uuid.uuid4()
    _error(requests.get(f"{url}/users/{unknown}", timeout=5), 404, "not_found")
    _error(requests.get(f"{url}/users/{unknown}/shelf", timeout=5), 404, "not_found")
    added = requests.post(f"{url}/users/{unknown}/shelf", json={"book_id": str(uuid.uuid4())},
                          timeout=5)
    _error(added, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "a@example.org", "password": PASSWORD}, "name: required"),
        ({"name": "A", "password": PASSWORD}, "email: required"),
        ({"name": "A", "email": "a@example.org"}, "password: required"),
        ({**ADA, "name": ["A"]}, "name: must be a string"),
        ({**ADA, "name": "n" * 101}, "name: longer than 100"),
        ({**ADA, "name": "Ada\x1b[31m"}, "name: must not contain control characters"),
        ({**ADA, "email": "ada.example.org"}, "email: not an e-mail address"),
        ({**ADA, "email": 7}, "email: must be a string"),
        ({**ADA, "password": "short"}, "password: shorter than 8"),
        ({**ADA, "password": 12345678}, "password: must be a string"),
        ({**ADA, "admin": True}, "unknown field(s): admin"),
    ],
)
def test_sign_up_rejects_each_bad_field_and_writes_nothing(
    url: str, store: UserStore, body: dict, message: str
) -> None:
    response = requests.post(f"{url}/users", json=body, timeout=5)
    assert message in _error(response, 400, "invalid_argument")
    assert _users(store) == 0


@pytest.mark.parametrize(
    ("path", "data", "content_type", "status", "code"),
    [
        ("/users", '{"name": ', "application/json", 400, "invalid_argument"),
        ("/users", '"just a string"', "application/json", 400, "invalid_argument"),
        ("/users", "name=Ada", "text/plain", 415, "unsupported_media_type"),
        ("/login", "{bad", "application/json", 400, "invalid_argument"),
        ("/users", '{"name": "' + "x" * 20_000 + '"}', "application/json", 413,
         "payload_too_large"),
    ],
)
def test_bodies_that_are_not_one_json_object_are_refused(
    url: str, store: UserStore, path: str, data: str, content_type: str, status: int, code: str
) -> None:
    response = requests.post(f"{url}{path}", data=data,
                             headers={"Content-Type": content_type}, timeout=5)
    _error(response, status, code)
    assert _users(store) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [({}, "book_id: required"), ({"book_id": 5}, "book_id: must be a UUID"),
     ({"book_id": "dune"}, "book_id: must be a UUID")],
)
def test_add_to_shelf_rejects_a_bad_book_id(url: str, body: dict, message: str) -> None:
    user = _sign_up(url)
    response = requests.post(f"{url}/users/{user['id']}/shelf", json=body, timeout=5)
    assert message in _error(response, 400, "invalid_argument")
    assert requests.get(f"{url}/users/{user['id']}/shelf", timeout=5).json()["book_ids"] == []


def test_malformed_id_and_login_fields_are_400(url: str) -> None:
    assert "must be a UUID" in _error(requests.get(f"{url}/users/ada", timeout=5), 400,
                                  "invalid_argument")
    login = requests.post(f"{url}/login", json={"email": "ada@example.org"}, timeout=5)
    assert "password: required" in _error(login, 400, "invalid_argument")
