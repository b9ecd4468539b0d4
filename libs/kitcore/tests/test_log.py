"""kitcore.log: JSON lines, trace ids, setup, one line per endpoint call."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from datetime import datetime

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider, sampling

from kitcore import errors, log
from kitcore.endpoint import Context


@pytest.fixture
def lines():
    """A logger 'kit.test' whose records are captured as parsed JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log.JSONFormatter("book"))
    logger = logging.getLogger("kit.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield logger, read
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_line_is_one_json_object_with_the_standard_keys(lines):
    logger, read = lines
    logger.warning("stock low %d", 3, extra={"fields": {"book_id": "b1", "stock": 3}})
    [line] = read()
    assert line["ts"].endswith("Z")
    assert datetime.fromisoformat(line["ts"]).utcoffset().total_seconds() == 0
    assert {k: line[k] for k in ("level", "logger", "msg", "service", "book_id", "stock")} == {
        "level": "warning", "logger": "kit.test", "msg": "stock low 3", "service": "book",
        "book_id": "b1", "stock": 3,
    }
    assert "trace_id" not in line


def test_trace_and_span_ids_come_from_the_current_span(lines):
    logger, read = lines
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logger.info("inside")
    context = span.get_span_context()
    [line] = read()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_exceptions_carry_their_traceback(lines):
    logger, read = lines
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("failed")
    [line] = read()
    assert line["level"] == "error"
    assert "Traceback" in line["exc"] and "ValueError: bad value" in line["exc"]


def test_setup_configures_the_root_logger_once(capsys):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        log.setup("book", "debug")
        log.setup("book", "WARNING")
        added = [h for h in root.handlers if h not in handlers]
        assert len(added) == 1
        assert root.level == logging.WARNING
        logging.getLogger("some.library").warning("hello")
        [line] = capsys.readouterr().err.splitlines()
        assert json.loads(line)["msg"] == "hello"
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        log._handler = None


def _endpoint(ctx: Context, request: str) -> str:
    if request == "missing":
        raise errors.NotFound("no such book")
    if request == "down":
        raise errors.Unavailable("db down")
    if request == "boom":
        raise RuntimeError("bug")
    return request


@pytest.mark.parametrize(
    ("request_", "level", "outcome", "error"),
    [
        ("b1", "debug", "ok", None),  # no sampled trace: a success is a DEBUG line
        ("missing", "info", "not_found", "no such book"),
        ("down", "warning", "unavailable", "db down"),
    ],
)
def test_middleware_logs_one_line_per_call(lines, request_, level, outcome, error):
    logger, read = lines
    logger.setLevel(logging.DEBUG)
    endpoint = log.logging_middleware(logger, "get_book")(_endpoint)
    with contextlib.suppress(errors.KitError):
        endpoint(Context.background(), request_)
    [line] = read()
    assert (line["level"], line["endpoint"], line["outcome"]) == (level, "get_book", outcome)
    assert line.get("error") == error
    assert line["duration_ms"] >= 0


def test_middleware_logs_unexpected_errors_with_traceback_and_marks_them(lines):
    logger, read = lines
    endpoint = log.logging_middleware(logger, "get_book")(_endpoint)
    with pytest.raises(RuntimeError) as caught:
        endpoint(Context.background(), "boom")
    [line] = read()
    assert (line["level"], line["outcome"], line["error"]) == ("error", "internal", "bug")
    assert "RuntimeError: bug" in line["exc"]
    assert log.is_logged(caught.value)
    assert not log.is_logged(RuntimeError("fresh"))


def test_successes_log_at_info_only_when_their_trace_is_sampled(lines):
    logger, read = lines  # at INFO
    endpoint = log.logging_middleware(logger, "get_book")(_endpoint)
    endpoint(Context.background(), "b1")
    assert read() == []
    tracer = TracerProvider(sampler=sampling.ALWAYS_OFF).get_tracer("test")
    with tracer.start_as_current_span("unsampled"):
        endpoint(Context.background(), "b1")
    assert read() == []
    tracer = TracerProvider(sampler=sampling.ALWAYS_ON).get_tracer("test")
    with tracer.start_as_current_span("sampled") as span:
        endpoint(Context.background(), "b1")
    [line] = read()
    assert (line["level"], line["outcome"]) == ("info", "ok")
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_failures_log_with_the_trace_id_of_an_unsampled_trace(lines):
    logger, read = lines
    endpoint = log.logging_middleware(logger, "get_book")(_endpoint)
    tracer = TracerProvider(sampler=sampling.ALWAYS_OFF).get_tracer("test")
    with tracer.start_as_current_span("unsampled") as span, contextlib.suppress(errors.KitError):
        endpoint(Context.background(), "missing")
    [line] = read()
    assert line["outcome"] == "not_found"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


@pytest.fixture
def root_handler():
    """kitcore's own root handler writing into a buffer, as after ``log.setup``."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, log._handler)
    stream = io.StringIO()
    root.handlers = []
    log._handler = None
    log.setup("book", "INFO")
    log._handler.setStream(stream)
    yield stream
    root.handlers, log._handler = saved[0], saved[2]
    root.setLevel(saved[1])


def test_a_call_line_written_directly_is_the_line_a_record_gives(root_handler, monkeypatch):
    logger = logging.getLogger("kit.direct")
    monkeypatch.setattr(logging.getLogger(), "handlers", [log._handler])  # not pytest's too
    emitted = []
    emit = log._handler.emit
    monkeypatch.setattr(log._handler, "emit", lambda record: (emitted.append(record), emit(record)))
    endpoint = log.logging_middleware(logger, "get_book")(_endpoint)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        endpoint(Context.background(), "b1")
        with contextlib.suppress(errors.KitError):
            endpoint(Context.background(), "down")
    direct = [json.loads(line) for line in root_handler.getvalue().splitlines()]
    assert emitted == []  # written without a LogRecord
    root_handler.truncate(0)
    root_handler.seek(0)
    extra = logging.Filter()  # a filter on the logger makes the middleware use a LogRecord
    logger.addFilter(extra)
    try:
        token = context.attach(trace.set_span_in_context(span))
        try:
            endpoint(Context.background(), "b1")
            with contextlib.suppress(errors.KitError):
                endpoint(Context.background(), "down")
        finally:
            context.detach(token)
    finally:
        logger.removeFilter(extra)
    recorded = [json.loads(line) for line in root_handler.getvalue().splitlines()]
    assert len(emitted) == 2
    assert len(direct) == len(recorded) == 2
    for built, formatted in zip(direct, recorded, strict=True):
        assert built.keys() == formatted.keys()
        for key in ("ts", "duration_ms"):
            built.pop(key), formatted.pop(key)
        assert built == formatted
    assert direct[0]["trace_id"] == format(span.get_span_context().trace_id, "032x")
