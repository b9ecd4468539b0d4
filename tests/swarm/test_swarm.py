"""The stack on a real three-node Docker Swarm: deploy, roll, scale, lose a node.

The tests run in this order on one deployment: each starts from the state the
previous one left (two book replicas, then four).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import requests
from integration.api import Gateway, User
from integration.polling import eventually
from swarm.cluster import Cluster
from swarm.results import RESULTS
from swarm.stack import Stack

BOOKS = "/kitcore/services/book/"


class Reader(threading.Thread):
    """Reads one book through the gateway, paced, until stopped; counts the answers."""

    def __init__(self, gateway: Gateway, book_id: str) -> None:
        super().__init__(daemon=True)
        self.gateway = Gateway(gateway.base_url)  # its own session and pace
        self.path = f"/api/v1/books/{book_id}"
        self.stopped = threading.Event()
        self.outcomes: Counter[str] = Counter()
        self.served_by: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                reply = self.gateway.get(self.path)
                self.outcomes[str(reply.status_code)] += 1
                self.served_by[reply.headers.get("X-Served-By", "?")] += 1
            except requests.RequestException as exc:
                self.outcomes[type(exc).__name__] += 1

    def stop(self) -> Counter[str]:
        self.stopped.set()
        self.join(timeout=30)
        self.gateway.close()
        return self.outcomes

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "200")


def test_deploy_registers_every_instance(cluster: Cluster, stack: Stack, gateway: Gateway):
    nodes = len(cluster.nodes)  # the gateway runs on every node
    assert {s: r for s, r in stack.replicas().items() if s in ("book", "user", "gateway")} == {
        "book": (2, 2), "user": (1, 1), "gateway": (nodes, nodes)}
    eventually(lambda: _assert_count(stack.etcd_keys(BOOKS), 2), timeout=30)
    assert gateway.get("/readyz").status_code == 200


def test_a_rolling_update_of_book_loses_no_request(stack: Stack, gateway: Gateway,
                                                   writer: User):
    book = gateway.create_book(writer)
    before = set(stack.etcd_keys(BOOKS))
    reader = Reader(gateway, book["id"])
    reader.start()
    stack.rolling_update("book")
    outcomes = reader.stop()
    RESULTS["rolling update of book"] = f"{dict(outcomes)} (sent {sum(outcomes.values())})"
    assert reader.failed == 0 and outcomes["200"] > 0, outcomes
    after = eventually(lambda: _assert_count(stack.etcd_keys(BOOKS), 2), timeout=30)
    assert not before & set(after)  # every instance was replaced


def test_scaling_book_to_four_registers_four_and_spreads_reads(stack: Stack, gateway: Gateway,
                                                               writer: User):
    book = gateway.create_book(writer)
    stack.scale("book", 4)
    keys = eventually(lambda: _assert_count(stack.etcd_keys(BOOKS), 4), timeout=180)
    instances = {key.removeprefix(BOOKS) for key in keys}
    started = time.monotonic()

    def spread() -> Counter[str]:
        served = Counter(gateway.get(f"/api/v1/books/{book['id']}").headers["X-Served-By"]
                         for _ in range(40))
        assert set(served) == instances, served
        return served

    # A new replica's first calls are slow (its connections and caches are cold), and
    # the gateway's peak-EWMA balancer rightly prefers the warm ones until that peak
    # decays (seen: 120 ms against 2 ms); within a minute all four take reads.
    served = eventually(spread, timeout=60, interval=1.0)
    RESULTS["scale book to 4"] = (f"4 keys in etcd; reads over all four "
                                  f"{time.monotonic() - started:.1f} s later: {dict(served)}")


def test_losing_a_worker_node_reschedules_its_tasks_and_reads_go_on(
        cluster: Cluster, stack: Stack, gateway: Gateway, writer: User):
    written = [gateway.create_book(writer) for _ in range(3)]
    victim = next(n for n in cluster.nodes[1:]
                  if any(t["Node"] == n.hostname for t in stack.tasks("book")))
    reader = Reader(gateway, written[0]["id"])
    reader.start()
    cluster.kill(victim)
    eventually(lambda: _assert_equal(cluster.node_states()[victim.hostname], "down"),
               timeout=60)
    eventually(lambda: _assert_rescheduled(stack, victim.hostname), timeout=180)
    eventually(lambda: _assert_count(stack.etcd_keys(BOOKS), 4), timeout=60)
    outcomes = reader.stop()
    RESULTS["worker node lost"] = f"{dict(outcomes)} (sent {sum(outcomes.values())})"
    assert outcomes["200"] > 0
    for book in written:  # acknowledged writes survive
        reply = gateway.get(f"/api/v1/books/{book['id']}")
        assert reply.status_code == 200 and reply.json()["book"]["title"] == book["title"]
    assert reader.failed == 0, outcomes


def _assert_count(items: list[str], n: int) -> list[str]:
    assert len(items) == n, items
    return items


def _assert_equal(actual, expected) -> None:
    assert actual == expected, actual


def _assert_rescheduled(stack: Stack, lost: str) -> None:
    tasks = stack.tasks("book")
    running = [t for t in tasks if t["CurrentState"].startswith("Running") and t["Node"] != lost]
    assert len(running) == 4, tasks
