"""Backends that are down, failing or silent: 503 in time, retries, breakers, degraded shelves."""

from __future__ import annotations

import re
import time

UNKNOWN = "9b2e4f1c-7a3d-4e5b-9c8a-1d2e3f4a5b6c"
DEADLINE = 3.0  # the gateway's default request deadline
BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965}


def _timed(call) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _create(stack, auth: dict[str, str]) -> int:
    return stack.gateway.request("POST", "/api/v1/books", json=BOOK, headers=auth).status_code


def _sample(gateway, name: str, **labels: str) -> float:
    """One sample of the gateway's /metrics, 0 while there is none."""
    for line in gateway.get("/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line
                                               for key, value in labels.items()):
            return float(line.split()[-1])
    return 0.0


def _breaker_state(gateway, name: str) -> float | None:
    """The gateway's ``kit_circuit_state`` for one breaker, read from /metrics."""
    text = gateway.get("/metrics").text
    line = re.compile(r'^kit_circuit_state\{name="' + re.escape(name) + r'"\} (\S+)$', re.M)
    found = line.search(text)
    return float(found.group(1)) if found else None


def test_a_backend_that_is_down_is_a_quick_503(lone_gateway, token_for):
    for method, path, body in [("GET", f"/api/v1/books/{UNKNOWN}", None),
                               ("GET", "/api/v1/books", None),
                               ("POST", "/api/v1/users",
                                {"name": "A", "email": "a@example.org", "password": "12345678"}),
                               ("POST", "/api/v1/auth/login",
                                {"email": "a@example.org", "password": "12345678"})]:
        reply, seconds = _timed(lambda m=method, p=path, b=body: lone_gateway.request(m, p, json=b))
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert error["code"] == "unavailable"
        assert re.match(r"(book|user) unavailable: ", error["message"]), error
        assert seconds < DEADLINE, (path, seconds)


def test_a_silent_backend_is_cut_at_the_request_deadline(start_gateway, black_hole, token_for):
    gateway = start_gateway({"KIT_USER_ADDRS": black_hole, "KIT_BOOK_ADDRS": black_hole,
                             "KIT_REQUEST_TIMEOUT": "1.5", "KIT_PER_TRY_TIMEOUT": "0.5"})
    user = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    auth = {"Authorization": f"Bearer {token_for(user)}"}
    for method, path in [("GET", f"/api/v1/books/{UNKNOWN}"), ("GET", f"/api/v1/users/{user}")]:
        reply, seconds = _timed(lambda m=method, p=path: gateway.request(m, p, headers=auth))
        assert reply.status_code in (503, 504), reply.text
        assert reply.json()["error"]["code"] in ("unavailable", "deadline_exceeded")
        assert seconds < 1.5 + 1.0, (path, seconds)  # the deadline, plus a generous margin


def test_a_callers_shorter_deadline_is_kept(start_gateway, black_hole):
    gateway = start_gateway({"KIT_BOOK_ADDRS": black_hole})
    reply, seconds = _timed(lambda: gateway.get(f"/api/v1/books/{UNKNOWN}",
                                                headers={"X-Request-Timeout": "0.5"}))
    assert reply.status_code in (503, 504), reply.text
    assert seconds < 0.5 + 1.0


def test_reads_move_to_the_healthy_book_when_one_is_down(stack):
    _, auth = stack.sign_up()
    book = stack.create_book(auth)
    stack.books[0].stop()
    served = []
    for _ in range(8):
        reply = stack.gateway.get(f"/api/v1/books/{book}")
        assert reply.status_code == 200, reply.text
        served.append(reply.headers["X-Served-By"])
    assert set(served) == {stack.named(stack.books[1])}


def test_reads_move_on_when_one_book_fails_every_call(start_stack):
    # Round robin sends every other first try to the failing book-1: its retry, on
    # book-2, answers, and book-2 is named (the last instance tried).
    stack = start_stack({"KIT_BALANCER": "round_robin", "KIT_BREAKER_FAIL_MAX": "100"})
    _, auth = stack.sign_up()
    book = stack.create_book(auth)
    stack.books[0].faults.update(error_rate=1.0)
    retried = _sample(stack.gateway, "kit_retries_total", backend="book", outcome="spent")
    for _ in range(8):
        reply = stack.gateway.get(f"/api/v1/books/{book}")
        assert reply.status_code == 200, reply.text
        assert reply.json()["served_by"] == reply.headers["X-Served-By"]
        assert reply.headers["X-Served-By"] == stack.named(stack.books[1])
    assert _sample(stack.gateway, "kit_retries_total", backend="book", outcome="spent") > retried


def test_a_hedge_won_by_the_second_instance_names_it(start_stack):
    # book-1 answers the shelf's book lookup late; the hedge sent to book-2 after the
    # recent p95 answers first, and the shelf names book-2, the instance that answered.
    stack = start_stack({"KIT_BALANCER": "round_robin"})
    user_id, auth = stack.sign_up()
    book = stack.create_book(auth)
    assert stack.gateway.request("POST", f"/api/v1/users/{user_id}/shelf", headers=auth,
                                 json={"book_id": book}).status_code == 200
    stack.books[0].faults.update(latency_ms=800)
    won = _sample(stack.gateway, "kit_hedges_total", backend="book", outcome="won")
    for _ in range(4):  # round robin: some first tries go to book-1
        reply = stack.gateway.get(f"/api/v1/users/{user_id}/shelf", headers=auth)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["books"] and not body["degraded"]
        assert body["served_by"]["book"] == stack.named(stack.books[1])
        assert reply.headers["X-Served-By"].split(",")[1] == stack.named(stack.books[1])
    assert _sample(stack.gateway, "kit_hedges_total", backend="book", outcome="won") > won


def test_the_breaker_of_a_failing_instance_opens_then_closes(start_stack):
    # Round robin sends every other call to the failing instance, as breakers expect.
    stack = start_stack({"KIT_BREAKER_FAIL_MAX": "2", "KIT_BREAKER_RESET_TIMEOUT": "0.5",
                         "KIT_BALANCER": "round_robin"})
    _, auth = stack.sign_up()
    book = stack.create_book(auth)
    failing = stack.books[0]
    name = f"book/{failing.grpc}"  # one breaker per instance, named by the instance id
    assert _breaker_state(stack.gateway, name) == 0
    assert _breaker_state(stack.gateway, f"book/{stack.books[1].grpc}") == 0

    failing.faults.update(error_rate=1.0)
    for _ in range(6):
        assert stack.gateway.get(f"/api/v1/books/{book}").status_code == 200
    assert _breaker_state(stack.gateway, name) == 2  # open
    assert stack.gateway.wired.books.breakers[failing.grpc].state == "open"
    assert _breaker_state(stack.gateway, f"book/{stack.books[1].grpc}") == 0

    failing.faults.update(error_rate=0.0)
    time.sleep(0.6)  # past the reset timeout: the next call to book-1 is a trial
    served = {stack.gateway.get(f"/api/v1/books/{book}").headers["X-Served-By"]
              for _ in range(4)}
    assert stack.named(failing) in served
    assert _breaker_state(stack.gateway, name) == 0  # closed again


def test_a_create_is_never_repeated_after_an_ambiguous_failure(start_stack):
    # The breaker stays closed: every failure comes from book-1 itself, and may
    # (for all the gateway knows) have created the book. Round robin sends every
    # other create to book-1, however often it failed.
    stack = start_stack({"KIT_BREAKER_FAIL_MAX": "100", "KIT_BALANCER": "round_robin"})
    _, auth = stack.sign_up()
    stack.books[0].faults.update(error_rate=1.0)
    statuses = [_create(stack, auth) for _ in range(6)]
    assert sorted(set(statuses)) == [201, 503], statuses  # the ones sent to book-1 were not retried
    assert len(stack.gateway.get("/api/v1/books").json()["items"]) == statuses.count(201)


def test_a_create_refused_by_an_open_breaker_goes_to_the_other_instance(start_stack):
    stack = start_stack({"KIT_BREAKER_FAIL_MAX": "1", "KIT_BREAKER_RESET_TIMEOUT": "60",
                         "KIT_BALANCER": "round_robin"})
    _, auth = stack.sign_up()
    stack.books[0].faults.update(error_rate=1.0)
    statuses = [_create(stack, auth) for _ in range(6)]
    # The first create picked for book-1 (one of the first two, round robin) reaches it
    # and fails; that opens book-1's breaker, and from then on a create picked for
    # book-1 is refused unsent and moves on to book-2.
    assert statuses.count(503) == 1 and 503 in statuses[:2], statuses
    assert len(stack.gateway.get("/api/v1/books").json()["items"]) == 5


def test_a_create_sent_to_a_stopped_instance_moves_to_the_other(stack):
    _, auth = stack.sign_up()
    stack.books[0].stop()
    statuses = [_create(stack, auth) for _ in range(4)]
    # Nothing listens where book-1 was: its connection is refused, so the create
    # certainly never left (errors.NotSent) and is safe to send to book-2 instead.
    assert statuses == [201] * 4
    assert len(stack.gateway.get("/api/v1/books").json()["items"]) == 4


def test_a_login_slower_than_one_try_is_not_cut(stack):
    # Password hashing is slow by design (slower still on a busy machine): login
    # gets the request's whole deadline, not the 1 s per-try cut of other reads,
    # which would only start the hashing again and trip user's breaker.
    body = {"email": "slow-login@example.org", "password": "correct horse battery"}
    created = stack.gateway.request("POST", "/api/v1/users", json={"name": "Slow", **body})
    assert created.status_code == 201, created.text
    stack.user.faults.update(latency_ms=1500)
    reply, seconds = _timed(lambda: stack.gateway.request("POST", "/api/v1/auth/login",
                                                          json=body))
    assert reply.status_code == 200, reply.text
    assert 1.5 <= seconds < DEADLINE


def test_the_shelf_degrades_to_its_ids_when_book_is_down(stack):
    user_id, auth = stack.sign_up()
    book = stack.create_book(auth)
    assert stack.gateway.request("POST", f"/api/v1/users/{user_id}/shelf", headers=auth,
                                 json={"book_id": book}).status_code == 200
    for instance in stack.books:
        instance.stop()
    reply, seconds = _timed(lambda: stack.gateway.get(f"/api/v1/users/{user_id}/shelf",
                                                      headers=auth))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["degraded"] is True
    assert body["book_ids"] == [book] and body["books"] == []
    assert body["served_by"] == {"user": stack.named(stack.user), "book": None}
    assert reply.headers["X-Served-By"] == stack.named(stack.user)
    assert seconds < DEADLINE


def test_a_book_cannot_be_shelved_while_book_is_down(stack):
    user_id, auth = stack.sign_up()
    book = stack.create_book(auth)
    for instance in stack.books:
        instance.stop()
    reply = stack.gateway.request("POST", f"/api/v1/users/{user_id}/shelf", headers=auth,
                                  json={"book_id": book})
    assert reply.status_code == 503, reply.text
    shelf = stack.gateway.get(f"/api/v1/users/{user_id}/shelf", headers=auth).json()
    assert shelf["book_ids"] == []


def test_the_shelf_is_503_when_user_is_down(stack):
    user_id, auth = stack.sign_up()
    stack.user.stop()
    reply, seconds = _timed(lambda: stack.gateway.get(f"/api/v1/users/{user_id}/shelf",
                                                      headers=auth))
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["message"].startswith("user unavailable")
    assert seconds < DEADLINE
