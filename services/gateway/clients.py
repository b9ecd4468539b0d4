"""How the gateway reaches a backend: discovered, guarded, balanced, broken per instance.

For one backend service (``user`` or ``book``) a :class:`Backend` holds

- an instancer: etcd when ``KIT_ETCD_ENDPOINTS`` is set, else a fixed list of
  addresses (so the gateway also runs alone against local backends);
- an :class:`~kitcore.sd.Endpointer` whose factory builds, per instance, a
  typed set of client endpoints (one per remote method, sharing that
  instance's HTTP session or gRPC channel), each behind that instance's own
  circuit breaker;
- one peak-EWMA balancer, retry budget, adaptive throttle and bulkhead, shared
  by all the backend's methods.

A client file (``book_client.py``, ``user_client.py``) turns each remote
method into one endpoint with :meth:`Backend.safe`, :meth:`Backend.patient`,
:meth:`Backend.once` or :meth:`Backend.hedged`, which all wrap it the same way,
outermost first::

    retry (within the budget) -> [hedge] -> bulkhead -> throttle -> balancer -> breaker -> wire

Such an endpoint answers a :class:`~gateway.service.Served`: the decoded reply
and the instance that gave it. Discovery names it, not the backend's reply:
the balancer records each instance it tries (:func:`kitcore.sd.record_instances`),
and the one that answered is the last (a retry tries after the failed ones; a
hedge puts the try that answered first last).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.service import Served
from kitcore import errors, sd
from kitcore.bulkhead import Bulkhead
from kitcore.circuitbreaker import Breaker
from kitcore.endpoint import Context, Endpoint, Middleware, chain
from kitcore.sd import Instance, Instancer
from kitcore.throttle import Throttle

SERVED_BY_HEADER = "X-Served-By"
"""Names the instance that answered, on errors a backend answered too."""

Methods = TypeVar("Methods")
"""The typed set of one instance's client endpoints (e.g. ``BookEndpoints``)."""

Closer = Callable[[], None]
"""Releases what an instance's endpoints hold (a session, a channel)."""

MethodsFactory = Callable[[Instance, Middleware], tuple[Methods, Closer]]
"""Builds one instance's client endpoints, each wrapped by the given middleware
(the instance's breaker), and their closer."""


@dataclass(frozen=True)
class Resilience:
    """How the gateway treats one backend: retries, breaking, throttling, limits."""

    attempts: int = 3  # KIT_RETRY_ATTEMPTS: tries per call, each on another instance
    per_try_timeout: float = 1.0  # KIT_PER_TRY_TIMEOUT: seconds, for safe calls
    breaker_fail_max: int = 5  # KIT_BREAKER_FAIL_MAX: consecutive failures of one instance
    breaker_reset_timeout: float = 10.0  # KIT_BREAKER_RESET_TIMEOUT: seconds open
    retry_budget_ratio: float = 0.2  # KIT_RETRY_BUDGET_RATIO: retries per recent call
    retry_budget_floor: float = 10.0  # KIT_RETRY_BUDGET_FLOOR: retries per second always allowed
    throttle_k: float = 2.0  # KIT_THROTTLE_K: sends up to K times what the backend accepts
    throttle_window: float = 10.0  # KIT_THROTTLE_WINDOW: seconds of history
    bulkhead: int = 12  # KIT_BULKHEAD_MAX: calls in flight per backend (of 20 admitted at once)
    balancer: str = "peak_ewma"  # KIT_BALANCER: peak_ewma, round_robin or least_loaded
    balancer_decay: float = 2.0  # KIT_BALANCER_DECAY: seconds for a latency to fade


BALANCERS: dict[str, Callable[[sd.Endpointer, Resilience], sd.Balancer]] = {
    # Of two instances, the one with the lower recent latency times calls in flight.
    "peak_ewma": lambda source, resilience: sd.PeakEWMA(source, decay=resilience.balancer_decay),
    # Each instance in turn, whatever its latency (shows breakers opening at once).
    "round_robin": lambda source, resilience: sd.RoundRobin(source),
    # Of two instances, the one with fewer calls in flight.
    "least_loaded": lambda source, resilience: sd.LeastLoaded(source),
}
"""The balancers ``KIT_BALANCER`` can name."""


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


def as_is(message: Any) -> Any:
    """An encoder for a request that the client already built in its wire form."""
    return message


class Backend(Generic[Methods]):
    """One backend service; :meth:`safe`, :meth:`patient` and :meth:`once` make the
    client endpoint of one of its methods, one per retry policy."""

    def __init__(
        self, instancer: Instancer, methods_for: MethodsFactory[Methods], resilience: Resilience,
    ) -> None:
        self.service = instancer.service
        self.instancer = instancer
        self.resilience = resilience
        self.breakers: dict[str, Breaker] = {}
        self.endpointer = sd.Endpointer(instancer, self._factory(methods_for))
        self.balancer = BALANCERS[resilience.balancer](self.endpointer, resilience)
        # Retries add at most 20 % to the backend's calls (plus 10/s): never a retry storm.
        self.budget = sd.RetryBudget(self.service, ratio=resilience.retry_budget_ratio,
                                     floor_per_second=resilience.retry_budget_floor)
        # A backend refusing most calls is refused locally, in microseconds.
        self.throttle = Throttle(self.service, k=resilience.throttle_k,
                                 window=resilience.throttle_window)
        # A slow backend holds at most this many of the gateway's threads.
        self.bulkhead = Bulkhead(self.service, resilience.bulkhead)
        self._guard = chain(self.bulkhead.middleware(), self.throttle.middleware())
        # The backend's recent latencies: hedged reads go out after their p95.
        self.latency = sd.LatencyTracker()

    def safe(self, select: Callable[[Methods], Endpoint]) -> Endpoint:
        """Reads and idempotent writes: up to ``attempts`` tries, each on another instance
        while one remains, each cut at ``per_try_timeout`` (a try that timed out is
        retried too), all within the request's deadline."""
        return self._retried(select, per_try_timeout=self.resilience.per_try_timeout,
                             idempotent=True)

    def patient(self, select: Callable[[Methods], Endpoint]) -> Endpoint:
        """Safe calls whose work is slow by design (login hashes a password on purpose):
        retried like :meth:`safe`, but never cut at ``per_try_timeout``, as a cut try
        would only start the same work again and trip the breaker."""
        return self._retried(select, idempotent=True)

    def once(self, select: Callable[[Methods], Endpoint]) -> Endpoint:
        """Writes that are not idempotent (creates, stock deltas): never repeated once a
        try may have reached an instance (a reset connection, a timeout or a 503 leave
        it unknown whether the write happened). Only a try that certainly never left
        (errors.NotSent: refused connection, closed channel, open circuit) moves on to
        another instance; no per-try timeout, as cutting a slow write short would only
        make it ambiguous."""
        return self._retried(select, retryable=errors.was_not_sent)

    def hedged(self, select: Callable[[Methods], Endpoint]) -> Endpoint:
        """A read worth hedging: retried like :meth:`safe`, and while a try is slower
        than the backend's recent p95, the same read goes to a second instance too
        (each hedge taken from the retry budget)."""
        return self._retried(select, hedge=True, per_try_timeout=self.resilience.per_try_timeout,
                             idempotent=True)

    def close(self) -> None:
        """Stop following the instances and release every connection."""
        self.endpointer.close()
        self.instancer.close()

    def _retried(
        self, select: Callable[[Methods], Endpoint], *, hedge: bool = False, **retry_options: Any,
    ) -> Endpoint:
        balanced = self._guard(self.balancer.method(select))
        if hedge:
            balanced = sd.hedged(balanced, backend=self.service, budget=self.budget,
                                 latency=self.latency)
        retried = sd.retry(balanced, attempts=self.resilience.attempts, budget=self.budget,
                           **retry_options)
        return _attributed(self.service)(retried)

    def _factory(self, methods_for: MethodsFactory[Methods]) -> sd.Factory:
        def factory(instance: Instance) -> tuple[Any, Closer]:
            breaker = Breaker(
                f"{self.service}/{instance.id}",
                fail_max=self.resilience.breaker_fail_max,
                reset_timeout=self.resilience.breaker_reset_timeout,
            )
            methods, close_methods = methods_for(instance, breaker.middleware())
            self.breakers[instance.id] = breaker

            def close() -> None:
                close_methods()
                breaker.close()
                if self.breakers.get(instance.id) is breaker:
                    del self.breakers[instance.id]

            return methods, close

        return factory


def _attributed(service: str) -> Middleware:
    """Say which instance answered: a reply becomes a :class:`Served`, an error gets
    ``X-Served-By``; and which backend failed ("book unavailable: ..." rather than a
    bare socket error)."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Served[Any]:
            ctx, tried = sd.record_instances(ctx)
            try:
                reply = next_endpoint(ctx, request)
                return Served(reply, tried[-1].id if tried else "")  # the last tried answered
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
