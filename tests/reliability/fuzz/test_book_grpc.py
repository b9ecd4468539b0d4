"""Fuzz the book service's gRPC port with malformed messages: every answer is a
client-error status (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED ...) or a
normal reply, never INTERNAL or UNKNOWN, never a hang, and the server keeps
serving afterwards.

The calls go to one book instance started in this process under kitcore's App
(conftest.py), through a channel that sends raw bytes, so nothing on the
client side can tidy a message up. Three kinds of input:

- hand-built messages (a table): truncated fields, wrong wire types, broken
  varints and lengths, groups, field number 0, invalid UTF-8, huge strings,
  extreme numbers, too many ids, an oversized message, an unknown method;
- random bytes (hypothesis), sent to every method;
- valid messages with random damage (bytes flipped, cut, inserted).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos import book_pb2

SERVICE = "/kitcore.book.v1.BookService/"
METHODS = ("GetBook", "GetBooks", "ListBooks", "CreateBook", "UpdateStock")
CALL_TIMEOUT = 5.0
"""Seconds a call may take: a DEADLINE_EXCEEDED here means the server hung."""

EXAMPLES = 100
"""Random inputs per method, per kind."""

CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
"""Answers a malformed request may get: the caller's fault, or a plain reply."""

_HYPOTHESIS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow])


# --- the protobuf wire format, by hand -----------------------------------------------


VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def _varint(value: int) -> bytes:
    """``value`` as a base-128 varint (negative numbers as their 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _text(field: int, raw: bytes) -> bytes:
    """A length-delimited field."""
    return _key(field, LENGTH) + _varint(len(raw)) + raw


def _number(field: int, value: int) -> bytes:
    """A varint field."""
    return _key(field, VARINT) + _varint(value)


A_UUID = str(uuid.uuid4()).encode()
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_FIELD = 2**29 - 1
OVER_4MB = 5 * 1024 * 1024

AUTHOR = _text(2, b"Frank Herbert")
YEAR = _number(3, 1965)
BOOK = _text(1, b"Dune") + AUTHOR + YEAR + _number(4, 3)
"""A valid CreateBookRequest."""

CASES: dict[str, tuple[str, bytes]] = {
    # Nothing, or nothing useful.
    "get_empty": ("GetBook", b""),
    "create_empty": ("CreateBook", b""),
    "stock_empty": ("UpdateStock", b""),
    "only_unknown_field": ("CreateBook", _number(99, 1) + _text(100, b"x")),
    "max_field_number": ("GetBook", _number(MAX_FIELD, 7)),
    # Truncated messages.
    "truncated_length": ("GetBook", _key(1, LENGTH) + _varint(36) + A_UUID[:10]),
    "truncated_varint": ("UpdateStock", _text(1, A_UUID) + _key(2, VARINT) + b"\xff"),
    "truncated_key": ("CreateBook", BOOK + b"\x80"),
    "truncated_fixed64": ("UpdateStock", _key(2, FIXED64) + b"\x01\x02"),
    "truncated_fixed32": ("ListBooks", _key(2, FIXED32) + b"\x01"),
    "cut_mid_book": ("CreateBook", BOOK[: len(BOOK) // 2]),
    # Broken varints and lengths.
    "varint_overlong": ("UpdateStock", _text(1, A_UUID) + _key(2, VARINT) + b"\xff" * 10 + b"\x01"),
    "length_past_end": ("GetBook", _key(1, LENGTH) + _varint(1 << 20) + b"abc"),
    "length_negative": ("GetBook", _key(1, LENGTH) + _varint(-1) + b"abc"),
    "length_over_2gb": ("CreateBook", _key(1, LENGTH) + _varint(1 << 32) + b"abc"),
    # Wire types that do not match the field, or do not exist.
    "string_as_varint": ("GetBook", _number(1, 12345)),
    "string_as_fixed32": ("GetBook", _key(1, FIXED32) + b"\x01\x02\x03\x04"),
    "int_as_string": ("CreateBook", _text(1, b"T") + _text(2, b"A") + _text(3, b"1999")),
    "int64_as_fixed64": ("UpdateStock", _text(1, A_UUID) + _key(2, FIXED64) + b"\xff" * 8),
    "repeated_as_varint": ("GetBooks", _number(1, 1) * 5),
    "nested_message_as_string": ("GetBook", _text(1, _text(1, A_UUID))),
    "wire_type_6": ("GetBook", bytes([1 << 3 | 6]) + b"\x00"),
    "wire_type_7": ("ListBooks", bytes([2 << 3 | 7]) + b"\x00"),
    "open_group": ("CreateBook", _key(1, START_GROUP) + _number(2, 1)),
    "stray_end_group": ("CreateBook", _key(1, END_GROUP)),
    "field_number_zero": ("GetBook", _key(0, LENGTH) + _varint(1) + b"x"),
    # Strings that are not text, or not ids.
    "invalid_utf8_id": ("GetBook", _text(1, b"\xff\xfe\xfd")),
    "invalid_utf8_title": ("CreateBook", _text(1, b"\xc3\x28") + AUTHOR + YEAR),
    "lone_surrogate_utf8": ("CreateBook", _text(1, b"\xed\xa0\x80") + AUTHOR + YEAR),
    "nul_in_id": ("GetBook", _text(1, b"\x00" + A_UUID[1:])),
    "control_chars_title": ("CreateBook", _text(1, b"\x01\x02\x1b[31m") + AUTHOR + YEAR),
    "path_in_id": ("UpdateStock", _text(1, b"../../etc/passwd") + _number(2, 1)),
    "sql_in_author": ("ListBooks", _text(1, b"' OR 1=1; DROP TABLE books; --")),
    # Huge strings (under gRPC's 4 MiB message limit) and an oversized message.
    "huge_id": ("GetBook", _text(1, b"a" * (3 * 1024 * 1024))),
    "huge_title": ("CreateBook", _text(1, b"T" * (3 * 1024 * 1024)) + AUTHOR + YEAR),
    "huge_author_filter": ("ListBooks", _text(1, "é".encode() * (1024 * 1024))),
    "over_4mb": ("CreateBook", _text(1, b"T" * OVER_4MB)),
    "many_ids": ("GetBooks", b"".join(_text(1, str(uuid.uuid4()).encode())
                                      for _ in range(20_000))),
    "many_garbage_ids": ("GetBooks", _text(1, b"x") * 5000),
    # Numbers at and past every limit.
    "year_int32_min": ("CreateBook", _text(1, b"T") + AUTHOR + _number(3, INT32_MIN)),
    "year_int32_max": ("CreateBook", _text(1, b"T") + AUTHOR + _number(3, INT32_MAX)),
    "year_past_int32": ("CreateBook", _text(1, b"T") + _text(2, b"A") + _number(3, 2**40)),
    "stock_int64_max": ("CreateBook", BOOK + _number(4, INT64_MAX)),
    "stock_negative": ("CreateBook", BOOK + _number(4, -1)),
    "delta_int64_min": ("UpdateStock", _text(1, A_UUID) + _number(2, INT64_MIN)),
    "delta_int64_max": ("UpdateStock", _text(1, A_UUID) + _number(2, INT64_MAX)),
    "page_negative": ("ListBooks", _number(2, -1)),
    "page_int32_max": ("ListBooks", _number(2, INT32_MAX) + _number(3, 100)),
    "page_size_negative": ("ListBooks", _number(3, -5)),
    "page_size_int32_max": ("ListBooks", _number(3, INT32_MAX)),
}


def _raw(channel: grpc.Channel, method: str) -> Callable[..., bytes]:
    """A callable that sends raw bytes to ``method`` and returns the raw reply."""
    return channel.unary_unary(SERVICE + method)


def _status(channel: grpc.Channel, method: str, payload: bytes) -> tuple[grpc.StatusCode, str]:
    """Send ``payload`` to ``method``: the status code and details of the answer."""
    try:
        _raw(channel, method)(payload, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _assert_client_error(channel: grpc.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    code, details = _status(channel, method, payload)
    assert code in CLIENT_ERRORS, (
        f"{method} answered {code.name} ({details[:200]!r}) to {len(payload)} bytes "
        f"starting {payload[:40]!r}")
    return code


def _assert_still_serving(channel: grpc.Channel) -> None:
    """A well-formed create and read still succeed."""
    stub_create = channel.unary_unary(SERVICE + "CreateBook",
                                      request_serializer=book_pb2.CreateBookRequest.SerializeToString,
                                      response_deserializer=book_pb2.BookReply.FromString)
    created = stub_create(book_pb2.CreateBookRequest(title="After", author="Fuzz", year=2000),
                          timeout=CALL_TIMEOUT)
    stub_get = channel.unary_unary(SERVICE + "GetBook",
                                   request_serializer=book_pb2.GetBookRequest.SerializeToString,
                                   response_deserializer=book_pb2.BookReply.FromString)
    got = stub_get(book_pb2.GetBookRequest(id=created.book.id), timeout=CALL_TIMEOUT)
    assert got.book == created.book


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_message_gets_a_client_error(book_channel: grpc.Channel, name: str) -> None:
    """Each hand-built malformed message is refused as the caller's fault (or served)."""
    method, payload = CASES[name]
    _assert_client_error(book_channel, method, payload)


def test_undecodable_bytes_are_invalid_argument_by_name(book_channel: grpc.Channel) -> None:
    """Bytes that are not a message at all are INVALID_ARGUMENT, saying so."""
    code, details = _status(book_channel, "GetBook", _key(1, LENGTH) + _varint(1 << 20))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "malformed" in details, details


def test_oversized_message_is_resource_exhausted(book_channel: grpc.Channel) -> None:
    """A message over gRPC's 4 MiB receive limit is refused before it is parsed."""
    method, payload = CASES["over_4mb"]
    assert _assert_client_error(book_channel, method, payload) == \
        grpc.StatusCode.RESOURCE_EXHAUSTED


def test_unknown_method_is_unimplemented(book_channel: grpc.Channel) -> None:
    """A method the service does not have is UNIMPLEMENTED, not an error of the server."""
    code, _ = _status(book_channel, "DropCatalogue", b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED


@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=2048))
@_HYPOTHESIS
def test_random_bytes_get_a_client_error(book_channel: grpc.Channel, method: str,
                                         payload: bytes) -> None:
    """Any byte string sent to any method is refused as the caller's fault, or served."""
    _assert_client_error(book_channel, method, payload)


_VALID = {
    "GetBook": book_pb2.GetBookRequest(id=str(uuid.uuid4())),
    "GetBooks": book_pb2.GetBooksRequest(ids=[str(uuid.uuid4()) for _ in range(3)]),
    "ListBooks": book_pb2.ListBooksRequest(author="Frank Herbert", page=1, page_size=10),
    "CreateBook": book_pb2.CreateBookRequest(title="Dune", author="Frank Herbert", year=1965,
                                             stock=3),
    "UpdateStock": book_pb2.UpdateStockRequest(id=str(uuid.uuid4()), delta=-2),
}


@st.composite
def _damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid message of a random method with a few bytes flipped, cut or inserted."""
    method = draw(st.sampled_from(METHODS))
    data = bytearray(_VALID[method].SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and where < len(data):
            data[where] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[where:]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
    return method, bytes(data)


@given(damaged=_damaged())
@_HYPOTHESIS
def test_damaged_messages_get_a_client_error(book_channel: grpc.Channel,
                                             damaged: tuple[str, bytes]) -> None:
    """A valid message with random damage is refused as the caller's fault, or served."""
    _assert_client_error(book_channel, *damaged)


def test_server_still_serves_after_the_fuzzing(book_channel: grpc.Channel) -> None:
    """After every malformed call above, the same server creates and reads a book."""
    for method, payload in CASES.values():
        _status(book_channel, method, payload)
    _assert_still_serving(book_channel)
