"""The running stack as the tests see it: compose handle, public URLs, a gateway
client, and waits for "whole and serving" (every instance registered, the
gateway ready and reaching both book replicas).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from integration import in_stack
from integration.api import Gateway, User
from integration.compose import Compose
from integration.polling import eventually

EXPECTED_INSTANCES = {
    "book": {"book-1", "book-2"},
    "user": {"user", "user-2"},
    "gateway": {"gateway", "gateway-2"},
}
"""Instance ids that must be registered in etcd while the whole stack runs."""

BOOK_REPLICAS = ("book-1", "book-2")
"""The book service's compose services, which are also their instance ids."""

USER_REPLICAS = ("user", "user-2")
"""The user service's compose services, which are also their instance ids."""

PREFIX = "/kitcore/services/"
"""The discovery contract's key prefix."""

REGISTER_TTL = 5
"""KIT_REGISTER_TTL in docker-compose.override.yml: seconds a crashed instance stays
registered (short for the suite, yet long enough that a keepalive thread starved
on a busy machine does not let a live instance's lease lapse)."""


@dataclass
class Stack:
    """The running stack: compose handle, public URLs and a gateway client."""

    compose: Compose
    gateway_url: str
    jaeger_url: str
    prometheus_url: str
    api: Gateway
    startup_timeout: float = 240.0
    _prober: User | None = field(default=None, repr=False)
    _probe_book: str = field(default="", repr=False)

    def prober(self) -> User:
        """A user kept for probing calls (created on first use, while the stack warms up)."""
        if self._prober is None:
            self._prober = eventually(lambda: self.api.new_user("Prober"), timeout=30)
        return self._prober

    def probe_book(self) -> str:
        """The id of one book that exists (created on first use, while the stack warms up)."""
        if not self._probe_book:
            prober = self.prober()
            book = eventually(lambda: self.api.create_book(prober, title="Probe"), timeout=30)
            self._probe_book = book["id"]
        return self._probe_book

    def registered_ids(self, service: str) -> set[str]:
        """The instance ids registered for ``service`` right now."""
        found = in_stack.registrations(self.compose, f"{PREFIX}{service}/")
        return {r.value.get("id") for r in found.values()}

    def wait_registered(self, timeout: float = 30.0) -> dict[str, in_stack.Registration]:
        """Wait until every expected instance is registered in etcd; the registrations."""

        def all_registered() -> dict[str, in_stack.Registration]:
            found = in_stack.registrations(self.compose)
            for service, ids in EXPECTED_INSTANCES.items():
                have = {r.value.get("id") for r in found.values()
                        if r.key.startswith(f"{PREFIX}{service}/")}
                assert ids <= have, f"{service}: registered {sorted(have)}, want {sorted(ids)}"
            return found

        return eventually(all_registered, timeout=timeout, interval=0.5)

    def wait_serving(self, timeout: float = 30.0) -> None:
        """Wait until the gateway is ready and reaches both book replicas."""

        def ready() -> None:
            reply = requests.get(f"{self.gateway_url}/readyz", timeout=5)
            assert reply.status_code == 200, f"gateway /readyz: {reply.status_code}"

        eventually(ready, timeout=timeout)
        book, auth = self.probe_book(), self.prober().auth
        seen: set[str] = set()

        def both_replicas() -> None:
            reply = self.api.get(f"/api/v1/books/{book}", headers=auth)
            assert reply.status_code == 200, reply.text
            seen.add(reply.headers.get("X-Served-By", ""))
            assert set(BOOK_REPLICAS) <= seen, f"served by {sorted(seen)} so far"

        try:
            eventually(both_replicas, timeout=timeout, interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.gateway_view()}") from exc
        # Whole again also means the gateway no longer refuses calls locally for what an
        # earlier fault left in its throttle's window (seconds of failures, little traffic
        # since); a shelf read calls both backends and so updates both ratios.
        prober = self.prober()

        def not_throttling() -> None:
            self.api.get(f"/api/v1/users/{prober.id}/shelf", headers=auth)
            metrics = requests.get(f"{self.gateway_url}/metrics", timeout=5).text
            refusing = [line for line in metrics.splitlines()
                        if line.startswith("kit_client_throttle_ratio{")
                        and float(line.rsplit(" ", 1)[1]) > 0]
            assert not refusing, f"the gateway still throttles: {refusing}"

        eventually(not_throttling, timeout=timeout, interval=0.5)

    def gateway_view(self) -> str:
        """What the gateway knows of its backends: its kit_* metrics per backend and
        instance (breakers, throttle, bulkhead, retries) and its last log lines."""
        metrics = requests.get(f"{self.gateway_url}/metrics", timeout=5).text
        kit = [line for line in metrics.splitlines()
               if line.startswith(("kit_circuit", "kit_client", "kit_bulkhead", "kit_retr",
                                   "kit_hedges", "kit_concurrency", "kit_balancer"))]
        logs = self.compose.logs("gateway").splitlines()[-40:]
        return "gateway metrics:\n" + "\n".join(kit) + "\ngateway log:\n" + "\n".join(logs)

    def restore(self) -> None:
        """Bring back anything a test stopped, and wait until all serves again."""
        self.compose.up(timeout=self.startup_timeout)
        self.wait_registered(timeout=60)
        self.wait_serving(timeout=60)
