"""Dependency outages under load: while the chaos run's steady load runs through
the gateway, take each dependency away in turn and bring it back:

1. restart PostgreSQL;
2. stop PostgreSQL for 10 s, then start it;
3. stop Redis (the rate limiter fails open), then start it;
4. stop user, both replicas (shelf reads and logins answer 503 at once; book
   reads go on);
5. stop Jaeger (no request may notice), then start it;
6. pause etcd for longer than the lease TTL (clients keep their last set of
   instances; every instance registers again once etcd runs).

Each step is counted the same way as the chaos run's faults (reads, failed,
writes, lost, recovery seconds) and printed as a fault matrix. Asserted:

- **no 500 and no hang, ever**: a route that needs the missing dependency
  answers a 2xx, a degraded shelf, a 503 that says what is unavailable, or a
  504 when its deadline ran out first (a query in flight as the database went
  away); never a 500 and never no answer. While a dependency that a route does
  not need is away, that route does not fail at all;
- **no acknowledged write is lost, and no refused write lands later**: a write
  refused because the database was unavailable is not in the final stock;
- **recovery**: every route (book read, shelf read, stock write) works again
  within :data:`RECOVERY_LIMIT` seconds of the dependency's return; after the
  etcd pause every instance is registered again (target: within 2 s; the
  check itself is a ``docker exec`` and takes about a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from integration.api import User
from integration.stack import USER_REPLICAS, Stack
from reliability.stack import scenario
from reliability.stack.faults import Faults
from reliability.stack.load import Load, Outcome
from reliability.stack.scenario import Step

OUTAGE = 10.0
"""Seconds each dependency stays away."""

SETTLE = 3.0
"""Seconds of load after each recovery, before the next outage."""

RECOVERY_LIMIT = 30.0
"""Seconds every route may take to work again once the dependency is back."""

REREGISTER_LIMIT = 10.0
"""Seconds every instance may take to be registered again after etcd runs again."""

ROUTES = ("book", "shelf", "stock")
"""A read, a fan-out read and a write: each must work again after every outage."""


@dataclass(frozen=True)
class Outage:
    """One dependency taken away: how, how it is undone, and what it may break."""

    name: str
    breaks: Callable[[Faults], bool]
    undo: Callable[[Faults], None]
    may_fail: frozenset[str]  # load streams allowed a 503, 504 or degraded shelf meanwhile
    hold: float = OUTAGE


def _outages(ttl: float) -> list[Outage]:
    everything = frozenset({"book", "shelf", "stock", "create", "shelve"})
    return [
        Outage("restart postgres", lambda f: f.restart("postgres"), lambda f: None,
               everything, hold=0.0),
        Outage("stop postgres 10 s", lambda f: f.stop("postgres"),
               lambda f: f.start("postgres"), everything),
        Outage("stop redis", lambda f: f.stop("redis"), lambda f: f.start("redis"),
               frozenset()),
        Outage("stop user (both replicas)", _stop_users, _start_users,
               frozenset({"shelf", "shelve"})),
        Outage("stop jaeger", lambda f: f.stop("jaeger"), lambda f: f.start("jaeger"),
               frozenset()),
        Outage(f"pause etcd {ttl + 3:g} s (past the TTL)", lambda f: f.pause("etcd"),
               lambda f: f.unpause("etcd"), frozenset(), hold=ttl + 3),
    ]


def _stop_users(faults: Faults) -> bool:
    stopped = [faults.stop(replica) for replica in USER_REPLICAS]
    return all(stopped)


def _start_users(faults: Faults) -> None:
    for replica in USER_REPLICAS:
        faults.start(replica)


def _routes_back(load: Load, after: float) -> float | None:
    """Seconds from ``after`` until each of :data:`ROUTES` has answered 2xx since."""
    deadline = after + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        since = load.since(after)
        firsts = [min((o.started + o.elapsed for o in since if o.kind == route and o.ok),
                      default=None) for route in ROUTES]
        if all(first is not None for first in firsts):
            return max(first for first in firsts if first is not None) - after
        time.sleep(0.2)
    return None


def _registered_again(stack: Stack, after: float) -> float | None:
    try:
        stack.wait_registered(timeout=REREGISTER_LIMIT)
    except AssertionError:
        return None
    return time.monotonic() - after


def _probe_user_routes(stack: Stack, user: User) -> list[tuple[str, int, float]]:
    """A login and a shelf read while user is stopped: (what, status, seconds)."""
    probes = []
    for what, send in (
        ("login", lambda: requests.post(f"{stack.gateway_url}/api/v1/auth/login", timeout=10,
                                        json={"email": user.email, "password": user.password})),
        ("shelf", lambda: requests.get(f"{stack.gateway_url}/api/v1/users/{user.id}/shelf",
                                       headers=user.auth, timeout=10)),
    ):
        started = time.monotonic()
        reply = send()
        probes.append((what, reply.status_code, time.monotonic() - started))
    return probes


def _run(stack: Stack, faults: Faults, load: Load, user: User, outages: list[Outage]
         ) -> tuple[list[Step], list[tuple[str, int, float]], float | None]:
    steps, probes, reregistered = [], [], None
    time.sleep(SETTLE)  # a baseline before the first outage
    for outage in outages:
        step = Step(outage.name, time.monotonic())
        step.injected = outage.breaks(faults)
        time.sleep(max(outage.hold - 2.0, 0.0))
        if outage.name.startswith("stop user") and step.injected:
            probes = _probe_user_routes(stack, user)
        time.sleep(min(outage.hold, 2.0))
        outage.undo(faults)
        back = time.monotonic()
        if outage.name.startswith("pause etcd"):
            reregistered = _registered_again(stack, back)
        step.recovery = _routes_back(load, back)
        time.sleep(SETTLE)
        step.ended = time.monotonic()
        steps.append(step)
    return steps, probes, reregistered


def _bad_answers(steps: list[Step], outages: list[Outage]) -> dict[str, list[str]]:
    """Per step, the answers no outage excuses: a 500, a hang, or a failure of a
    route that does not need the missing dependency."""
    allowed = {outage.name: outage.may_fail for outage in outages}
    bad: dict[str, list[str]] = {}
    for step in steps:
        for o in step.window:
            excused = o.kind in allowed[step.name] and (o.status in (503, 504) or o.degraded)
            if not (o.ok or excused):
                bad.setdefault(step.name, []).append(_describe(o))
    return bad


def _describe(o: Outcome) -> str:
    return f"{o.kind} {o.status} {'degraded' if o.degraded else o.error}: {o.message[:120]}"


def _surely_refused(outcome: Outcome) -> bool:
    """A 503 that says the write never reached the database: the database was
    unavailable, or an open breaker refused the call before it left."""
    return outcome.status == 503 and any(
        why in outcome.message for why in ("database is unavailable", "circuit open"))


def _refused_writes_landed(stack: Stack, seed: scenario.Seed, outcomes: list[Outcome]) -> int:
    """How many more stock increments the book has than were acknowledged or left
    in doubt (a timeout, a reset): more means a surely refused increment was applied."""
    stock = [o for o in outcomes if o.kind == "stock"]
    acknowledged = sum(o.ok for o in stock)
    in_doubt = sum(not o.ok and not _surely_refused(o) for o in stock)
    reply = stack.api.get(f"/api/v1/books/{seed.stock_book}", headers=seed.stock_writer.auth)
    assert reply.status_code == 200, reply.text
    final = int(reply.json()["book"]["stock"])
    return max(0, final - (seed.stock_before + acknowledged + in_doubt))


@pytest.mark.disruptive
def test_dependency_outages_answer_503_never_500_and_every_route_recovers(
        restore_stack: Stack, faults: Faults, cpu_hog: int, user: User,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each dependency away in turn under load: no 500, no hang, nothing lost, no
    refused write applied, every route back within RECOVERY_LIMIT."""
    stack = restore_stack
    stack.wait_serving()
    outages = _outages(float(stack.compose.env("book-1").get("KIT_REGISTER_TTL") or 10))
    seed = scenario.seed(stack)
    load = Load(scenario.streams(stack.gateway_url, seed, scenario.rates(stack))).start()
    try:
        steps, probes, reregistered = _run(stack, faults, load, user, outages)
    finally:
        outcomes = load.stop()
        faults.heal()
    stack.wait_registered(timeout=60)
    stack.wait_serving(timeout=60)

    check = scenario.check_writes(stack, seed, outcomes)
    scenario.tally_steps(steps, outcomes, check)
    landed = _refused_writes_landed(stack, seed, outcomes)
    with capsys.disabled():
        print("\n" + scenario.matrix(f"dependency outages (CPU hog: {cpu_hog or 'off'})", steps))
        print(f"  user stopped, probes (what, status, s): {probes}")
        print(f"  etcd paused: every instance registered again {reregistered} s after")
        for what in faults.retried:
            print(f"  retried: {what}")
        for what in faults.not_injected:
            print(f"  NOT INJECTED: {what}")

    bad = _bad_answers(steps, outages)
    assert not bad, f"answers no outage excuses: {bad}"
    assert check.lost == 0, f"acknowledged writes lost: {check.details}"
    assert landed == 0, f"{landed} stock increments refused with 503 were applied later"
    slow = [s.name for s in steps if s.injected and s.recovery is None]
    assert not slow, f"routes not all back within {RECOVERY_LIMIT:g} s: {slow}"
    assert all(status == 503 for _, status, _ in probes), f"user stopped: {probes}"
    assert reregistered is not None, (
        f"instances not all registered again within {REREGISTER_LIMIT:g} s of etcd running")
