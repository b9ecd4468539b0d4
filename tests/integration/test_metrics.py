"""Metrics: Prometheus scrapes every service (all targets up), and the request
counters it stores grow with the traffic sent through the gateway.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from integration.api import User
from integration.observability import prometheus_query, prometheus_targets
from integration.polling import eventually
from integration.stack import USER_REPLICAS, Stack

SCRAPED = {"gateway", "book-1", "book-2", "user", "user-2"}
"""Hosts Prometheus must scrape (at least)."""

SCRAPE_WAIT = 60.0
"""Seconds for a new sample to reach Prometheus: a few scrape intervals."""

CALLS = 10


def _host(target: dict) -> str:
    return urlsplit(target["scrapeUrl"]).hostname or ""


def test_prometheus_scrapes_every_service(stack: Stack) -> None:
    """Every active target is up, and the services are among them."""

    def all_up() -> list[dict]:
        targets = prometheus_targets(stack.prometheus_url)
        hosts = {_host(t) for t in targets}
        assert hosts >= SCRAPED, f"scraped: {sorted(hosts)}, want at least {sorted(SCRAPED)}"
        down = {t["scrapeUrl"]: (t["health"], t.get("lastError")) for t in targets
                if t["health"] != "up"}
        assert not down, f"targets not up: {down}"
        return targets

    eventually(all_up, timeout=SCRAPE_WAIT, interval=1.0)


def _requests_by_host(stack: Stack) -> dict[str, float]:
    rows = prometheus_query(stack.prometheus_url, "sum by (instance) (kit_requests_total)")
    return {row["metric"]["instance"].rsplit(":", 1)[0]: float(row["value"][1]) for row in rows}


def test_request_counters_grow_with_traffic(stack: Stack, user: User) -> None:
    """kit_requests_total rises on the gateway, the book replicas and user."""
    before = eventually(lambda: _with_hosts(_requests_by_host(stack)), timeout=SCRAPE_WAIT,
                        interval=1.0)
    book = stack.probe_book()
    for _ in range(CALLS):
        assert stack.api.get(f"/api/v1/books/{book}", headers=user.auth).status_code == 200
        assert stack.api.get(f"/api/v1/users/{user.id}", headers=user.auth).status_code == 200

    def grown() -> None:
        after = _requests_by_host(stack)
        assert after.get("gateway", 0) - before["gateway"] >= 2 * CALLS, (before, after)
        user_calls = sum(after.get(r, 0) - before[r] for r in USER_REPLICAS)
        assert user_calls >= CALLS, (before, after)
        book_calls = sum(after.get(r, 0) - before[r] for r in ("book-1", "book-2"))
        assert book_calls >= CALLS, (before, after)

    eventually(grown, timeout=SCRAPE_WAIT, interval=1.0)


def _with_hosts(counts: dict[str, float]) -> dict[str, float]:
    missing = SCRAPED - set(counts)
    assert not missing, f"no kit_requests_total from {sorted(missing)} yet: {counts}"
    return counts
