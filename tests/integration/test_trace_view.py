"""The trace view in a real browser: the page a response's X-Trace-Id names
(``/trace/<id>`` on port 16686, Jaeger's URL) draws a shelf read's spans of
gateway, user and book. Works with the Jaeger stand-in's pages and with
Jaeger's UI; the screenshot goes to pytest's temporary folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from integration.api import User
from integration.observability import jaeger_trace
from integration.polling import eventually
from integration.stack import Stack

from kitcore.testing import browser

EXPORT_WAIT = 30.0
"""Seconds for the spans of every service to reach the trace store."""

SERVICES = {"gateway", "user", "book"}


def _shelf_read(stack: Stack, user: User) -> str:
    """Put a book on the user's shelf, read the shelf; the read's trace id."""
    book = stack.api.create_book(user, title="Traced")["id"]
    added = stack.api.post(f"/api/v1/users/{user.id}/shelf", json={"book_id": book},
                           headers=user.auth)
    assert added.status_code == 200, added.text
    reply = stack.api.get(f"/api/v1/users/{user.id}/shelf", headers=user.auth)
    assert reply.status_code == 200, reply.text
    return reply.headers["X-Trace-Id"]


def _all_arrived(stack: Stack, trace_id: str) -> None:
    services = {span.service for span in jaeger_trace(stack.jaeger_url, trace_id)}
    assert services >= SERVICES, f"services so far: {sorted(services)}"


@pytest.mark.skipif(browser.find_chromium() is None,
                    reason="no chromium (scripts/install-system-deps.sh installs it)")
def test_a_browser_draws_a_shelf_read_across_three_services(
        stack: Stack, user: User, tmp_path: Path) -> None:
    trace_id = _shelf_read(stack, user)
    eventually(lambda: _all_arrived(stack, trace_id), timeout=EXPORT_WAIT, interval=0.5)

    url = f"{stack.jaeger_url}/trace/{trace_id}"
    dom = browser.dump_dom(url, budget_ms=10_000)
    drawn = re.findall(r'<details class="span[^"]*" id="[0-9a-f]+" data-service="([^"]+)"', dom)
    if drawn:  # the stand-in: one row per span
        assert set(drawn) >= SERVICES, f"rows drawn: {drawn}"
        assert dom.count("<details") >= 5  # gateway, its two hops, user, book at least
    else:  # Jaeger's UI renders the service names into the page
        for service in SERVICES:
            assert service in dom, f"{service} not drawn on {url}"
    shot = browser.screenshot(url, tmp_path / "shelf-trace.png")
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
