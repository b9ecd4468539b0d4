"""Structured logs: one JSON object per line, through the standard ``logging`` module.

:func:`setup` points the root logger at stderr with :class:`JSONFormatter`, so
every library that logs through ``logging`` writes the same shape::

    {"ts": "2026-01-02T03:04:05.678Z", "level": "info", "logger": "book",
     "msg": "call", "service": "book", "trace_id": "...", "span_id": "...",
     "endpoint": "get_book", "outcome": "ok", "duration_ms": 1.2}

Extra fields go in ``extra={"fields": {...}}``. :func:`logging_middleware` writes one
line per endpoint call. An unexpected exception is logged with its traceback
and marked (:func:`mark_logged`), so the transport that turns it into a 500
does not log it a second time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.errors import KitError, is_client_error

_LOGGED = "_kitcore_logged"
_handler: logging.Handler | None = None


def trace_ids() -> tuple[str, str] | None:
    """The (trace id, span id) of the current OpenTelemetry span as hex, or None."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


class JSONFormatter(logging.Formatter):
    """Formats a log record as one JSON line with the service, trace ids and fields."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self.service,
        }
        ids = trace_ids()
        if ids:
            line["trace_id"], line["span_id"] = ids
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup(service: str, level: str | int = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines (safe to call again)."""
    global _handler
    root = logging.getLogger()
    if _handler is None:
        _handler = logging.StreamHandler(sys.stderr)
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
    """Log exactly one line per call of the endpoint ``name``: outcome and duration.

    The outcome is ``"ok"`` or the error's kind code. Client errors are logged
    at INFO, other kit errors at WARNING, unexpected exceptions at ERROR with
    their traceback.
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
                _log_call(logger, logging.ERROR, name, "internal", started, str(exc), True)
                mark_logged(exc)
                raise
            _log_call(logger, logging.INFO, name, "ok", started)
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
    exc_info: bool = False,
) -> None:
    fields: dict[str, Any] = {
        "endpoint": name,
        "outcome": outcome,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if error is not None:
        fields["error"] = error
    logger.log(level, "call", exc_info=exc_info, extra={"fields": fields})
