"""Distributed tracing with OpenTelemetry, exported over OTLP (HTTP/protobuf).

:func:`setup` reads the standard ``OTEL_*`` variables once and installs a
global TracerProvider with a BatchSpanProcessor and an OTLP exporter; Jaeger
(and any OpenTelemetry collector) accepts OTLP natively. With no endpoint
configured, or with ``OTEL_SDK_DISABLED=true``, it installs nothing and returns
None: tracing is off (:func:`enabled` says False), and the transports'
``instrument_*`` helpers (:mod:`kitcore.transport.instrument`) do nothing
either, so it costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from kitcore import log

_SAMPLERS = {
    "always_on": lambda ratio: sampling.ALWAYS_ON,
    "always_off": lambda ratio: sampling.ALWAYS_OFF,
    "traceidratio": sampling.TraceIdRatioBased,
    "parentbased_always_on": lambda ratio: sampling.DEFAULT_ON,
    "parentbased_always_off": lambda ratio: sampling.DEFAULT_OFF,
    "parentbased_traceidratio": sampling.ParentBasedTraceIdRatio,
}

_log = logging.getLogger(__name__)


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def traces_endpoint(environ: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP traces URL from ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (as is)
    or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (+ ``/v1/traces``), or None."""
    endpoint = _env(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if endpoint:
        return endpoint
    base = _env(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/traces" if base else None


def sampler_from_env(environ: Mapping[str, str]) -> sampling.Sampler:
    """The sampler named by ``OTEL_TRACES_SAMPLER`` (+ ``_ARG``); default parentbased_always_on."""
    name = _env(environ, "OTEL_TRACES_SAMPLER").lower() or "parentbased_always_on"
    if name not in _SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r}: one of {', '.join(_SAMPLERS)}")
    raw = _env(environ, "OTEL_TRACES_SAMPLER_ARG") or "1.0"
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw!r}: a ratio from 0 to 1")
    return _SAMPLERS[name](ratio)


def new_provider(
    service_name: str, environ: Mapping[str, str] = os.environ
) -> TracerProvider | None:
    """A TracerProvider exporting to the configured OTLP endpoint, or None when
    tracing is off; nothing global is touched."""
    if _env(environ, "OTEL_SDK_DISABLED").lower() == "true":
        return None
    if _env(environ, "OTEL_TRACES_EXPORTER").lower() == "none":
        return None
    endpoint = traces_endpoint(environ)
    if endpoint is None:
        return None
    protocol = _env(environ, "OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only http/protobuf")
    name = _env(environ, "OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}), sampler=sampler_from_env(environ)
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def setup(service_name: str, *, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Install the global TracerProvider from ``OTEL_*`` settings; None when tracing is off."""
    provider = new_provider(service_name, environ)
    if provider is None:
        _log.info("tracing off (no OTLP endpoint configured)")
        return None
    trace.set_tracer_provider(provider)
    _log.info("tracing to %s", traces_endpoint(environ))
    return provider


def enabled() -> bool:
    """True once a real (SDK) TracerProvider is installed globally."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the current span, or None."""
    ids = log.trace_ids()
    return ids[0] if ids else None
