"""Every route through a real gateway, user and two book replicas: happy paths and auth."""

from __future__ import annotations

import uuid

import jwt
import pytest

from kitcore.auth import JWTIssuer
from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER
from kitcore.testing.config import JWT_SECRET

UNKNOWN = "9b2e4f1c-7a3d-4e5b-9c8a-1d2e3f4a5b6c"  # no book or user has this id


def test_sign_up_answers_201_with_the_user_and_never_the_password(stack):
    reply = stack.gateway.request("POST", "/api/v1/users", json={
        "name": "Grace", "email": "grace@example.org", "password": "compilers!"})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert set(body) == {"user", "served_by"}
    assert set(body["user"]) == {"id", "name", "email"}
    assert uuid.UUID(body["user"]["id"])
    assert body["served_by"] == reply.headers["X-Served-By"] == stack.named(stack.user)
    assert "compilers!" not in reply.text


def test_sign_up_twice_with_one_email_is_a_conflict(stack):
    body = {"name": "Grace", "email": "grace@example.org", "password": "compilers!"}
    assert stack.gateway.request("POST", "/api/v1/users", json=body).status_code == 201
    again = stack.gateway.request("POST", "/api/v1/users", json=body)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"


def test_login_gives_a_bearer_token_for_the_user(stack):
    user_id, auth = stack.sign_up("Grace")
    token = auth["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"],
                        audience=DEFAULT_JWT_AUDIENCE)
    assert claims["sub"] == user_id and claims["iss"] == DEFAULT_JWT_ISSUER


def test_login_with_a_wrong_password_or_email_is_401(stack):
    user_id, auth = stack.sign_up("Grace")
    email = stack.gateway.get(f"/api/v1/users/{user_id}", headers=auth)
    for credentials in ({"email": email.json()["user"]["email"], "password": "not the one"},
                        {"email": "nobody@example.org", "password": "whatever1"}):
        reply = stack.gateway.request("POST", "/api/v1/auth/login", json=credentials)
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("password", ["x", "12345", " " * 3, "p" * 129, "p" * 1024])
def test_login_answers_401_for_a_wrong_password_of_any_length(stack, password):
    """Sign-up's length rules are not login's: a password that does not match is
    wrong, whatever its length, and the answer does not tell the rules."""
    user_id, auth = stack.sign_up("Grace")
    email = stack.gateway.get(f"/api/v1/users/{user_id}", headers=auth).json()["user"]["email"]
    reply = stack.gateway.request("POST", "/api/v1/auth/login",
                                  json={"email": email, "password": password})
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"] == {"code": "unauthenticated",
                                     "message": "wrong email or password"}


def test_get_yourself(stack):
    user_id, auth = stack.sign_up("Grace")
    reply = stack.gateway.get(f"/api/v1/users/{user_id}", headers=auth)
    assert reply.status_code == 200, reply.text
    assert reply.json()["user"]["id"] == user_id
    assert reply.json()["served_by"] == reply.headers["X-Served-By"] == stack.named(stack.user)


def test_an_id_in_capitals_is_the_same_user(stack):
    user_id, auth = stack.sign_up("Grace")
    reply = stack.gateway.get(f"/api/v1/users/{user_id.upper()}", headers=auth)
    assert reply.status_code == 200, reply.text


def test_books_create_read_list_and_change_stock(stack):
    _, auth = stack.sign_up()
    created = stack.gateway.request("POST", "/api/v1/books", headers=auth, json={
        "title": "Dune", "author": "Frank Herbert", "year": 1965})
    assert created.status_code == 201, created.text
    book = created.json()["book"]
    assert book["stock"] == 0  # stock is optional
    assert created.json()["served_by"] == created.headers["X-Served-By"]
    assert created.headers["X-Served-By"] in {stack.named(book) for book in stack.books}

    read = stack.gateway.get(f"/api/v1/books/{book['id']}")
    assert read.status_code == 200 and read.json()["book"] == book

    more = stack.gateway.request("PATCH", f"/api/v1/books/{book['id']}/stock", headers=auth,
                                 json={"delta": 5})
    assert more.status_code == 200 and more.json()["book"]["stock"] == 5
    fewer = stack.gateway.request("PATCH", f"/api/v1/books/{book['id']}/stock", headers=auth,
                                  json={"delta": -6})
    assert fewer.status_code == 409
    assert fewer.json()["error"]["code"] == "failed_precondition"
    assert stack.gateway.get(f"/api/v1/books/{book['id']}").json()["book"]["stock"] == 5

    listed = stack.gateway.get("/api/v1/books", params={"author": "Frank Herbert"})
    assert listed.status_code == 200
    assert listed.json()["items"] == [{**book, "stock": 5}]
    assert listed.json()["next_page"] is None


def test_listing_pages_through_the_catalogue(stack):
    _, auth = stack.sign_up()
    for n in range(5):
        stack.create_book(auth, title=f"Volume {n}")
    first = stack.gateway.get("/api/v1/books?page_size=2").json()
    assert len(first["items"]) == 2 and first["next_page"] == 2
    last = stack.gateway.get("/api/v1/books?page_size=2&page=3").json()
    assert len(last["items"]) == 1 and last["next_page"] is None
    assert stack.gateway.get("/api/v1/books?author=Nobody").json()["items"] == []


def test_unknown_book_is_404_naming_the_instance_that_said_so(stack):
    reply = stack.gateway.get(f"/api/v1/books/{UNKNOWN}")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"
    # Without etcd an instance is known by its address.
    assert reply.headers["X-Served-By"] in {stack.named(book) for book in stack.books}


def test_book_reads_alternate_between_the_replicas(start_stack):
    stack = start_stack({"KIT_BALANCER": "round_robin"})
    _, auth = stack.sign_up()
    book = stack.create_book(auth)
    served = [stack.gateway.get(f"/api/v1/books/{book}").headers["X-Served-By"]
              for _ in range(6)]
    assert set(served) == {stack.named(book) for book in stack.books}
    assert all(a != b for a, b in zip(served, served[1:], strict=False)), served


def test_shelf_add_then_read_the_fan_out(stack):
    user_id, auth = stack.sign_up()
    dune = stack.create_book(auth, "Dune")
    emma = stack.create_book(auth, "Emma")
    for book in (dune, emma, dune):  # adding twice is adding once
        added = stack.gateway.request("POST", f"/api/v1/users/{user_id}/shelf", headers=auth,
                                      json={"book_id": book})
        assert added.status_code == 200, added.text
    assert added.json()["book_ids"] == [dune, emma]
    user, books = stack.named(stack.user), {stack.named(book) for book in stack.books}
    assert added.json()["served_by"]["user"] == user
    assert added.json()["served_by"]["book"] in books
    assert added.headers["X-Served-By"] == f"{user},{added.json()['served_by']['book']}"

    shelf = stack.gateway.get(f"/api/v1/users/{user_id}/shelf", headers=auth)
    assert shelf.status_code == 200, shelf.text
    body = shelf.json()
    assert body["user_id"] == user_id and body["book_ids"] == [dune, emma]
    assert [b["title"] for b in body["books"]] == ["Dune", "Emma"]
    assert body["degraded"] is False
    assert body["served_by"]["user"] == user
    assert body["served_by"]["book"] in books
    assert shelf.headers["X-Served-By"] == f"{user},{body['served_by']['book']}"


def test_a_new_users_shelf_is_empty(stack):
    user_id, auth = stack.sign_up()
    body = stack.gateway.get(f"/api/v1/users/{user_id}/shelf", headers=auth).json()
    assert (body["book_ids"], body["books"], body["degraded"]) == ([], [], False)


def test_an_unknown_book_never_reaches_the_shelf(stack):
    user_id, auth = stack.sign_up()
    reply = stack.gateway.request("POST", f"/api/v1/users/{user_id}/shelf", headers=auth,
                                  json={"book_id": UNKNOWN})
    assert reply.status_code == 404
    assert UNKNOWN in reply.json()["error"]["message"]
    assert reply.headers["X-Served-By"] in {stack.named(book) for book in stack.books}
    shelf = stack.gateway.get(f"/api/v1/users/{user_id}/shelf", headers=auth).json()
    assert shelf["book_ids"] == []


def test_a_refused_write_writes_nothing(stack):
    _, auth = stack.sign_up()
    for bad in ({"title": "Dune", "author": "F", "year": "1965"},
                {"title": "Dune", "author": "F", "year": 1965, "stock": -1},
                {"title": "", "author": "F", "year": 1965}):
        assert stack.gateway.request("POST", "/api/v1/books", headers=auth,
                                     json=bad).status_code == 400
    assert stack.gateway.get("/api/v1/books").json()["items"] == []


def test_every_answer_names_its_trace_or_nothing_when_tracing_is_off(stack):
    # Tracing is off in this process (no OTEL endpoint): no made-up trace ids.
    reply = stack.gateway.get("/api/v1/books")
    assert reply.status_code == 200
    assert "X-Trace-Id" not in reply.headers


# --- auth -------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/api/v1/users/{me}", None),
    ("GET", "/api/v1/users/{me}/shelf", None),
    ("POST", "/api/v1/users/{me}/shelf", {"book_id": UNKNOWN}),
    ("POST", "/api/v1/books", {"title": "Dune", "author": "Frank Herbert", "year": 1965}),
    ("PATCH", f"/api/v1/books/{UNKNOWN}/stock", {"delta": 1}),
]


OTHER_SECRET = "another secret, as long as a real one"


def _expired_token(user_id: str) -> str:
    issuer = JWTIssuer(JWT_SECRET, issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE,
                       ttl=-60)
    return issuer.issue(user_id)


def _bad_tokens(user_id: str) -> dict[str, str]:
    good = JWTIssuer(JWT_SECRET, issuer=DEFAULT_JWT_ISSUER, audience=DEFAULT_JWT_AUDIENCE)
    return {
        "garbage": "Bearer not.a.token",
        "wrong secret": "Bearer " + JWTIssuer(OTHER_SECRET, issuer=DEFAULT_JWT_ISSUER,
                                              audience=DEFAULT_JWT_AUDIENCE).issue(user_id),
        "wrong issuer": "Bearer " + JWTIssuer(JWT_SECRET, issuer="someone",
                                              audience=DEFAULT_JWT_AUDIENCE).issue(user_id),
        "wrong audience": "Bearer " + JWTIssuer(JWT_SECRET, issuer=DEFAULT_JWT_ISSUER,
                                                audience="other").issue(user_id),
        "expired": "Bearer " + _expired_token(user_id),
        "alg none": "Bearer " + jwt.encode({"sub": user_id, "exp": 2**31}, None,
                                           algorithm="none"),
        "basic scheme": "Basic " + good.issue(user_id),
        "empty bearer": "Bearer ",
    }


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_routes_need_a_valid_token(stack, method, path, body):
    user_id, _ = stack.sign_up()
    path = path.format(me=user_id)
    missing = stack.gateway.request(method, path, json=body)
    assert missing.status_code == 401, missing.text
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    for what, header in _bad_tokens(user_id).items():
        reply = stack.gateway.request(method, path, json=body, headers={"Authorization": header})
        assert reply.status_code == 401, (what, reply.text)


@pytest.mark.parametrize(("method", "path", "body"),
                         [route for route in PROTECTED if "{me}" in route[1]])
def test_a_users_routes_refuse_another_users_token(stack, method, path, body):
    owner, _ = stack.sign_up("Owner")
    _, intruder = stack.sign_up("Intruder")
    reply = stack.gateway.request(method, path.format(me=owner), json=body, headers=intruder)
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"]["code"] == "permission_denied"


def test_public_reads_need_no_token(stack):
    assert stack.gateway.get("/api/v1/books").status_code == 200
    assert stack.gateway.get(f"/api/v1/books/{UNKNOWN}").status_code == 404
