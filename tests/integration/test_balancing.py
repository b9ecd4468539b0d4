"""Balancing: calls through the gateway to a book route spread over both replicas.

N = 60 sequential GET /api/v1/books/{id}; each replica must serve N/2 +- N/4
(15 to 45). Round robin gives exactly 30 each; a random or least-loaded choice
between two idle replicas is binomial (standard deviation ~3.9), so a fair
balancer fails this bound about once in 10,000 runs, while sending everything
(or 3 in 4 calls) to one replica always fails it.
"""

from __future__ import annotations

from collections import Counter

from integration.api import User
from integration.stack import BOOK_REPLICAS, Stack

CALLS = 60
TOLERANCE = CALLS // 4


def test_book_reads_spread_over_both_replicas(stack: Stack, user: User) -> None:
    """Each replica serves N/2 +- N/4 of N reads, and says so in X-Served-By."""
    book = stack.probe_book()
    served = Counter()
    for _ in range(CALLS):
        reply = stack.api.get(f"/api/v1/books/{book}", headers=user.auth)
        assert reply.status_code == 200, reply.text
        assert reply.json()["served_by"] == reply.headers["X-Served-By"], reply.text
        served[reply.headers["X-Served-By"]] += 1

    assert set(served) == set(BOOK_REPLICAS), served
    for replica in BOOK_REPLICAS:
        assert abs(served[replica] - CALLS / 2) <= TOLERANCE, served
