"""Load balancers: pick one instance's endpoint per call.

A balancer is itself an :data:`~kitcore.endpoint.Endpoint`: ``balancer(ctx,
request)`` picks an instance from an :class:`~kitcore.sd.Endpointer` and calls
its endpoint, so middlewares wrap a balancer like any endpoint. With no
instances it raises ``Unavailable("no instances of <service>")``.

Which instance served a call: the endpoint below the balancer finds the chosen
:class:`~kitcore.sd.Instance` in ``ctx.value(INSTANCE)`` (a per-instance
breaker or a log line can use it). A caller above it passes a context made by
:func:`record_instances` and reads the list it returns: every instance tried,
in order, the last one being the one that answered (or failed last).

Instances to avoid (those a retry saw fail) come in ``ctx.value(EXCLUDE)``.
A factory may build, per instance, a typed set of endpoints (one per remote
method, sharing a connection) instead of one endpoint; :meth:`Balancer.method`
then gives the balanced endpoint of one method, picked by a function such as
``lambda methods: methods.get_book``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection
from typing import Any, Protocol

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.sd.instance import Instance

INSTANCE = "kitcore.sd.instance"
"""Context value key: the Instance a balanced call is being sent to."""

TRIED = "kitcore.sd.tried"
"""Context value key: a list that balancers append each chosen Instance to."""

EXCLUDE = "kitcore.sd.exclude"
"""Context value key: ids of instances to avoid while others remain (set by retry)."""

Select = Callable[[Any], Endpoint]
"""Picks one method's endpoint from what a factory built for an instance."""


class EndpointSource(Protocol):
    """What balancers pick from (an :class:`~kitcore.sd.Endpointer`)."""

    service: str

    def endpoints(self) -> list[tuple[Instance, Endpoint]]:
        """The current ``(Instance, Endpoint)`` pairs."""
        ...


def record_instances(ctx: Context) -> tuple[Context, list[Instance]]:
    """A context whose balanced calls append each instance they try to the returned list."""
    tried: list[Instance] = []
    return ctx.with_value(TRIED, tried), tried


class Balancer:
    """Base of the balancers: subclasses choose among the allowed endpoints."""

    def __init__(self, source: EndpointSource) -> None:
        self.source = source
        self.service = source.service

    def __call__(self, ctx: Context, request: Any) -> Any:
        """Call the chosen instance's endpoint (the balancer as an Endpoint)."""
        return self.call(ctx, request)

    def call(
        self, ctx: Context, request: Any, *, exclude: Collection[str] = (),
        select: Select | None = None,
    ) -> Any:
        """Call one instance, avoiding the ids in ``exclude`` and in ``ctx.value(EXCLUDE)``
        while others remain; ``select`` picks the method from the instance's endpoints."""
        avoided = ctx.value(EXCLUDE)
        if avoided:
            exclude = {*exclude, *avoided}
        instance, endpoint = self.pick(exclude)
        if select is not None:
            endpoint = select(endpoint)
        tried = ctx.value(TRIED)
        if tried is not None:
            tried.append(instance)
        return self._invoke(instance, endpoint, ctx.with_value(INSTANCE, instance), request)

    def method(self, select: Select) -> Endpoint:
        """The balanced endpoint of one method of the instances' endpoint sets."""

        def endpoint(ctx: Context, request: Any) -> Any:
            return self.call(ctx, request, select=select)

        return endpoint

    def pick(self, exclude: Collection[str] = ()) -> tuple[Instance, Endpoint]:
        """Choose an instance and its endpoint; Unavailable when there is none."""
        entries = self.source.endpoints()
        if not entries:
            raise errors.Unavailable(f"no instances of {self.service}")
        allowed = [entry for entry in entries if entry[0].id not in exclude]
        return self._choose(allowed or entries)

    def _choose(self, entries: list[tuple[Instance, Endpoint]]) -> tuple[Instance, Endpoint]:
        raise NotImplementedError

    def _invoke(self, instance: Instance, endpoint: Endpoint, ctx: Context, request: Any) -> Any:
        return endpoint(ctx, request)


class RoundRobin(Balancer):
    """Each call goes to the next instance in id order."""

    def __init__(self, source: EndpointSource) -> None:
        super().__init__(source)
        self._counter = 0
        self._lock = threading.Lock()

    def _choose(self, entries: list[tuple[Instance, Endpoint]]) -> tuple[Instance, Endpoint]:
        with self._lock:
            index = self._counter
            self._counter += 1
        return entries[index % len(entries)]


class Random(Balancer):
    """Each call goes to an instance chosen at random (``seed`` makes it repeatable)."""

    def __init__(self, source: EndpointSource, *, seed: int | None = None) -> None:
        super().__init__(source)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def _choose(self, entries: list[tuple[Instance, Endpoint]]) -> tuple[Instance, Endpoint]:
        with self._lock:
            return self._random.choice(entries)


class LeastLoaded(Balancer):
    """Power of two random choices: of two random instances, the one with fewer calls
    in flight through this balancer."""

    def __init__(self, source: EndpointSource, *, seed: int | None = None) -> None:
        super().__init__(source)
        self._random = random.Random(seed)
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def in_flight(self, instance_id: str) -> int:
        """Calls to that instance now running through this balancer."""
        with self._lock:
            return self._in_flight.get(instance_id, 0)

    def _choose(self, entries: list[tuple[Instance, Endpoint]]) -> tuple[Instance, Endpoint]:
        with self._lock:
            if len(entries) == 1:
                return entries[0]
            first, second = self._random.sample(entries, 2)
            if self._in_flight.get(second[0].id, 0) < self._in_flight.get(first[0].id, 0):
                return second
            return first

    def _invoke(self, instance: Instance, endpoint: Endpoint, ctx: Context, request: Any) -> Any:
        with self._lock:
            self._in_flight[instance.id] = self._in_flight.get(instance.id, 0) + 1
        try:
            return endpoint(ctx, request)
        finally:
            with self._lock:
                left = self._in_flight[instance.id] - 1
                if left:
                    self._in_flight[instance.id] = left
                else:
                    del self._in_flight[instance.id]
