"""Fixtures for the gateway tests: a real gateway on a free port, configured per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pytest
import requests
from gateway.__main__ import Gateway, build
from gateway.config import GatewayConfig

from kitcore.app import App
from kitcore.auth import JWTIssuer
from kitcore.config import DEFAULT_JWT_SECRET
from kitcore.testing.process import free_port

NOWHERE = "127.0.0.1:9"
"""An address where nothing listens (the discard port): a backend that is down."""


@dataclass
class RunningGateway:
    """A gateway serving on a free port: its base URL and its wiring."""

    url: str
    wired: Gateway
    app: App

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET ``path`` on the gateway."""
        return requests.request("GET", self.url + path, timeout=10, **kwargs)

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """Send ``method path`` to the gateway."""
        return requests.request(method, self.url + path, timeout=10, **kwargs)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., RunningGateway]]:
    """Start gateways with extra environment settings; stopped after the test."""
    running: list[RunningGateway] = []

    def start(env: Mapping[str, str] | None = None) -> RunningGateway:
        environ = {
            "KIT_HTTP_PORT": str(free_port()),
            "KIT_INSTANCE_ID": "gateway-test",
            "KIT_USER_ADDRS": NOWHERE,
            "KIT_BOOK_ADDRS": NOWHERE,
            "KIT_RATE_LIMIT": "1000/second",
            "KIT_SHUTDOWN_GRACE": "2",
            **(env or {}),
        }
        cfg = GatewayConfig.from_env(environ)
        wired = build(cfg)
        app = App(cfg.kit, http_app=wired.http_app, readiness=wired.readiness).start()
        gateway = RunningGateway(f"http://127.0.0.1:{cfg.kit.http_port}", wired, app)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.app.stop()
        gateway.wired.close()


@pytest.fixture
def lone_gateway(start_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    """A gateway whose backends are all down."""
    return start_gateway()


@pytest.fixture
def token_for() -> Callable[[str], str]:
    """Sign a token for a user id as the user service would."""
    issuer = JWTIssuer(DEFAULT_JWT_SECRET, issuer="kitcore-user", audience="kitcore", ttl=600)
    return issuer.issue
