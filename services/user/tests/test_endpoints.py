"""The endpoint Set: each call runs through metrics, log, faults and deadline, in that order."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import REGISTRY
from user.endpoints import Set, new_set
from user.service import Accounts, CreateUserRequest, GetUserRequest
from user.store import UserStore

from kitcore.endpoint import Context
from kitcore.errors import DeadlineExceeded, NotFound, Unavailable
from kitcore.faults import FaultSettings

ADA = CreateUserRequest("Ada", "ada@example.org", "correct horse battery")


@pytest.fixture
def knobs() -> FaultSettings:
    return FaultSettings()


@pytest.fixture
def endpoints(accounts: Accounts, knobs: FaultSettings) -> Set:
    return new_set(accounts, knobs, timeout=2.0)


def _count(endpoint: str, outcome: str) -> float:
    labels = {"service": "user", "endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("kit_requests_total", labels) or 0.0


def _users(store: UserStore) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM users").scalar_one()


def test_a_call_is_served_counted_and_logged(
    endpoints: Set, caplog: pytest.LogCaptureFixture
) -> None:
    before = _count("create_user", "ok")
    with caplog.at_level(logging.DEBUG, logger="user"):  # a success outside a sampled trace
        reply = endpoints.create_user(Context(), ADA)
    assert reply.email == "ada@example.org"
    assert _count("create_user", "ok") == before + 1
    [line] = [r for r in caplog.records if r.name == "user"]
    assert line.fields["endpoint"] == "create_user" and line.fields["outcome"] == "ok"
    assert "correct horse" not in caplog.text


def test_a_failed_call_is_counted_by_its_kind(endpoints: Set) -> None:
    before = _count("get_user", "not_found")
    with pytest.raises(NotFound):
        endpoints.get_user(Context(), GetUserRequest("00000000-0000-4000-8000-0000000000ff"))
    assert _count("get_user", "not_found") == before + 1


def test_injected_faults_fail_calls_before_anything_is_written(
    endpoints: Set, knobs: FaultSettings, store: UserStore
) -> None:
    knobs.update(error_rate=1.0)
    with pytest.raises(Unavailable, match="injected fault"):
        endpoints.create_user(Context(), ADA)
    assert _users(store) == 0


def test_a_call_whose_deadline_passed_is_refused_and_writes_nothing(
    endpoints: Set, store: UserStore
) -> None:
    with pytest.raises(DeadlineExceeded):
        endpoints.create_user(Context().with_deadline(time.monotonic() - 1), ADA)
    assert _users(store) == 0
