"""EtcdRegistrar against a real etcd: lease, deregistration, crash, and etcd outages."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from etcd_fixtures import eventually

from kitcore.sd import EtcdRegistrar, Instance
from kitcore.sd.etcd_client import EtcdClient
from kitcore.testing.etcd import EtcdServer

KEY = "/kitcore/services/book/book-1"
INSTANCE = Instance("book-1", "book", "127.0.0.1:8080", "127.0.0.1:50051", "0.1.0", {"zone": "a"})


def test_register_writes_the_contract_value_under_a_lease(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=2)
    assert registrar.register()
    assert registrar.registered
    value = etcd_client.get(KEY)
    assert value is not None
    assert json.loads(value) == {
        "id": "book-1", "service": "book",
        "transport": {"http": "127.0.0.1:8080", "grpc": "127.0.0.1:50051"},
        "version": "0.1.0", "meta": {"zone": "a"},
    }
    time.sleep(2.5)  # longer than the ttl: the keep-alive holds the key
    assert etcd_client.get(KEY) is not None
    registrar.close()
    assert registrar._thread is not None and not registrar._thread.is_alive()
    assert not registrar.registered


def test_deregister_removes_the_key_at_once(etcd: EtcdServer, etcd_client: EtcdClient) -> None:
    with EtcdRegistrar([etcd.address], INSTANCE, ttl=10) as registrar:
        assert etcd_client.get(KEY) is not None
    assert etcd_client.get(KEY) is None
    assert not registrar.registered


_CRASHING_SERVICE = textwrap.dedent(
    """
    import sys, time
    from kitcore.sd import EtcdRegistrar, Instance
    instance = Instance("crash-1", "book", "127.0.0.1:1", None, "1", {})
    registrar = EtcdRegistrar([sys.argv[1]], instance, ttl=int(sys.argv[2]))
    assert registrar.register(wait=5)
    print("registered", flush=True)
    time.sleep(60)
    """
)


def test_a_killed_process_vanishes_within_its_ttl(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    ttl = 2
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_SERVICE, etcd.address, str(ttl)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "registered"
        assert etcd_client.get("/kitcore/services/book/crash-1") is not None
        os.kill(proc.pid, signal.SIGKILL)
        gone = eventually(
            lambda: etcd_client.get("/kitcore/services/book/crash-1") is None, timeout=ttl + 2
        )
        assert gone <= ttl + 1.5
    finally:
        proc.kill()
        proc.wait()


def test_key_deleted_by_someone_is_written_again(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=3)
    assert registrar.register()
    etcd_client.delete(KEY)
    eventually(lambda: etcd_client.get(KEY) is not None, timeout=3)
    registrar.deregister()


def test_expired_lease_means_a_new_registration(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=3)
    assert registrar.register()
    lease = registrar._lease
    assert lease is not None
    etcd_client.revoke(lease)  # as if the lease had run out
    assert etcd_client.get(KEY) is None
    eventually(lambda: etcd_client.get(KEY) is not None, timeout=3)
    assert registrar._lease != lease
    registrar.deregister()


def test_registers_again_after_etcd_restarts_with_the_same_data(
    etcd: EtcdServer, etcd_client: EtcdClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kitcore.sd")
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=2)
    assert registrar.register()
    etcd.stop()
    time.sleep(1.5)  # the registrar retries all along
    assert not registrar.registered
    etcd.start()
    eventually(lambda: registrar.registered, timeout=4)
    time.sleep(2.5)  # past the ttl: the lease is kept alive again
    assert etcd_client.get(KEY) is not None
    unreachable = [r for r in caplog.records if "etcd unreachable" in r.getMessage()]
    assert len(unreachable) == 1, "an outage is logged once, not on every retry"
    registrar.deregister()


def test_registered_again_soon_after_etcd_was_paused_longer_than_the_lease(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=3)
    assert registrar.register()
    etcd.pause()
    try:
        time.sleep(4.5)  # past the ttl: the lease runs out as soon as etcd runs again
    finally:
        etcd.resume()
    eventually(lambda: registrar.registered and etcd_client.get(KEY) is not None, timeout=3)
    time.sleep(3.5)  # past the ttl again: the registration that came back is kept alive
    assert etcd_client.get(KEY) is not None
    registrar.deregister()


def test_registers_again_after_etcd_lost_its_data(
    etcd: EtcdServer, etcd_client: EtcdClient
) -> None:
    registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=3)
    assert registrar.register()
    etcd.stop()
    shutil.rmtree(etcd.data_dir / "member")
    etcd.start()
    assert etcd_client.get(KEY) is None
    eventually(lambda: etcd_client.get(KEY) is not None, timeout=4)
    registrar.deregister()


def test_register_does_not_block_or_fail_while_etcd_is_down() -> None:
    etcd = EtcdServer()  # ports chosen, not started yet
    try:
        registrar = EtcdRegistrar([etcd.address], INSTANCE, ttl=3)
        started = time.monotonic()
        assert registrar.register(wait=0.3) is False
        assert time.monotonic() - started < 1
        etcd.start()
        client = EtcdClient([etcd.address])
        eventually(lambda: client.get(KEY) is not None, timeout=4)
        registrar.deregister()
    finally:
        etcd.close()
