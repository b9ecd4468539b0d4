"""How the gateway reaches a backend: discovered, broken per instance, balanced, retried.

For one backend service (``user`` or ``book``) a :class:`Backend` holds

- an instancer: etcd when ``KIT_ETCD_ENDPOINTS`` is set, else a fixed list of
  addresses (so the gateway also runs alone against local backends);
- an :class:`~kitcore.sd.Endpointer` whose factory builds, per instance, one
  client endpoint per remote method (sharing that instance's HTTP session or
  gRPC channel) behind that instance's own circuit breaker;
- a balancer over those endpoints, and three retry policies on top of it:
  :attr:`Backend.safe` for reads and idempotent writes, :attr:`Backend.patient`
  for safe calls that are slow by design (login), :attr:`Backend.once` for
  writes that must not be applied twice.

A call through a Backend is a :class:`Call`: the remote method's name and its
request. ``user_client.py`` and ``book_client.py`` build the per-method
endpoints and turn the gateway's calls into Calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kitcore import errors, sd
from kitcore.circuitbreaker import Breaker
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.sd import Instance, Instancer

SERVED_BY_HEADER = "X-Served-By"
"""Names the instance that answered, on errors a backend answered too."""

Closer = Callable[[], None]
"""Releases what an instance's endpoints hold (a session, a channel)."""

MethodsFactory = Callable[[Instance], tuple[Mapping[str, Endpoint], Closer]]
"""Builds one client endpoint per remote method for one instance, and their closer."""


@dataclass(frozen=True)
class Call:
    """One remote call: the method's name and the request for its client endpoint."""

    method: str
    request: Any


@dataclass(frozen=True)
class Resilience:
    """How hard the gateway tries one backend: retries and circuit breaking."""

    attempts: int = 3
    per_try_timeout: float = 1.0
    breaker_fail_max: int = 5
    breaker_reset_timeout: float = 10.0


def new_instancer(
    service: str, etcd_endpoints: tuple[str, ...], static_addresses: tuple[str, ...], *,
    transport: str,
) -> Instancer:
    """The instances of ``service``: from etcd if endpoints are given, else the fixed
    ``static_addresses`` (``host:port`` of its ``transport``, "http" or "grpc")."""
    if etcd_endpoints:
        return sd.EtcdInstancer(list(etcd_endpoints), service)
    instances = [
        Instance(id=address, service=service, **{transport: address})
        for address in static_addresses
    ]
    return sd.StaticInstancer(instances, service)


class Backend:
    """One backend service as endpoints taking a :class:`Call`: ``safe``, ``patient``
    and ``once``, one per retry policy."""

    def __init__(
        self,
        instancer: Instancer,
        methods_for: MethodsFactory,
        balancer: Callable[[sd.Endpointer], sd.Balancer],
        resilience: Resilience,
    ) -> None:
        self.service = instancer.service
        self.instancer = instancer
        self.resilience = resilience
        self.breakers: dict[str, Breaker] = {}
        self.endpointer = sd.Endpointer(instancer, self._factory(methods_for))
        self.balancer = balancer(self.endpointer)
        # Reads and idempotent writes: up to `attempts` tries, each on another
        # instance while one remains, each cut at `per_try_timeout` (a try that
        # timed out is retried too), all within the request's deadline.
        self.safe: Endpoint = _attributed(self.service)(sd.retry(
            self.balancer,
            attempts=resilience.attempts,
            per_try_timeout=resilience.per_try_timeout,
            idempotent=True,
        ))
        # Safe calls whose work is slow by design (login hashes a password on
        # purpose): retried like `safe`, but never cut at `per_try_timeout`, as a
        # cut try would only start the same work again and trip the breaker.
        self.patient: Endpoint = _attributed(self.service)(sd.retry(
            self.balancer,
            attempts=resilience.attempts,
            idempotent=True,
        ))
        # Writes that are not idempotent (creates, stock deltas) are never
        # repeated once a try may have reached an instance: a reset connection,
        # a timeout or a 503 from the server leave it unknown whether the write
        # happened, and a second try could apply it twice. Only a try that
        # certainly never left (refused connection, closed channel, open circuit:
        # errors.NotSent) moves on to another instance. No per-try timeout
        # either: cutting a slow write short would only make it ambiguous.
        self.once: Endpoint = _attributed(self.service)(sd.retry(
            self.balancer,
            attempts=resilience.attempts,
            retryable=errors.was_not_sent,
        ))

    def close(self) -> None:
        """Stop following the instances and release every connection."""
        self.endpointer.close()
        self.instancer.close()

    def _factory(self, methods_for: MethodsFactory) -> sd.Factory:
        def factory(instance: Instance) -> tuple[Endpoint, Closer]:
            methods, close_methods = methods_for(instance)
            breaker = Breaker(
                f"{self.service}/{instance.id}",
                fail_max=self.resilience.breaker_fail_max,
                reset_timeout=self.resilience.breaker_reset_timeout,
            )
            self.breakers[instance.id] = breaker

            def close() -> None:
                close_methods()
                breaker.close()
                if self.breakers.get(instance.id) is breaker:
                    del self.breakers[instance.id]

            return breaker.middleware()(_dispatch(methods)), close

        return factory


def _attributed(service: str) -> Middleware:
    """Say which backend failed ("book unavailable: ..." rather than a bare socket
    error), and which instance answered an error (``X-Served-By`` on the error)."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, call: Call) -> Any:
            ctx, tried = sd.record_instances(ctx)
            try:
                return next_endpoint(ctx, call)
            except (errors.Unavailable, errors.DeadlineExceeded) as error:
                what = "unavailable" if isinstance(error, errors.Unavailable) else "timed out"
                raise type(error)(f"{service} {what}: {error.message}",
                                  retry_after=error.retry_after) from error
            except errors.KitError as error:
                if tried:
                    error.headers = {**error.headers, SERVED_BY_HEADER: tried[-1].id}
                raise

        return endpoint

    return wrap


def _dispatch(methods: Mapping[str, Endpoint]) -> Endpoint:
    """One endpoint for all methods of an instance: calls ``methods[call.method]``."""

    def endpoint(ctx: Context, call: Call) -> Any:
        return methods[call.method](ctx, call.request)

    return endpoint
