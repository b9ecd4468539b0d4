"""Reach what is not published to the host (etcd, gateway-2, admin routes) from
inside the stack: small stdlib-only Python programs run in a stack container.

Each program takes its input as one JSON argument and prints one JSON document,
so nothing is quoted through a shell. They need only ``python3`` in the
container, which every kitcore service image has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from integration.compose import Compose

PROBE = "gateway"
"""The container the programs run in: always up, on the stack's network."""

ETCD_URL = "http://etcd:2379"
"""etcd's v3 JSON gateway as seen inside the stack."""

_ETCD_PROGRAM = r"""
import base64, json, sys, urllib.request
args = json.loads(sys.argv[1])
b64 = lambda raw: base64.b64encode(raw).decode()
def call(path, body):
    req = urllib.request.Request(args["url"] + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=3) as resp:
        return json.load(resp)
if args["op"] == "range":
    prefix = args["prefix"].encode()
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    reply = call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end)})
    print(json.dumps([{"key": base64.b64decode(kv["key"]).decode(),
                       "value": base64.b64decode(kv.get("value", "")).decode(),
                       "lease": kv.get("lease", "0")} for kv in reply.get("kvs", [])]))
elif args["op"] == "revoke":
    print(json.dumps(call("/v3/lease/revoke", {"ID": args["lease"]})))
elif args["op"] == "ttl":
    print(json.dumps(call("/v3/lease/timetolive", {"ID": args["lease"]})))
"""

_HTTP_PROGRAM = r"""
import base64, concurrent.futures, json, sys, time, urllib.error, urllib.request
args = json.loads(sys.argv[1])
def send(r):
    data = None if r.get("json") is None else json.dumps(r["json"]).encode()
    req = urllib.request.Request(r["url"], data=data, method=r.get("method", "GET"))
    for name, value in (r.get("headers") or {}).items():
        req.add_header(name, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if r.get("auth"):
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(":".join(r["auth"]).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=r.get("timeout", 5)) as resp:
            status, headers, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, headers, body = err.code, err.headers, err.read()
    except OSError as err:
        status, headers, body = 0, {}, str(err).encode()
    return {"status": status, "headers": {k.lower(): v for k, v in headers.items()},
            "body": body.decode("utf-8", "replace")}
started = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(args["threads"]) as pool:
    replies = list(pool.map(send, args["calls"]))
print(json.dumps({"elapsed": time.monotonic() - started, "replies": replies}))
"""


@dataclass(frozen=True)
class Registration:
    """One key under the discovery prefix: its instance value and its lease."""

    key: str
    value: dict[str, Any]
    lease: str


@dataclass(frozen=True)
class Reply:
    """One HTTP answer received inside the stack."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def registrations(compose: Compose, prefix: str = "/kitcore/services/") -> dict[str, Registration]:
    """Every key under ``prefix`` in etcd, by key (raises ComposeError if etcd is away)."""
    raw = compose.python_json(PROBE, _ETCD_PROGRAM,
                              json.dumps({"url": ETCD_URL, "op": "range", "prefix": prefix}))
    return {kv["key"]: Registration(kv["key"], json.loads(kv["value"]), kv["lease"]) for kv in raw}


def revoke_lease(compose: Compose, lease: str) -> None:
    """Revoke an etcd lease, deleting its keys (as if etcd had lost the registration)."""
    compose.python_json(PROBE, _ETCD_PROGRAM,
                        json.dumps({"url": ETCD_URL, "op": "revoke", "lease": lease}))


def lease_ttl(compose: Compose, lease: str) -> tuple[int, int]:
    """``(granted TTL, seconds left)`` of an etcd lease; seconds left is -1 once it is gone."""
    reply = compose.python_json(PROBE, _ETCD_PROGRAM,
                                json.dumps({"url": ETCD_URL, "op": "ttl", "lease": lease}))
    return int(reply.get("grantedTTL", 0)), int(reply.get("TTL", -1))


def http(compose: Compose, calls: list[dict[str, Any]], *, threads: int = 1,
         via: str = PROBE) -> list[Reply]:
    """Send HTTP calls from inside the stack, in order (``threads=1``) or concurrently.

    Each call is ``{"url", "method"?, "headers"?, "json"?, "auth"?: [user, password],
    "timeout"?}``; the answers come back in the calls' order (status 0: no connection).
    """
    return burst(compose, calls, threads=threads, via=via)[1]


def burst(compose: Compose, calls: list[dict[str, Any]], *, threads: int,
          via: str = PROBE) -> tuple[float, list[Reply]]:
    """Like :func:`http`, also returning how many seconds sending them all took."""
    raw = compose.python_json(via, _HTTP_PROGRAM,
                              json.dumps({"calls": calls, "threads": threads}), timeout=120)
    replies = [Reply(r["status"], r["headers"], r["body"]) for r in raw["replies"]]
    return float(raw["elapsed"]), replies


def set_faults(compose: Compose, service: str, *, error_rate: float,
               latency_ms: float = 0.0) -> dict[str, float]:
    """Turn a backend's fault knobs through its admin route (basic auth, inside the
    stack only), with the admin credentials the container runs with; the new knobs."""
    env = compose.env(service)
    admin = [env.get("KIT_ADMIN_USER") or "admin", env.get("KIT_ADMIN_PASSWORD", "")]
    reply = http(compose, [{"url": f"http://{service}:8080/admin/faults", "method": "PUT",
                            "json": {"error_rate": error_rate, "latency_ms": latency_ms},
                            "auth": admin}])[0]
    assert reply.status == 200, f"PUT {service}/admin/faults: {reply}"
    return dict(reply.json())
