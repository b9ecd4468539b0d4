"""kitcore.transport.grpc against a real grpcio server on a loopback port.

The test service speaks google.protobuf.Struct, so no generated code is needed.
"""

from __future__ import annotations

import logging
import threading
import time

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from kitcore import errors
from kitcore.endpoint import Context
from kitcore.testing.grpc_server import serve_grpc
from kitcore.testing.process import free_port
from kitcore.transport import grpc as kgrpc

SERVICE = "kitcore.test.Echo"
INSTANCE = "echo-1"


class BookNotFound(errors.NotFound):
    """A domain error, as a service would define it."""


def _to_dict(message: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(message)


def _to_struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _decode(message: struct_pb2.Struct) -> dict:
    request = _to_dict(message)
    if "bad" in request:
        raise ValueError("field 'bad' is not allowed")
    return request


class _Recorder:
    """The test endpoint: echoes, raises on demand, counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx: Context, request: dict) -> dict:
        self.calls += 1
        if "sleep" in request:
            time.sleep(request["sleep"])
        if "raise" in request:
            raise errors.from_code(request["raise"], f"raised {request['raise']}")
        if "raise_domain" in request:
            raise BookNotFound("no book 42")
        if "rate_limited" in request:
            raise errors.RateLimited(
                "slow down", retry_after=1.5, headers={"RateLimit-Limit": "20"}
            )
        if "crash" in request:
            raise RuntimeError("secret internal detail")
        return {
            "echo": request,
            "remaining": ctx.remaining(),
            "metadata": dict(ctx.metadata),
        }


def _plain_not_found(request: struct_pb2.Struct, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.NOT_FOUND, "plain grpc not found")


def _stream(request: struct_pb2.Struct, context: grpc.ServicerContext):
    yield request


@pytest.fixture(scope="module")
def served():
    recorder = _Recorder()
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(
            kgrpc.Handler(recorder, _decode, _to_struct),
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        ),
        "Plain": grpc.unary_unary_rpc_method_handler(
            _plain_not_found,
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        ),
        "Stream": grpc.unary_stream_rpc_method_handler(
            _stream,
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        ),
    }
    served = serve_grpc(lambda server: server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, handlers),)
    ), served_by=INSTANCE)
    channel = kgrpc.new_channel(served.address)
    yield recorder, channel
    channel.close()
    served.stop()


def _method(channel: grpc.Channel, name: str = "Echo"):
    return channel.unary_unary(
        f"/{SERVICE}/{name}",
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )


def _client(channel: grpc.Channel, name: str = "Echo", **kwargs) -> kgrpc.ClientEndpoint:
    return kgrpc.ClientEndpoint(_method(channel, name), _to_struct, _to_dict, **kwargs)


# --- server adapter ---------------------------------------------------------------------


def test_round_trip_through_handler_and_client(served):
    _, channel = served
    reply = _client(channel)(Context(), {"title": "Dune", "year": 1965})
    assert reply["echo"] == {"title": "Dune", "year": 1965}


def test_no_deadline_reaches_the_endpoint_as_none(served):
    _, channel = served
    reply = _method(channel)(_to_struct({}))
    assert _to_dict(reply)["remaining"] is None


def test_call_timeout_becomes_the_context_deadline(served):
    _, channel = served
    reply = _to_dict(_method(channel)(_to_struct({}), timeout=2.0))
    # grpc rounds the timeout it sends up to a few milliseconds
    assert 1.5 < reply["remaining"] <= 2.05


def test_metadata_reaches_the_endpoint(served):
    _, channel = served
    reply = _method(channel)(_to_struct({}), metadata=[("x-request-id", "req-1")])
    assert _to_dict(reply)["metadata"]["x-request-id"] == "req-1"


@pytest.mark.parametrize("kind", list(errors.Kind), ids=lambda kind: kind.value)
def test_every_kind_answers_its_status_and_comes_back_as_itself(served, kind):
    _, channel = served
    with pytest.raises(grpc.RpcError) as raw:
        _method(channel)(_to_struct({"raise": kind.value}))
    assert raw.value.code().name == errors.TABLE[kind].grpc_code
    assert (kgrpc.ERROR_CODE_KEY, kind.value) in raw.value.trailing_metadata()

    with pytest.raises(errors.KitError) as rebuilt:
        _client(channel)(Context(), {"raise": kind.value})
    assert type(rebuilt.value) is errors.error_class(kind)
    assert rebuilt.value.message == f"raised {kind.value}"


def test_domain_error_arrives_as_its_kind(served):
    _, channel = served
    with pytest.raises(errors.NotFound, match="no book 42"):
        _client(channel)(Context(), {"raise_domain": True})


def test_retry_after_and_error_headers_travel_as_trailing_metadata(served):
    _, channel = served
    with pytest.raises(grpc.RpcError) as raw:
        _method(channel)(_to_struct({"rate_limited": True}))
    assert raw.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailing = dict(raw.value.trailing_metadata())
    assert trailing["retry-after"] == "2"
    assert trailing["ratelimit-limit"] == "20"

    with pytest.raises(errors.RateLimited) as rebuilt:
        _client(channel)(Context(), {"rate_limited": True})
    assert rebuilt.value.retry_after == 2
    assert rebuilt.value.headers == {"ratelimit-limit": "20"}


def test_decode_error_answers_invalid_argument(served):
    recorder, channel = served
    before = recorder.calls
    with pytest.raises(grpc.RpcError) as raw:
        _method(channel)(_to_struct({"bad": 1}))
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "field 'bad' is not allowed" in raw.value.details()
    assert recorder.calls == before


def test_unexpected_exception_answers_internal_generic_and_is_logged(served, caplog):
    _, channel = served
    with (
        caplog.at_level(logging.ERROR, logger="kitcore.transport.grpc"),
        pytest.raises(grpc.RpcError) as raw,
    ):
        _method(channel)(_to_struct({"crash": True}))
    assert raw.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in raw.value.details()
    record = next(r for r in caplog.records if r.name == "kitcore.transport.grpc")
    assert record.exc_info and "secret internal detail" in str(record.exc_info[1])


@pytest.mark.parametrize("garbage", [b"\x0a\xff", b"\xff\xff\xff\xff", b"not a protobuf"])
def test_malformed_bytes_answer_invalid_argument(served, garbage):
    recorder, channel = served
    before = recorder.calls
    raw = channel.unary_unary(f"/{SERVICE}/Echo")  # bytes in, bytes out
    with pytest.raises(grpc.RpcError) as failed:
        raw(garbage)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed request" in failed.value.details()
    assert recorder.calls == before


def test_malformed_bytes_to_a_streaming_method_answer_invalid_argument(served):
    _, channel = served
    raw = channel.unary_stream(f"/{SERVICE}/Stream")
    with pytest.raises(grpc.RpcError) as failed:
        list(raw(b"\xff\xff\xff\xff"))
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_reply_names_the_instance_in_trailing_metadata(served):
    _, channel = served
    _, call = _method(channel).with_call(_to_struct({}))
    assert (kgrpc.SERVED_BY_KEY, INSTANCE) in call.trailing_metadata()


@pytest.mark.parametrize(
    ("name", "request_"),
    [("Echo", {"rate_limited": True}), ("Echo", {"bad": 1}), ("Plain", {})],
    ids=["endpoint error", "refused request", "handler's own abort"],
)
def test_an_error_names_the_instance_beside_its_own_metadata(served, name, request_):
    _, channel = served
    with pytest.raises(grpc.RpcError) as raw:
        _method(channel, name)(_to_struct(request_))
    trailing = dict(raw.value.trailing_metadata())
    assert trailing[kgrpc.SERVED_BY_KEY] == INSTANCE
    if name == "Echo":
        assert kgrpc.ERROR_CODE_KEY in trailing  # added to, not replaced


def test_malformed_bytes_and_streams_name_the_instance_too(served):
    _, channel = served
    with pytest.raises(grpc.RpcError) as malformed:
        channel.unary_unary(f"/{SERVICE}/Echo")(b"\xff\xff\xff\xff")
    streamed = channel.unary_stream(
        f"/{SERVICE}/Stream", request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )(_to_struct({}))
    list(streamed)
    assert (kgrpc.SERVED_BY_KEY, INSTANCE) in malformed.value.trailing_metadata()
    assert (kgrpc.SERVED_BY_KEY, INSTANCE) in streamed.trailing_metadata()


def test_a_server_without_an_instance_id_names_none():
    served = serve_grpc(lambda server: server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(
            kgrpc.Handler(_Recorder(), _decode, _to_struct),
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        )}),
    )))
    try:
        with kgrpc.new_channel(served.address) as channel:
            _, call = _method(channel).with_call(_to_struct({}))
        assert kgrpc.SERVED_BY_KEY not in dict(call.trailing_metadata())
    finally:
        served.stop()


# --- client endpoint --------------------------------------------------------------------


def test_the_client_records_which_instance_answered(served):
    _, channel = served
    ctx, served_by = kgrpc.record_served_by(Context())
    _client(channel)(ctx, {})
    with pytest.raises(errors.RateLimited) as failed:
        _client(channel)(ctx, {"rate_limited": True})
    assert served_by == [INSTANCE, INSTANCE]
    assert failed.value.headers == {"ratelimit-limit": "20"}  # not an error header


def test_the_client_records_nothing_unless_asked(served):
    _, channel = served
    ctx = Context()
    _client(channel)(ctx, {})
    assert ctx.value(kgrpc.SERVED_BY) is None


def test_status_without_kit_code_maps_by_grpc_code(served):
    _, channel = served
    with pytest.raises(errors.NotFound, match="plain grpc not found"):
        _client(channel, "Plain")(Context(), {})


def test_passed_deadline_fails_without_sending(served):
    recorder, channel = served
    before = recorder.calls
    ctx = Context(deadline=time.monotonic() - 1)
    with pytest.raises(errors.DeadlineExceeded):
        _client(channel)(ctx, {})
    assert recorder.calls == before


def test_context_deadline_shortens_the_call_timeout(served):
    _, channel = served
    reply = _client(channel, timeout=5.0)(Context().with_timeout(1.0), {})
    assert 0.5 < reply["remaining"] <= 1.05  # not the endpoint's 5 s


def test_slow_server_gives_deadline_exceeded_within_the_context_deadline(served):
    _, channel = served
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded):
        _client(channel, timeout=5.0)(Context().with_timeout(0.3), {"sleep": 1.5})
    assert time.monotonic() - started < 1.4


def test_client_timeout_applies_without_a_context_deadline(served):
    _, channel = served
    with pytest.raises(errors.DeadlineExceeded):
        _client(channel, timeout=0.3)(Context(), {"sleep": 1.5})


def test_request_id_is_forwarded(served):
    _, channel = served
    ctx = Context().with_metadata({"X-Request-Id": "abc-123", "authorization": "Bearer x"})
    reply = _client(channel)(ctx, {})
    assert reply["metadata"]["x-request-id"] == "abc-123"
    assert "authorization" not in reply["metadata"]


def test_nothing_listening_is_not_sent():
    channel = kgrpc.new_channel(f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(errors.NotSent):  # an Unavailable that is safe to retry anywhere
            _client(channel, timeout=2.0)(Context(), {})
    finally:
        channel.close()


def test_a_closed_channel_is_not_sent():
    channel = kgrpc.new_channel(f"127.0.0.1:{free_port()}")
    client = _client(channel, timeout=2.0)
    channel.close()
    with pytest.raises(errors.NotSent, match="closed"):
        client(Context(), {})


def test_a_server_error_after_sending_is_not_not_sent(served):
    recorder, channel = served
    with pytest.raises(errors.Unavailable) as caught:
        _client(channel)(Context(), {"raise": "unavailable"})
    assert not isinstance(caught.value, errors.NotSent)


def test_new_server_refuses_a_port_already_taken():
    first = kgrpc.new_server(max_workers=1)
    port = first.add_insecure_port(f"127.0.0.1:{free_port()}")
    first.start()
    second = kgrpc.new_server(max_workers=1)
    try:
        with pytest.raises(RuntimeError):
            second.add_insecure_port(f"127.0.0.1:{port}")
    finally:
        first.stop(None)
        second.stop(None)


def test_concurrent_calls_each_get_their_own_answer(served):
    _, channel = served
    client = _client(channel)
    results: dict[int, dict] = {}

    def call(n: int) -> None:
        results[n] = client(Context(), {"n": n})

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: results[n]["echo"]["n"] for n in range(8)} == {n: n for n in range(8)}
