"""Authentication: JWT bearer tokens (PyJWT) and HTTP basic auth.

:class:`JWTIssuer` signs tokens (the user service hands them out at login);
:class:`JWTVerifier` checks them: signature, algorithm (``none`` is never
accepted), expiry, and issuer/audience when configured. HS256 works with a
shared secret, RS256/ES256 with a key pair (PEM text or a loaded key).

:func:`jwt_middleware` reads ``authorization: Bearer <token>`` from the call's
metadata and passes the verified claims on as ``ctx.value("claims")``. Every
failure is :class:`kitcore.errors.Unauthenticated` (HTTP 401, gRPC
UNAUTHENTICATED) with a message saying what was wrong.

:func:`basic_auth_middleware` (and :func:`kitcore.transport.http_admin.basic_auth_required`
for Flask views such as admin routes) check ``authorization: Basic ...`` in
constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware

CLAIMS = "claims"
"""The Context value name under which :func:`jwt_middleware` puts the verified claims."""


def _unauthenticated(message: str, scheme: str = "Bearer") -> errors.Unauthenticated:
    return errors.Unauthenticated(message, headers={"WWW-Authenticate": scheme})


def _load_key(key: Any, loader: Callable[[bytes], Any]) -> Any:
    """A PEM key parsed once (PyJWT would parse PEM text on every call)."""
    if isinstance(key, str):
        key = key.encode()
    return loader(key) if isinstance(key, bytes) else key


class JWTVerifier:
    """Verifies bearer tokens and returns their claims."""

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        public_key: Any = None,
        algorithms: Sequence[str] = ("HS256",),
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 0,
    ) -> None:
        if (secret is None) == (public_key is None):
            raise ValueError("give exactly one of secret or public_key")
        if any(alg.lower() == "none" for alg in algorithms):
            raise ValueError('the "none" algorithm is never accepted')
        self._key = secret if secret is not None else _load_key(
            public_key, serialization.load_pem_public_key
        )
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; :class:`kitcore.errors.Unauthenticated` otherwise."""
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp"]},
            )
        except jwt.InvalidTokenError as exc:
            raise _unauthenticated(f"invalid token: {exc}") from None


class JWTIssuer:
    """Signs tokens for a subject, valid for ``ttl`` seconds."""

    def __init__(
        self,
        key: Any,
        algorithm: str = "HS256",
        issuer: str | None = None,
        audience: str | None = None,
        ttl: float = 3600,
    ) -> None:
        if algorithm.startswith("HS"):
            self._key = key
        else:
            self._key = _load_key(
                key, lambda pem: serialization.load_pem_private_key(pem, password=None)
            )
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    def issue(self, subject: str, claims: Mapping[str, Any] | None = None) -> str:
        """A signed token for ``subject`` with ``iat``, ``exp``, ``iss``, ``aud`` and ``claims``."""
        now = int(time.time())
        payload: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + int(self.ttl)}
        if self.issuer:
            payload["iss"] = self.issuer
        if self.audience:
            payload["aud"] = self.audience
        payload.update(claims or {})
        return jwt.encode(payload, self._key, algorithm=self.algorithm)


def bearer_token(metadata: Mapping[str, str]) -> str:
    """The token of an ``authorization: Bearer <token>`` entry, or Unauthenticated."""
    header = metadata.get("authorization")
    if not header:
        raise _unauthenticated("missing bearer token (authorization header)")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("authorization header must be 'Bearer <token>'")
    return token.strip()


def jwt_middleware(verifier: JWTVerifier) -> Middleware:
    """Require a valid bearer token and put its claims in ``ctx.value("claims")``."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            claims = verifier.verify(bearer_token(ctx.metadata))
            return next_endpoint(ctx.with_value(CLAIMS, claims), request)

        return endpoint

    return wrap


def check_basic_auth(header: str | None, user: str, password: str) -> bool:
    """True when ``header`` is ``Basic base64(user:password)`` for these credentials.

    An empty configured password accepts nobody: admin routes stay closed
    until a password is set.
    """
    if not password:
        return False
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, sep, given_password = base64.b64decode(encoded, validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    # Compare both parts every time so the timing says nothing about which was wrong.
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return bool(sep) and user_ok and password_ok


def basic_auth_rejection() -> errors.Unauthenticated:
    """The 401 for missing or wrong basic credentials (``WWW-Authenticate: Basic``)."""
    return _unauthenticated("valid basic auth credentials required", 'Basic realm="admin"')


def basic_auth_middleware(user: str, password: str) -> Middleware:
    """Require ``authorization: Basic ...`` with these credentials."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            if not check_basic_auth(ctx.metadata.get("authorization"), user, password):
                raise basic_auth_rejection()
            return next_endpoint(ctx, request)

        return endpoint

    return wrap
