"""Service discovery: register instances in etcd, find them, balance and retry.

- :class:`Instance`: one running copy of a service, as stored in etcd under
  ``/kitcore/services/<service>/<instance-id>``.
- :class:`EtcdRegistrar`: keeps an instance registered under a lease.
- :class:`EtcdInstancer` / :class:`StaticInstancer`: the current instances of
  a service (from etcd, or a fixed list).
- :class:`Endpointer`: one client endpoint per instance.
- :class:`RoundRobin`, :class:`Random`, :class:`LeastLoaded`, :class:`PeakEWMA`:
  balancers, each an Endpoint; :func:`record_instances` tells a caller which
  instance served.
- :func:`hedged`: sends a slow read to a second instance after the recent p95.
- :func:`retry`: retries a balanced call on other instances within the deadline,
  taking each retry from a :class:`RetryBudget` when given one.

Typical client wiring::

    instancer = sd.EtcdInstancer(["etcd:2379"], "book")
    endpointer = sd.Endpointer(instancer, make_book_endpoint)
    get_book = sd.retry(sd.RoundRobin(endpointer), attempts=3, per_try_timeout=0.5)
"""

from kitcore.sd.balancer import (
    EXCLUDE,
    INSTANCE,
    TRIED,
    Balancer,
    LeastLoaded,
    Random,
    RoundRobin,
    Select,
    record_instances,
)
from kitcore.sd.budget import RetryBudget
from kitcore.sd.endpointer import Endpointer, Factory
from kitcore.sd.etcd_client import EtcdUnavailable
from kitcore.sd.etcd_instancer import EtcdInstancer
from kitcore.sd.hedge import LatencyTracker, hedged
from kitcore.sd.instance import DEFAULT_PREFIX, Instance, InvalidInstance, service_prefix
from kitcore.sd.instancer import Instancer, StaticInstancer
from kitcore.sd.peak_ewma import PeakEWMA
from kitcore.sd.registrar import EtcdRegistrar
from kitcore.sd.retry import retry

__all__ = [
    "DEFAULT_PREFIX",
    "EXCLUDE",
    "INSTANCE",
    "TRIED",
    "Balancer",
    "Endpointer",
    "EtcdInstancer",
    "EtcdRegistrar",
    "EtcdUnavailable",
    "Factory",
    "Instance",
    "Instancer",
    "InvalidInstance",
    "LatencyTracker",
    "LeastLoaded",
    "PeakEWMA",
    "Random",
    "RetryBudget",
    "RoundRobin",
    "Select",
    "StaticInstancer",
    "hedged",
    "record_instances",
    "retry",
    "service_prefix",
]
