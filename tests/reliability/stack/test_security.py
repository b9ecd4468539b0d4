"""Security basics of the running stack: only the gateway and the two UIs are
published, the Python services run as a user other than root, no secret is
baked into an image (compose hands them in at run time), the admin routes
refuse missing and wrong credentials, and the gateway refuses every kind of
bad token (unsigned, wrongly signed, expired, another user's, wrong algorithm,
audience or issuer).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from integration import in_stack
from integration.api import User
from integration.stack import Stack

from kitcore.config import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER

PUBLISHED = {("gateway", "8080/tcp"), ("jaeger", "16686/tcp"), ("prometheus", "9090/tcp")}
"""(compose service, container port) of everything the stack may publish to the host."""

PYTHON_SERVICES = ("book-1", "book-2", "user", "user-2", "gateway", "gateway-2")
ADMIN_SERVICES = ("book-1", "book-2", "user", "user-2")
"""The services with the ``/admin/faults`` route (the demo knobs)."""

SECRET_VARIABLES = ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "POSTGRES_PASSWORD", "DATABASE_URL")
"""Variables that carry a secret: compose sets them; no image may."""

PROBE_LATENCY_MS = 7
"""The latency the refused PUTs ask for: harmless if one got through, and seen if it did."""

ISSUER, AUDIENCE = DEFAULT_JWT_ISSUER, DEFAULT_JWT_AUDIENCE
"""The claims the gateway requires (the user service's tokens)."""


def _docker(*args: str, timeout: float = 60.0) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=True)
    return done.stdout


def _containers(stack: Stack) -> list[dict[str, Any]]:
    """``docker inspect`` of every container of the project."""
    ids = stack.compose.run("ps", "-a", "-q").split()
    assert ids, "no containers in the project"
    return json.loads(_docker("inspect", *ids))


def _service(container: dict[str, Any]) -> str:
    return container["Config"]["Labels"]["com.docker.compose.service"]


# --- published ports ------------------------------------------------------------------


def test_only_the_gateway_and_the_two_uis_are_published(stack: Stack) -> None:
    """No container binds a host port besides gateway:8080, jaeger:16686, prometheus:9090."""
    published = set()
    for container in _containers(stack):
        for port, bindings in (container["NetworkSettings"]["Ports"] or {}).items():
            if bindings:
                published.add((_service(container), port))
    assert published == PUBLISHED, f"published to the host: {sorted(published)}"

    gateway_port = urlsplit(stack.gateway_url).port
    assert stack.compose.run("port", "gateway", "8080").strip().endswith(f":{gateway_port}")


# --- users --------------------------------------------------------------------------


_UIDS = r"""
import json, os
status = dict(line.split(":", 1) for line in open("/proc/1/status") if ":" in line)
print(json.dumps({"main": status["Uid"].split(), "exec": [os.getuid(), os.geteuid()]}))
"""


@pytest.mark.parametrize("service", PYTHON_SERVICES)
def test_python_service_runs_as_non_root(stack: Stack, service: str) -> None:
    """The image names a user, and the service's process (PID 1) and an exec are not root."""
    container = stack.compose.container(service)
    user = container["Config"]["User"]
    assert user and user.split(":")[0] not in ("root", "0"), f"{service} user: {user!r}"
    uids = stack.compose.python_json(service, _UIDS)
    real, effective, saved, _fs = (int(uid) for uid in uids["main"])
    assert 0 not in (real, effective, saved), f"{service} PID 1 uids: {uids['main']}"
    assert 0 not in uids["exec"], f"{service} exec uids: {uids['exec']}"


# --- secrets --------------------------------------------------------------------------


def _secrets(stack: Stack) -> dict[str, str]:
    """The secret values the stack runs with, as compose handed them to the containers."""
    found = {}
    wanted = {"gateway": ("KIT_JWT_SECRET",), "book-1": ("KIT_ADMIN_PASSWORD", "DATABASE_URL"),
              "user": ("KIT_JWT_SECRET", "KIT_ADMIN_PASSWORD", "DATABASE_URL")}
    for service, names in wanted.items():
        env = stack.compose.env(service)
        for name in names:
            assert env.get(name), f"{service} runs without {name}: compose must provide it"
            found[name] = env[name]
    found["POSTGRES_PASSWORD"] = stack.compose.env("postgres")["POSTGRES_PASSWORD"]
    return found


def _images(stack: Stack) -> set[str]:
    return {container["Image"] for container in _containers(stack)}


def test_no_image_carries_a_secret_in_its_config_or_history(stack: Stack) -> None:
    """No image of the project sets a secret variable, and no build step mentions a
    secret variable or the JWT secret's value."""
    jwt_secret = _secrets(stack)["KIT_JWT_SECRET"]
    for image in sorted(_images(stack)):
        config = json.loads(_docker("image", "inspect", image))[0]["Config"]
        names = {pair.split("=", 1)[0] for pair in config.get("Env") or []}
        assert not names & set(SECRET_VARIABLES), f"{image} sets {names & set(SECRET_VARIABLES)}"
        history = _docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        for needle in (*SECRET_VARIABLES, jwt_secret):
            assert needle not in history, f"{image}'s build history mentions {needle!r}"
        labels = json.dumps(config.get("Labels") or {})
        assert jwt_secret not in labels, f"{image}'s labels hold the JWT secret"


def _layers(images: list[str]) -> Iterator[bytes]:
    """The bytes of ``docker save`` of the images, in chunks."""
    with subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE) as save:
        assert save.stdout is not None
        while chunk := save.stdout.read(1 << 20):
            yield chunk
    assert save.returncode == 0, "docker save failed"


def test_no_secret_value_is_in_any_layer_of_the_service_images(stack: Stack) -> None:
    """Neither the JWT secret nor the database URL (with its password) is anywhere in
    the Python services' image files: they exist only in the containers' environment."""
    secrets = _secrets(stack)
    needles = [secrets["KIT_JWT_SECRET"].encode(), secrets["DATABASE_URL"].encode()]
    images = sorted({stack.compose.container(s)["Image"] for s in ("book-1", "user", "gateway")})
    tail = b""
    width = max(len(n) for n in needles)
    for chunk in _layers(images):
        window = tail + chunk
        for needle in needles:
            assert needle not in window, f"{needle[:12]!r}... is in the images {images}"
        tail = window[-width:]


# --- admin routes ---------------------------------------------------------------------


def _admin_call(service: str, method: str, auth: list[str] | None) -> dict[str, Any]:
    call: dict[str, Any] = {"url": f"http://{service}:8080/admin/faults", "method": method}
    if method == "PUT":
        call["json"] = {"error_rate": 0, "latency_ms": PROBE_LATENCY_MS}
    if auth:
        call["auth"] = auth
    return call


def test_admin_routes_refuse_missing_and_wrong_credentials(stack: Stack) -> None:
    """GET and PUT /admin/faults are 401 (asking for Basic) without credentials, with a
    wrong password or user; the right ones are let in (the route is there)."""
    env = stack.compose.env("book-1")
    admin, password = env.get("KIT_ADMIN_USER") or "admin", env["KIT_ADMIN_PASSWORD"]
    wrong = {"none": None, "wrong password": [admin, password + "x"],
             "wrong user": [admin + "x", password], "empty password": [admin, ""]}
    refused = [(what, service, method) for what in wrong for method in ("GET", "PUT")
               for service in ADMIN_SERVICES]
    calls = [_admin_call(service, method, wrong[what]) for what, service, method in refused]
    calls += [_admin_call(service, "GET", [admin, password]) for service in ADMIN_SERVICES]
    replies = in_stack.http(stack.compose, calls)  # in order: the refused, then the right

    for (what, service, method), reply in zip(refused, replies, strict=False):
        assert reply.status == 401, f"{method} {service} admin, {what}: {reply}"
        assert reply.json()["error"]["code"] == "unauthenticated", reply.body
        assert reply.headers.get("www-authenticate", "").startswith("Basic"), reply
    for service, reply in zip(ADMIN_SERVICES, replies[len(refused):], strict=True):
        assert reply.status == 200, f"{service} admin with the right credentials: {reply}"
        assert reply.json()["latency_ms"] != PROBE_LATENCY_MS, f"a refused PUT reached {service}"


def test_admin_route_is_not_reachable_through_the_gateway(stack: Stack) -> None:
    """The public gateway does not serve or forward /admin/faults, even with the credentials."""
    env = stack.compose.env("book-1")
    admin = (env.get("KIT_ADMIN_USER") or "admin", env["KIT_ADMIN_PASSWORD"])
    reply = stack.api.get("/admin/faults", auth=admin)
    assert reply.status_code == 404, reply.text


# --- tokens ---------------------------------------------------------------------------


def _claims(subject: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")


def _tampered(token: str, subject: str) -> str:
    """``token`` with its payload's subject changed and the old signature kept."""
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "sub": subject}).encode()).decode()
    assert forged != payload
    return f"{header}.{forged}.{signature}"


def _bad_tokens(secret: str, me: User, other: User) -> dict[str, tuple[str, int]]:
    """Name -> (token, status) of every token that must be refused on my resources."""
    now = int(time.time())
    return {
        "alg none": (_unsigned(_claims(me.id)), 401),
        "alg none, empty signature kept": (_unsigned(_claims(me.id)) + "AAAA", 401),
        "wrong key": (jwt.encode(_claims(me.id), "not-the-secret" * 3, "HS256"), 401),
        "right key, HS512": (jwt.encode(_claims(me.id), secret, "HS512"), 401),
        "expired": (jwt.encode(_claims(me.id, iat=now - 7200, exp=now - 3600), secret,
                               "HS256"), 401),
        "no expiry": (jwt.encode(_claims(me.id, exp=None), secret, "HS256"), 401),
        "not yet valid": (jwt.encode(_claims(me.id, nbf=now + 3600), secret, "HS256"), 401),
        "wrong audience": (jwt.encode(_claims(me.id, aud="someone-else"), secret, "HS256"), 401),
        "wrong issuer": (jwt.encode(_claims(me.id, iss="evil"), secret, "HS256"), 401),
        "my token, subject changed": (_tampered(me.token, other.id), 401),
        "another user's token": (other.token, 403),
        "another user's forged-right token": (jwt.encode(_claims(other.id), secret, "HS256"), 403),
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512, on purpose
def test_bad_tokens_are_refused(stack: Stack) -> None:
    """Each bad token is 401 (or 403 for a valid token of another user) on my profile,
    my shelf and a shelf write, while my own token is let in."""
    me, other = stack.api.new_user("Me"), stack.api.new_user("Other")
    secret = stack.compose.env("gateway")["KIT_JWT_SECRET"]
    book = stack.probe_book()
    routes = [("GET", f"/api/v1/users/{me.id}", None),
              ("GET", f"/api/v1/users/{me.id}/shelf", None),
              ("POST", f"/api/v1/users/{me.id}/shelf", {"book_id": book})]
    for method, path, body in routes:
        reply = stack.api.request(method, path, json=body, headers=me.auth)
        assert reply.status_code == 200, f"{method} {path} with my own token: {reply.text}"
    for what, (token, status) in _bad_tokens(secret, me, other).items():
        for method, path, body in routes:
            reply = stack.api.request(method, path, json=body,
                                      headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == status, f"{what}: {method} {path}: {reply.text}"
            code = "unauthenticated" if status == 401 else "permission_denied"
            assert reply.json()["error"]["code"] == code, f"{what}: {reply.text}"
    shelf = stack.api.get(f"/api/v1/users/{me.id}/shelf", headers=me.auth).json()
    assert shelf["book_ids"] == [book], f"a refused write reached the shelf: {shelf}"
