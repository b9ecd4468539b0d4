"""EtcdInstancer against a real etcd: watching, bad values, and riding out outages."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from etcd_fixtures import eventually

from kitcore.sd import EtcdInstancer, EtcdRegistrar, Instance, StaticInstancer
from kitcore.sd.etcd_client import EtcdClient, EtcdUnavailable
from kitcore.testing.etcd import EtcdServer


def book(name: str, port: int = 8080) -> Instance:
    return Instance(name, "book", f"127.0.0.1:{port}", None, "1", {})


def put(client: EtcdClient, instance: Instance) -> None:
    client.put(instance.key(), instance.to_json().encode())


def ids(instancer: EtcdInstancer | StaticInstancer) -> list[str]:
    return [instance.id for instance in instancer.instances()]


@pytest.fixture
def instancer(etcd: EtcdServer, etcd_client: EtcdClient) -> Iterator[EtcdInstancer]:
    put(etcd_client, book("book-a"))
    put(etcd_client, book("book-b"))
    put(etcd_client, Instance("user-1", "user", "127.0.0.1:1", None, "1", {}))
    instancer = EtcdInstancer([etcd.address], "book")
    yield instancer
    instancer.close()


def test_loads_the_current_instances_of_one_service(instancer: EtcdInstancer) -> None:
    assert ids(instancer) == ["book-a", "book-b"]
    assert instancer.instances()[0] == book("book-a")


def test_a_new_instance_is_seen_within_a_second(
    etcd: EtcdServer, instancer: EtcdInstancer
) -> None:
    registrar = EtcdRegistrar([etcd.address], book("book-c"), ttl=3)
    registrar.register()
    assert eventually(lambda: "book-c" in ids(instancer), timeout=1) < 1
    registrar.deregister()
    assert eventually(lambda: "book-c" not in ids(instancer), timeout=1) < 1


def test_subscribers_get_the_set_now_and_on_each_change(
    etcd_client: EtcdClient, instancer: EtcdInstancer
) -> None:
    seen: list[list[str]] = []
    instancer.subscribe(lambda instances: seen.append([i.id for i in instances]))
    put(etcd_client, book("book-c"))
    put(etcd_client, book("book-a", port=9090))  # a new address is a change too
    etcd_client.delete(book("book-b").key())
    eventually(lambda: len(seen) == 4, timeout=1)
    assert seen == [["book-a", "book-b"], ["book-a", "book-b", "book-c"],
                    ["book-a", "book-b", "book-c"], ["book-a", "book-c"]]
    assert instancer.instances()[0].http == "127.0.0.1:9090"


def test_bad_values_are_logged_once_and_skipped(
    etcd_client: EtcdClient, instancer: EtcdInstancer, caplog: pytest.LogCaptureFixture
) -> None:
    etcd_client.put("/kitcore/services/book/garbage", b"{not json")
    etcd_client.put("/kitcore/services/book/other-name", book("book-z").to_json().encode())
    put(etcd_client, book("book-c"))
    eventually(lambda: "book-c" in ids(instancer), timeout=1)
    assert ids(instancer) == ["book-a", "book-b", "book-c"]
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2
    assert "not JSON" in skipped[0]
    assert "book/other-name" in skipped[1]


def test_keeps_the_last_set_while_etcd_is_down_and_catches_up_after(
    etcd: EtcdServer, instancer: EtcdInstancer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kitcore.sd")
    published: list[list[str]] = []
    instancer.subscribe(lambda instances: published.append([i.id for i in instances]))
    etcd.stop()
    eventually(lambda: instancer.stale, timeout=3)
    time.sleep(1)
    assert ids(instancer) == ["book-a", "book-b"]
    assert published == [["book-a", "book-b"]], "an outage publishes nothing"
    stale_logs = [r for r in caplog.records if "etcd unreachable" in r.getMessage()]
    assert len(stale_logs) == 1
    # etcd comes back having lost its data: the reload sees what changed meanwhile.
    shutil.rmtree(etcd.data_dir / "member")
    etcd.start()
    client = EtcdClient([etcd.address])
    put(client, book("book-c"))
    eventually(lambda: ids(instancer) == ["book-c"], timeout=5)
    assert not instancer.stale


def test_recovers_its_watch_after_a_quick_etcd_restart(
    etcd: EtcdServer, etcd_client: EtcdClient, instancer: EtcdInstancer
) -> None:
    etcd.stop()
    etcd.start()
    put(etcd_client, book("book-c"))
    eventually(lambda: "book-c" in ids(instancer), timeout=3)
    put(etcd_client, book("book-d"))  # and the new watch delivers changes again
    assert eventually(lambda: "book-d" in ids(instancer), timeout=1) < 1


def test_a_paused_etcd_stalls_nothing_and_changes_are_seen_soon_after_it_runs_again(
    etcd: EtcdServer, etcd_client: EtcdClient, instancer: EtcdInstancer
) -> None:
    etcd.pause()
    try:
        # Paused, etcd accepts connections and answers nothing: no call may hang.
        eventually(lambda: instancer.stale, timeout=5)
        assert ids(instancer) == ["book-a", "book-b"]
        time.sleep(3)  # several reload attempts, each opening a watch, all time out
        assert ids(instancer) == ["book-a", "book-b"]
    finally:
        etcd.resume()
    put(etcd_client, book("book-c"))
    eventually(lambda: "book-c" in ids(instancer), timeout=5)
    assert not instancer.stale


def test_opening_a_watch_on_a_paused_etcd_fails_within_the_timeout(etcd: EtcdServer) -> None:
    client = EtcdClient([etcd.address], timeout=0.5)
    outcome: list[BaseException | None] = []

    def open_watch() -> None:
        try:
            client.watch_prefix("/kitcore/services/book/").cancel()
            outcome.append(None)
        except EtcdUnavailable as exc:
            outcome.append(exc)

    etcd.pause()
    try:
        opener = threading.Thread(target=open_watch, daemon=True)
        opener.start()
        opener.join(5)
        assert not opener.is_alive(), "opening a watch blocked on a paused etcd"
    finally:
        etcd.resume()
    assert len(outcome) == 1 and isinstance(outcome[0], EtcdUnavailable), outcome
    assert "not opened within 0.5s" in str(outcome[0])
    client.watch_prefix("/kitcore/services/book/").cancel()  # and it opens once etcd runs


def test_an_empty_prefix_in_a_reachable_etcd_is_an_empty_set(
    etcd_client: EtcdClient, instancer: EtcdInstancer
) -> None:
    etcd_client.delete(book("book-a").key())
    etcd_client.delete(book("book-b").key())
    eventually(lambda: ids(instancer) == [], timeout=1)
    assert not instancer.stale


def test_starts_while_etcd_is_down_and_loads_when_it_comes() -> None:
    etcd = EtcdServer()
    try:
        instancer = EtcdInstancer([etcd.address], "book", initial_wait=0.2)
        assert instancer.instances() == []
        etcd.start()
        put(EtcdClient([etcd.address]), book("book-a"))
        eventually(lambda: ids(instancer) == ["book-a"], timeout=5)
        instancer.close()
    finally:
        etcd.close()


def test_static_instancer_holds_a_fixed_set() -> None:
    static = StaticInstancer([book("b2"), book("b1")])
    assert static.service == "book"
    assert ids(static) == ["b1", "b2"]
    seen: list[int] = []
    unsubscribe = static.subscribe(lambda instances: seen.append(len(instances)))
    static.set([book("b3")])
    unsubscribe()
    static.set([])
    assert seen == [2, 1]
