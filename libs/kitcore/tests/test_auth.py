"""Tests for kitcore.auth: JWT issue/verify (HS256, RS256), every bad-token case, basic auth."""

from __future__ import annotations

import base64
import time

import flask
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kitcore import auth, errors
from kitcore.endpoint import Context
from kitcore.transport import http_admin

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def _claims_endpoint(ctx: Context, request: object) -> object:
    return ctx.value("claims")


def _bearer(token: str) -> Context:
    return Context.background().with_metadata({"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def rsa_pems() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def verifier() -> auth.JWTVerifier:
    return auth.JWTVerifier(secret=SECRET, issuer="kitcore-user", audience="kitcore")


@pytest.fixture
def issuer() -> auth.JWTIssuer:
    return auth.JWTIssuer(SECRET, "HS256", issuer="kitcore-user", audience="kitcore", ttl=60)


def test_hs256_round_trip_puts_claims_in_ctx(verifier, issuer):
    token = issuer.issue("user-1", {"name": "Ada"})
    endpoint = auth.jwt_middleware(verifier)(_claims_endpoint)
    claims = endpoint(_bearer(token), None)
    assert claims["sub"] == "user-1"
    assert claims["name"] == "Ada"
    assert claims["iss"] == "kitcore-user" and claims["aud"] == "kitcore"
    assert claims["exp"] - claims["iat"] == 60


def test_rs256_with_a_key_pair(rsa_pems):
    private, public = rsa_pems
    token = auth.JWTIssuer(private, "RS256", ttl=60).issue("user-2")
    verifier = auth.JWTVerifier(public_key=public.decode(), algorithms=("RS256",))
    assert verifier.verify(token)["sub"] == "user-2"

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = auth.JWTIssuer(other, "RS256", ttl=60).issue("user-2")
    with pytest.raises(errors.Unauthenticated, match="invalid token"):
        verifier.verify(forged)


def test_hs256_token_signed_with_the_public_key_is_refused(rsa_pems):
    # Algorithm confusion: an HS256 token whose "secret" is the RSA public key.
    _, public = rsa_pems
    verifier = auth.JWTVerifier(public_key=public, algorithms=("RS256",))
    forged = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(errors.Unauthenticated, match="alg"):
        verifier.verify(forged)


def _unauthenticated_message(verifier: auth.JWTVerifier, ctx: Context) -> str:
    endpoint = auth.jwt_middleware(verifier)(_claims_endpoint)
    with pytest.raises(errors.Unauthenticated) as caught:
        endpoint(ctx, None)
    assert caught.value.wire.http_status == 401
    assert caught.value.headers["WWW-Authenticate"] == "Bearer"
    return caught.value.message


def _token(**overrides: object) -> str:
    now = int(time.time())
    claims = {"sub": "u", "iat": now, "exp": now + 60, "iss": "kitcore-user", "aud": "kitcore"}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, "HS256")


def test_missing_header(verifier):
    assert "missing bearer token" in _unauthenticated_message(verifier, Context.background())


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token-without-scheme"])
def test_malformed_header(verifier, header):
    ctx = Context.background().with_metadata({"authorization": header})
    assert "Bearer <token>" in _unauthenticated_message(verifier, ctx)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_malformed_token(verifier, token):
    assert _unauthenticated_message(verifier, _bearer(token)).startswith("invalid token")


def test_expired_token(verifier):
    message = _unauthenticated_message(verifier, _bearer(_token(exp=int(time.time()) - 5)))
    assert "expired" in message


def test_leeway_accepts_a_recently_expired_token():
    verifier = auth.JWTVerifier(secret=SECRET, leeway=30)
    assert verifier.verify(_token(exp=int(time.time()) - 5, iss=None, aud=None))["sub"] == "u"


def test_token_without_expiry(verifier):
    assert '"exp"' in _unauthenticated_message(verifier, _bearer(_token(exp=None)))


def test_wrong_signature(verifier):
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60, "iss": "kitcore-user",
                        "aud": "kitcore"}, "another-secret-of-the-same-sort-1234", "HS256")
    assert "Signature verification failed" in _unauthenticated_message(verifier, _bearer(token))


def test_alg_none_is_refused(verifier):
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60, "iss": "kitcore-user",
                        "aud": "kitcore"}, None, algorithm="none")
    assert "alg" in _unauthenticated_message(verifier, _bearer(token))
    with pytest.raises(ValueError):
        auth.JWTVerifier(secret=SECRET, algorithms=("HS256", "none"))


def test_wrong_issuer(verifier):
    assert "issuer" in _unauthenticated_message(verifier, _bearer(_token(iss="other"))).lower()
    assert '"iss"' in _unauthenticated_message(verifier, _bearer(_token(iss=None)))


def test_wrong_audience(verifier):
    assert "audience" in _unauthenticated_message(verifier, _bearer(_token(aud="other"))).lower()
    assert '"aud"' in _unauthenticated_message(verifier, _bearer(_token(aud=None)))


def test_verifier_needs_exactly_one_key():
    with pytest.raises(ValueError):
        auth.JWTVerifier()
    with pytest.raises(ValueError):
        auth.JWTVerifier(secret="s", public_key="p")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (_basic("admin", "s3cret"), True),
        (_basic("admin", "wrong"), False),
        (_basic("root", "s3cret"), False),
        (_basic("admin", ""), False),
        ("Basic " + base64.b64encode(b"admins3cret").decode(), False),  # no colon
        ("Basic !!!not-base64!!!", False),
        ("Bearer abc", False),
        ("", False),
        (None, False),
    ],
)
def test_check_basic_auth(header, ok):
    assert auth.check_basic_auth(header, "admin", "s3cret") is ok


def test_empty_configured_password_accepts_nobody():
    assert auth.check_basic_auth(_basic("admin", ""), "admin", "") is False


def test_basic_auth_middleware():
    endpoint = auth.basic_auth_middleware("admin", "s3cret")(lambda ctx, req: "in")
    good = Context.background().with_metadata({"Authorization": _basic("admin", "s3cret")})
    assert endpoint(good, None) == "in"
    with pytest.raises(errors.Unauthenticated) as caught:
        endpoint(Context.background(), None)
    assert caught.value.headers["WWW-Authenticate"].startswith("Basic")


def test_basic_auth_flask_decorator():
    app = flask.Flask("admin")  # a plain Flask app: the decorator encodes its own 401

    @app.get("/admin")
    @http_admin.basic_auth_required("admin", "s3cret")
    def admin():
        return {"ok": True}

    client = app.test_client()
    assert client.get("/admin", headers={"Authorization": _basic("admin", "s3cret")}).json == {
        "ok": True
    }
    denied = client.get("/admin")
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == 'Basic realm="admin"'
    assert denied.json["error"]["code"] == "unauthenticated"
    assert client.get("/admin", headers={"Authorization": _basic("admin", "x")}).status_code == 401
