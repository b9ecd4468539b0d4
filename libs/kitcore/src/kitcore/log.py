"""Structured logs: one JSON object per line, through the standard ``logging`` module.

:func:`setup` points the root logger at stderr with :class:`JSONFormatter`, so
every library that logs through ``logging`` writes the same shape::

    {"ts": "2026-01-02T03:04:05.678Z", "level": "info", "logger": "book",
     "msg": "call", "service": "book", "trace_id": "...", "span_id": "...",
     "endpoint": "get_book", "outcome": "ok", "duration_ms": 1.2}

Extra fields go in ``extra={"fields": {...}}``. :func:`logging_middleware` writes one
line per endpoint call that failed, and one per successful call whose trace is
sampled; other successful calls log at DEBUG (``KIT_LOG_LEVEL=debug`` shows
them all). When the line would only reach :func:`setup`'s own handler, the
middleware writes it directly (the same JSON, without a LogRecord). An
unexpected exception is logged with its traceback and marked
(:func:`mark_logged`), so the transport that turns it into a 500 does not log
it a second time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace

from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.errors import KitError, is_client_error

_LOGGED = "_kitcore_logged"
_handler: _LineHandler | None = None


def trace_ids() -> tuple[str, str] | None:
    """The (trace id, span id) of the current OpenTelemetry span as hex, or None."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def sampled() -> bool:
    """True when the current span's trace is sampled (recorded and exported)."""
    return trace.get_current_span().get_span_context().trace_flags.sampled


def json_line(
    created: float, level: str, logger: str, msg: str, service: str,
    fields: dict[str, Any] | None = None, exc: str | None = None,
) -> str:
    """One log line: the standard keys, the current trace ids, then ``fields``."""
    line: dict[str, Any] = {
        "ts": _timestamp(created), "level": level, "logger": logger, "msg": msg,
        "service": service,
    }
    ids = trace_ids()
    if ids:
        line["trace_id"], line["span_id"] = ids
    if fields:
        line.update(fields)
    if exc:
        line["exc"] = exc
    return json.dumps(line, default=str)


def _timestamp(created: float) -> str:
    """UTC, ISO 8601 with milliseconds and a ``Z``: ``2026-01-02T03:04:05.678Z``."""
    millis = int(created * 1000) % 1000
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(created))}.{millis:03d}Z"


class JSONFormatter(logging.Formatter):
    """Formats a log record as one JSON line with the service, trace ids and fields."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        fields = getattr(record, "fields", None)
        return json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(),
            self.service, fields if isinstance(fields, dict) else None,
            self.formatException(record.exc_info) if record.exc_info else None,
        )


class _LineHandler(logging.StreamHandler):
    """The root handler :func:`setup` installs; also takes lines built elsewhere."""

    def write_line(self, line: str) -> None:
        """Write one finished line, as :meth:`emit` would write a formatted record."""
        with self.lock:
            self.stream.write(line + self.terminator)
            self.stream.flush()


def setup(service: str, level: str | int = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines (safe to call again)."""
    global _handler
    root = logging.getLogger()
    if _handler is None:
        _handler = _LineHandler(sys.stderr)
        root.addHandler(_handler)
    _handler.setFormatter(JSONFormatter(service))
    root.setLevel(level.upper() if isinstance(level, str) else level)


def mark_logged(exc: BaseException) -> None:
    """Note on an exception that its traceback has been logged already."""
    setattr(exc, _LOGGED, True)


def is_logged(exc: BaseException) -> bool:
    """True when :func:`mark_logged` was called for this exception."""
    return getattr(exc, _LOGGED, False)


def logging_middleware(logger: logging.Logger, name: str) -> Middleware:
    """Log one line per call of the endpoint ``name``: outcome and duration.

    The outcome is ``"ok"`` or the error's kind code. Successful calls are
    logged at INFO when their trace is sampled, otherwise at DEBUG; client
    errors at INFO, other kit errors at WARNING, unexpected exceptions at
    ERROR with their traceback.
    """

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            started = time.perf_counter()
            try:
                response = next_endpoint(ctx, request)
            except KitError as err:
                level = logging.INFO if is_client_error(err) else logging.WARNING
                _log_call(logger, level, name, err.kind.value, started, err.message)
                raise
            except Exception as exc:
                _log_call(logger, logging.ERROR, name, "internal", started, str(exc), exc)
                mark_logged(exc)
                raise
            level = logging.INFO if sampled() else logging.DEBUG
            if logger.isEnabledFor(level):
                _log_call(logger, level, name, "ok", started)
            return response

        return endpoint

    return wrap


def _log_call(
    logger: logging.Logger,
    level: int,
    name: str,
    outcome: str,
    started: float,
    error: str | None = None,
    exc: BaseException | None = None,
) -> None:
    fields: dict[str, Any] = {
        "endpoint": name,
        "outcome": outcome,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if error is not None:
        fields["error"] = error
    handler = _handler
    if exc is None and handler is not None and _only_handler(logger, handler):
        if logger.isEnabledFor(level):
            handler.write_line(json_line(
                time.time(), logging.getLevelName(level).lower(), logger.name, "call",
                handler.formatter.service, fields,  # type: ignore[union-attr]
            ))
        return
    logger.log(level, "call", exc_info=exc, extra={"fields": fields})


def _only_handler(logger: logging.Logger, handler: logging.Handler) -> bool:
    """True when ``handler`` (unfiltered) is the one handler ``logger``'s records reach."""
    if handler.filters or handler.level > logging.DEBUG:
        return False
    current: logging.Logger | None = logger
    found: list[logging.Handler] = []
    while current is not None:
        if current.filters:
            return False
        found.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    return found == [handler]
