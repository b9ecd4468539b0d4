"""Balancers: even round robin, seeded random, least loaded, and empty sets."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from etcd_fixtures import eventually

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.sd import (
    INSTANCE,
    Endpointer,
    EtcdInstancer,
    EtcdRegistrar,
    Instance,
    LeastLoaded,
    Random,
    RoundRobin,
    StaticInstancer,
    record_instances,
)
from kitcore.testing.etcd import EtcdServer


def book(name: str) -> Instance:
    return Instance(name, "book", f"{name}:8080", None, "1", {})


def answer_with_id(instance: Instance) -> tuple[Endpoint, Any]:
    def endpoint(ctx: Context, request: Any) -> str:
        assert ctx.value(INSTANCE) == instance  # the endpoint below knows its instance
        return instance.id

    return endpoint, lambda: None


def endpointer(*names: str) -> Endpointer:
    return Endpointer(StaticInstancer([book(name) for name in names], "book"), answer_with_id)


def spread(balancer: Any, calls: int) -> Counter[str]:
    return Counter(balancer(Context(), None) for _ in range(calls))


def test_round_robin_is_exactly_even() -> None:
    assert spread(RoundRobin(endpointer("b1", "b2", "b3")), 999) == {
        "b1": 333, "b2": 333, "b3": 333,
    }


def test_random_spreads_and_repeats_with_a_seed() -> None:
    counts = spread(Random(endpointer("b1", "b2", "b3"), seed=7), 3000)
    assert all(900 <= n <= 1100 for n in counts.values()), counts
    again = spread(Random(endpointer("b1", "b2", "b3"), seed=7), 3000)
    assert counts == again


def test_least_loaded_spreads_sequential_calls() -> None:
    counts = spread(LeastLoaded(endpointer("b1", "b2", "b3"), seed=1), 3000)
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_least_loaded_avoids_the_busy_instance() -> None:
    release = threading.Event()

    def factory(instance: Instance) -> tuple[Endpoint, Any]:
        def endpoint(ctx: Context, request: Any) -> str:
            if request == "hold":
                release.wait(5)
            return instance.id

        return endpoint, lambda: None

    balancer = LeastLoaded(Endpointer(StaticInstancer([book("b1"), book("b2")]), factory))
    held = []
    for _ in range(3):
        thread = threading.Thread(target=balancer, args=(Context(), "hold"))
        thread.start()
        held.append(thread)
    eventually(lambda: balancer.in_flight("b1") + balancer.in_flight("b2") == 3, timeout=1)
    busy = "b1" if balancer.in_flight("b1") > balancer.in_flight("b2") else "b2"
    calls = spread(balancer, 100)
    release.set()
    for thread in held:
        thread.join()
    assert busy not in calls
    assert balancer.in_flight("b1") == balancer.in_flight("b2") == 0


@pytest.mark.parametrize("kind", [RoundRobin, Random, LeastLoaded])
def test_no_instances_is_unavailable(kind: type) -> None:
    balancer = kind(endpointer())
    with pytest.raises(errors.Unavailable, match="no instances of book"):
        balancer(Context(), None)


def test_record_instances_tells_the_caller_who_served() -> None:
    balancer = RoundRobin(endpointer("b1", "b2"))
    ctx, tried = record_instances(Context())
    assert balancer(ctx, None) == "b1"
    assert balancer(ctx, None) == "b2"
    assert [instance.id for instance in tried] == ["b1", "b2"]


def test_round_robin_over_instances_registered_in_etcd(etcd: EtcdServer) -> None:
    registrars = [EtcdRegistrar([etcd.address], book(f"b{n}"), ttl=3) for n in (1, 2, 3)]
    for registrar in registrars:
        registrar.register()
    instancer = EtcdInstancer([etcd.address], "book")
    balancer = RoundRobin(Endpointer(instancer, answer_with_id))
    assert spread(balancer, 999) == {"b1": 333, "b2": 333, "b3": 333}
    registrars[2].deregister()
    eventually(lambda: len(balancer.source.endpoints()) == 2, timeout=1)
    assert set(spread(balancer, 10)) == {"b1", "b2"}
    instancer.close()
    for registrar in registrars[:2]:
        registrar.deregister()
