"""The gRPC service through a real in-process grpcio server on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from kitcore.app import App
from kitcore.endpoint import Context
from kitcore.errors import NotFound
from kitcore.transport.grpc import ClientEndpoint
from protos import template_pb2, template_pb2_grpc


@pytest.fixture
def channel(served: App) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.config.grpc_address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> template_pb2_grpc.TemplateServiceStub:
    return template_pb2_grpc.TemplateServiceStub(channel)


def _status(call, request) -> tuple[grpc.StatusCode, str, dict]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    error = caught.value
    return error.code(), error.details(), dict(error.trailing_metadata())


def test_create_then_get(stub: template_pb2_grpc.TemplateServiceStub) -> None:
    created, call = stub.CreateItem.with_call(template_pb2.CreateItemRequest(name="first"),
                                              timeout=5)
    assert uuid.UUID(created.item.id)
    assert dict(call.trailing_metadata())["x-served-by"] == "template-test"
    got = stub.GetItem(template_pb2.GetItemRequest(id=created.item.id), timeout=5)
    assert got.item == created.item and got.item.name == "first"


@pytest.mark.parametrize(
    ("method", "request_", "code", "message"),
    [
        ("GetItem", template_pb2.GetItemRequest(id=str(uuid.uuid4())), "NOT_FOUND", "no item"),
        ("GetItem", template_pb2.GetItemRequest(), "INVALID_ARGUMENT", "id: required"),
        ("GetItem", template_pb2.GetItemRequest(id="nope"), "INVALID_ARGUMENT", "must be a UUID"),
        ("CreateItem", template_pb2.CreateItemRequest(), "INVALID_ARGUMENT",
         "name: must not be empty"),
        ("CreateItem", template_pb2.CreateItemRequest(name="n" * 101), "INVALID_ARGUMENT",
         "longer than 100"),
        ("CreateItem", template_pb2.CreateItemRequest(name="a\x01\x1b[31m"),
         "INVALID_ARGUMENT", "name: must not contain control characters"),
    ],
)
def test_bad_requests_get_the_status_of_their_kind(
    stub: template_pb2_grpc.TemplateServiceStub, method: str, request_, code: str,
    message: str,
) -> None:
    status, details, trailing = _status(getattr(stub, method), request_)
    assert status.name == code and message in details
    assert trailing["kit-error-code"] == code.lower()
    assert trailing["x-served-by"] == "template-test"  # errors name the instance too


def test_bytes_that_are_no_message_are_invalid_argument(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/kitcore.template.v1.TemplateService/CreateItem")
    status, _, _ = _status(raw, b"\xff\xff\xff garbage")
    assert status == grpc.StatusCode.INVALID_ARGUMENT


def test_a_client_endpoint_gets_back_the_same_error_kind(
    stub: template_pb2_grpc.TemplateServiceStub,
) -> None:
    get_item = ClientEndpoint(stub.GetItem, lambda req: req, lambda reply: reply)
    with pytest.raises(NotFound, match="no item"):
        get_item(Context().with_timeout(5), template_pb2.GetItemRequest(id=str(uuid.uuid4())))
