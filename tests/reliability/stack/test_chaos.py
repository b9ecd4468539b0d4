"""Chaos under load: while a steady, bounded load runs through the public
gateway, break the stack four ways, one after the other, and put it back:

1. ``docker kill`` book-2 (SIGKILL), then start it again;
2. restart etcd;
3. ``docker pause`` book-1, then unpause it;
4. disconnect book-2 from the stack's network, then connect it again.

The load (see :data:`RATES`): single-book reads (public, one address budget),
shelf reads (the fan-out: user over HTTP, book over gRPC) by three users,
stock increments by one writer, and book creations by another who also puts
each created book on a shelf. Every answer is recorded.

Measured and asserted (targets, not loosened):

- **failed reads: none.** Retry moves a read to the other replica, breakers
  stop sending to a dead one; a degraded shelf counts as failed.
- **acknowledged writes lost: none.** Every stock value a PATCH answered is
  reached by the final stock, every created book can be read, every shelved
  book is on the shelf. Writes that failed are counted, not required to
  succeed: creates and stock changes are not retried after a reset
  connection or timeout (they may have happened).
- **time to recover**: from the undo (start, unpause, connect) to the first
  read the replica serves again; for etcd, from the restart to every instance
  registered. Bounded by :data:`RECOVERY_LIMIT`.

The faults go through :class:`~reliability.stack.faults.Faults`, which retries
what a busy engine refuses and falls back to SIGSTOP for a pause; a fault that
could not be injected at all is reported, not counted as recovered. With
``CHAOS_CPU_HOG=2`` two busy loops run beside the stack for the whole test.

The fault matrix is printed (run with ``-s`` to see it with the rest); docs/testing.md
(Chaos under load) records a run of it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

import pytest
from integration.polling import eventually
from integration.stack import Stack
from reliability.stack import scenario
from reliability.stack.faults import Faults
from reliability.stack.load import Load, Tally
from reliability.stack.scenario import Step

HOLD_PAST_TTL = 2.0
"""Each fault stays in place this many seconds past the lease TTL the services
run with (``KIT_REGISTER_TTL``), so the broken replica also drops out of etcd."""

SETTLE = 3.0
"""Seconds of load after each recovery, before the next fault."""

RECOVERY_LIMIT = 45.0
"""Seconds a replica may take to serve again after its fault is undone."""

HEALTHY_LIMIT = 120.0
"""Seconds the stack may take, once the load stops, until every healthcheck passes
again (a paused container's checks fail while it is frozen)."""


def _hold(stack: Stack) -> float:
    """Seconds each fault stays in place: the lease TTL plus :data:`HOLD_PAST_TTL`."""
    return float(stack.compose.env("book-1").get("KIT_REGISTER_TTL") or 10) + HOLD_PAST_TTL


def _served_again(load: Load, replica: str, after: float) -> float | None:
    """Seconds from ``after`` to the end of the first read ``replica`` served since."""
    deadline = after + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        for outcome in load.since(after):
            if outcome.ok and not scenario.is_write(outcome) and replica in outcome.served_by:
                return outcome.started + outcome.elapsed - after
        time.sleep(0.1)
    return None


def _healthy_again(stack: Stack, after: float) -> float:
    """Seconds from ``after`` until Docker reports every container of the stack healthy."""
    def all_healthy() -> None:
        ids = stack.compose.run("ps", "-a", "-q").split()
        states = {c["Config"]["Labels"]["com.docker.compose.service"]:
                  (c["State"].get("Health") or {}).get("Status") or c["State"]["Status"]
                  for c in json.loads(subprocess.run(["docker", "inspect", *ids], text=True,
                                                     capture_output=True, check=True).stdout)}
        sick = {service: state for service, state in states.items() if state != "healthy"}
        assert not sick, f"not healthy yet: {sick}"

    eventually(all_healthy, timeout=HEALTHY_LIMIT, interval=1.0)
    return time.monotonic() - after


def _registered_again(stack: Stack, after: float) -> float | None:
    try:
        stack.wait_registered(timeout=RECOVERY_LIMIT)
    except AssertionError:
        return None
    return time.monotonic() - after


def _run_steps(stack: Stack, faults: Faults, load: Load) -> list[Step]:
    steps = []
    hold = _hold(stack)

    def step(name: str, replica: str, breaks: Callable[[], bool],
             undo: Callable[[], None]) -> None:
        current = Step(name, time.monotonic())
        current.injected = breaks()
        time.sleep(hold)
        undo()
        current.recovery = _served_again(load, replica, time.monotonic())
        time.sleep(SETTLE)
        current.ended = time.monotonic()
        steps.append(current)

    time.sleep(SETTLE)  # a baseline before the first fault
    step("kill book-2, start it", "book-2",
         lambda: faults.kill("book-2"), lambda: faults.start("book-2"))

    etcd = Step("restart etcd", time.monotonic())
    etcd.injected = faults.restart("etcd")
    etcd.recovery = _registered_again(stack, etcd.started)
    time.sleep(SETTLE)
    etcd.ended = time.monotonic()
    steps.append(etcd)

    step("pause book-1, unpause it", "book-1",
         lambda: faults.pause("book-1"), lambda: faults.unpause("book-1"))
    step("disconnect book-2, connect it", "book-2",
         lambda: faults.disconnect("book-2"), lambda: faults.connect("book-2"))
    return steps


def _report(steps: list[Step], reads: Tally, writes: Tally, check: scenario.WriteCheck,
            seconds: float, healthy_after: float, faults: Faults, hog: int) -> str:
    title = (f"chaos run (CPU hog: {hog or 'off'}): {seconds:.0f} s of load; reads "
             f"{reads.requests}, failed {reads.failed} (p50 {reads.p50_ms:.0f} ms, p99 "
             f"{reads.p99_ms:.0f} ms, max {reads.max_ms:.0f} ms); writes {writes.requests}, "
             f"failed {writes.failed}, acknowledged {check.acknowledged}, lost {check.lost}; "
             f"every container healthy {healthy_after:.0f} s after the load")
    lines = [scenario.matrix(title, steps)]
    lines += [f"  retried: {what}" for what in faults.retried]
    lines += [f"  NOT INJECTED: {what}" for what in faults.not_injected]
    return "\n".join(lines)


@pytest.mark.disruptive
def test_reads_never_fail_and_acknowledged_writes_survive_chaos(
        restore_stack: Stack, faults: Faults, cpu_hog: int,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Under a steady load through four faults: no read fails, no acknowledged write
    is lost, and each broken part serves again within RECOVERY_LIMIT."""
    stack = restore_stack
    stack.wait_serving()
    seed = scenario.seed(stack)
    load = Load(scenario.streams(stack.gateway_url, seed, scenario.rates(stack))).start()
    began = time.monotonic()
    try:
        steps = _run_steps(stack, faults, load)
    finally:
        outcomes = load.stop()
        faults.heal()
    seconds = time.monotonic() - began
    healthy_after = _healthy_again(stack, time.monotonic())
    stack.wait_registered(timeout=60)
    stack.wait_serving(timeout=60)

    reads = Tally.of([o for o in outcomes if not scenario.is_write(o)])
    writes = Tally.of([o for o in outcomes if scenario.is_write(o)])
    check = scenario.check_writes(stack, seed, outcomes)
    scenario.tally_steps(steps, outcomes, check)
    with capsys.disabled():
        print("\n" + _report(steps, reads, writes, check, seconds, healthy_after, faults,
                             cpu_hog))

    assert check.lost == 0, f"acknowledged writes lost: {check.details}"
    assert reads.failed == 0, f"{reads.failed} of {reads.requests} reads failed: {reads.failures}"
    slow = {s.name: s.recovery for s in steps if s.injected and s.recovery is None}
    assert not slow, f"not recovered within {RECOVERY_LIMIT:g} s: {sorted(slow)}"
    served = {name for o in outcomes[-50:] for name in o.served_by}
    assert {"book-1", "book-2"} <= served, f"the last reads were served by {sorted(served)}"
