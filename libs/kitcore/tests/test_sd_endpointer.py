"""Endpointer: one endpoint per instance, rebuilt on change, closed on removal."""

from __future__ import annotations

from typing import Any

import pytest
from etcd_fixtures import eventually

from kitcore.endpoint import Context, Endpoint
from kitcore.sd import Endpointer, EtcdInstancer, EtcdRegistrar, Instance, StaticInstancer
from kitcore.testing.etcd import EtcdServer


def book(name: str, port: int = 8080) -> Instance:
    return Instance(name, "book", f"127.0.0.1:{port}", None, "1", {})


class Factory:
    """Builds endpoints that answer with their instance's address; records closes."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.closed: list[str] = []

    def __call__(self, instance: Instance) -> tuple[Endpoint, Any]:
        if instance.id == "broken":
            raise RuntimeError("cannot connect")
        self.built.append(instance.http or "")

        def endpoint(ctx: Context, request: Any) -> str:
            return f"{instance.http} got {request}"

        return endpoint, lambda: self.closed.append(instance.http or "")


def test_builds_one_endpoint_per_instance_and_closes_removed_ones() -> None:
    instancer = StaticInstancer([book("b1", 1), book("b2", 2)])
    factory = Factory()
    endpointer = Endpointer(instancer, factory)
    pairs = endpointer.endpoints()
    assert [instance.id for instance, _ in pairs] == ["b1", "b2"]
    assert pairs[1][1](Context(), "x") == "127.0.0.1:2 got x"
    instancer.set([book("b1", 1), book("b2", 2), book("b3", 3)])
    assert factory.built == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]  # no rebuilds
    instancer.set([book("b1", 1), book("b3", 3)])
    assert factory.closed == ["127.0.0.1:2"]
    assert [instance.id for instance, _ in endpointer.endpoints()] == ["b1", "b3"]


def test_a_changed_address_rebuilds_the_endpoint() -> None:
    instancer = StaticInstancer([book("b1", 1)])
    factory = Factory()
    endpointer = Endpointer(instancer, factory)
    instancer.set([book("b1", 9)])
    assert factory.closed == ["127.0.0.1:1"]
    assert endpointer.endpoints()[0][1](Context(), "x") == "127.0.0.1:9 got x"


def test_a_failing_factory_skips_that_instance(caplog: pytest.LogCaptureFixture) -> None:
    endpointer = Endpointer(StaticInstancer([book("b1"), book("broken")]), Factory())
    assert [instance.id for instance, _ in endpointer.endpoints()] == ["b1"]
    assert "cannot build an endpoint for book/broken" in caplog.text


def test_close_closes_everything_and_stops_following() -> None:
    instancer = StaticInstancer([book("b1", 1), book("b2", 2)])
    factory = Factory()
    endpointer = Endpointer(instancer, factory)
    endpointer.close()
    assert sorted(factory.closed) == ["127.0.0.1:1", "127.0.0.1:2"]
    instancer.set([book("b3", 3)])
    assert endpointer.endpoints() == []


def test_follows_etcd_and_closes_an_instance_that_deregisters(etcd: EtcdServer) -> None:
    registrars = [EtcdRegistrar([etcd.address], book(f"b{n}", n), ttl=3) for n in (1, 2)]
    for registrar in registrars:
        registrar.register()
    instancer = EtcdInstancer([etcd.address], "book")
    factory = Factory()
    endpointer = Endpointer(instancer, factory)
    assert len(endpointer.endpoints()) == 2
    registrars[0].deregister()
    eventually(lambda: factory.closed == ["127.0.0.1:1"], timeout=1)
    assert [instance.id for instance, _ in endpointer.endpoints()] == ["b2"]
    endpointer.close()
    instancer.close()
    registrars[1].deregister()
