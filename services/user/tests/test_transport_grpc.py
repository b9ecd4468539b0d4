"""The user gRPC service through a real in-process grpcio server on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from kitcore.app import App
from kitcore.auth import JWTVerifier
from protos import user_pb2, user_pb2_grpc

PASSWORD = "correct horse battery"
ADA = user_pb2.CreateUserRequest(name="Ada", email="ada@example.org", password=PASSWORD)


@pytest.fixture
def channel(served: App) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.config.grpc_address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> user_pb2_grpc.UserServiceStub:
    return user_pb2_grpc.UserServiceStub(channel)


def _status(call, request) -> tuple[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    assert dict(caught.value.trailing_metadata())["x-served-by"] == "user-test"
    return caught.value.code().name, caught.value.details()


def test_sign_up_get_log_in_and_shelve(
    stub: user_pb2_grpc.UserServiceStub, verifier: JWTVerifier
) -> None:
    user = stub.CreateUser(ADA, timeout=5).user
    assert stub.GetUser(user_pb2.GetUserRequest(id=user.id), timeout=5).user == user
    login, call = stub.Login.with_call(
        user_pb2.LoginRequest(email="ADA@example.org", password=PASSWORD), timeout=5)
    assert login.token_type == "Bearer"
    assert dict(call.trailing_metadata())["x-served-by"] == "user-test"
    assert verifier.verify(login.access_token)["sub"] == user.id
    book_id = str(uuid.uuid4())
    for _ in range(2):
        shelf = stub.AddToShelf(user_pb2.AddToShelfRequest(user_id=user.id, book_id=book_id),
                                timeout=5)
    assert list(shelf.book_ids) == [book_id]
    assert list(stub.GetShelf(user_pb2.GetShelfRequest(user_id=user.id),
                              timeout=5).book_ids) == [book_id]


def test_each_failure_gets_the_status_of_its_kind(stub: user_pb2_grpc.UserServiceStub) -> None:
    stub.CreateUser(ADA, timeout=5)
    unknown = str(uuid.uuid4())
    assert _status(stub.CreateUser, ADA)[0] == "ALREADY_EXISTS"
    wrong = user_pb2.LoginRequest(email="ada@example.org", password="not the password")
    assert _status(stub.Login, wrong) == ("UNAUTHENTICATED", "wrong email or password")
    assert _status(stub.GetUser, user_pb2.GetUserRequest(id=unknown))[0] == "NOT_FOUND"
    assert _status(stub.GetShelf, user_pb2.GetShelfRequest(user_id=unknown))[0] == "NOT_FOUND"
    add = user_pb2.AddToShelfRequest(user_id=unknown, book_id=unknown)
    assert _status(stub.AddToShelf, add)[0] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "request_", "message"),
    [
        ("CreateUser", user_pb2.CreateUserRequest(email="a@example.org", password=PASSWORD),
         "name: must not be empty"),
        ("CreateUser", user_pb2.CreateUserRequest(name="A", email="nope", password=PASSWORD),
         "email: not an e-mail address"),
        ("CreateUser", user_pb2.CreateUserRequest(name="A", email="a@example.org",
                                                  password="short"), "password: shorter than 8"),
        ("GetUser", user_pb2.GetUserRequest(), "id: required"),
        ("Login", user_pb2.LoginRequest(email="a@example.org"), "password: must not be empty"),
        ("AddToShelf", user_pb2.AddToShelfRequest(user_id=str(uuid.uuid4()), book_id="x"),
         "book_id: must be a UUID"),
    ],
)
def test_bad_fields_are_invalid_argument(
    stub: user_pb2_grpc.UserServiceStub, method: str, request_, message: str
) -> None:
    code, details = _status(getattr(stub, method), request_)
    assert code == "INVALID_ARGUMENT" and message in details


@pytest.mark.parametrize("name", ["Ada\x01\x1b[31m", "Ada\x00", "Ada\nLovelace", "Ada\x7f"])
def test_a_name_with_control_characters_is_refused_and_nothing_is_written(
    stub: user_pb2_grpc.UserServiceStub, name: str
) -> None:
    bad = user_pb2.CreateUserRequest(name=name, email=ADA.email, password=PASSWORD)
    code, details = _status(stub.CreateUser, bad)
    assert code == "INVALID_ARGUMENT"
    assert details == "name: must not contain control characters"
    # The email is still free: the refused call wrote no account.
    assert stub.CreateUser(ADA, timeout=5).user.email == ADA.email


def test_bytes_that_are_no_message_are_invalid_argument(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/kitcore.user.v1.UserService/CreateUser")
    assert _status(raw, b"\xff\xff\xff garbage")[0] == "INVALID_ARGUMENT"
