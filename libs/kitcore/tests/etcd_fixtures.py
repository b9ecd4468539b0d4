"""Fixtures for the service-discovery tests: a client of the test's etcd, and polling.

The ``etcd`` fixture itself is kitcore.testing.fixtures' (see conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from kitcore.sd.etcd_client import EtcdClient
from kitcore.testing.etcd import EtcdServer


@pytest.fixture
def etcd_client(etcd: EtcdServer) -> EtcdClient:
    """A plain client of the test's etcd, to look at keys as a user would."""
    return EtcdClient([etcd.address])


def eventually(check: Callable[[], object], timeout: float, interval: float = 0.02) -> float:
    """Poll ``check`` until it returns something true; the seconds it took.

    Fails the test if ``timeout`` passes first.
    """
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)
