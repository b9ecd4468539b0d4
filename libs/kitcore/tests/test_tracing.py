"""Tests for kitcore.tracing: configuration from OTEL_*, OTLP export, and one trace
across a real HTTP -> gRPC hop (kitcore's transports on real sockets)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request

import grpc
import pytest
import requests
from google.protobuf import json_format, struct_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once

from kitcore import errors, tracing
from kitcore.endpoint import Context
from kitcore.sampling import RateLimited
from kitcore.testing.grpc_server import serve_grpc
from kitcore.testing.otlp import OTLPCollector
from kitcore.transport import grpc as kgrpc
from kitcore.transport import http as khttp
from kitcore.transport import instrument

SERVICE = "kitcore.test.Echo"
GRPC_INSTANCE = "echo-1"

# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_SERVICE_NAME": "book"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_tracing_is_off_without_an_endpoint_or_when_disabled(environ):
    assert tracing.new_provider("book", environ) is None


def test_traces_endpoint():
    assert tracing.traces_endpoint({}) is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}
    assert tracing.traces_endpoint(base) == "http://jaeger:4318/v1/traces"
    both = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}
    assert tracing.traces_endpoint(both) == "http://c:4318/custom"


def test_samplers_from_env():
    default = tracing.sampler_from_env({})
    assert isinstance(default, sampling.ParentBased)
    assert "RateLimited{10/s}" in default.get_description()
    limited = tracing.sampler_from_env(
        {"OTEL_TRACES_SAMPLER": "ratelimited", "OTEL_TRACES_SAMPLER_ARG": "2.5"})
    assert isinstance(limited, RateLimited) and limited.per_second == 2.5
    assert tracing.sampler_from_env({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}) \
        is sampling.DEFAULT_ON
    assert tracing.sampler_from_env({"OTEL_TRACES_SAMPLER": "always_off"}) is sampling.ALWAYS_OFF
    ratio = tracing.sampler_from_env(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    )
    assert isinstance(ratio, sampling.ParentBasedTraceIdRatio)
    assert "0.25" in ratio.get_description()


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
        {"OTEL_TRACES_SAMPLER": "parentbased_ratelimited", "OTEL_TRACES_SAMPLER_ARG": "-1"},
        {"OTEL_TRACES_SAMPLER": "ratelimited", "OTEL_TRACES_SAMPLER_ARG": "inf"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(environ):
    with pytest.raises(ValueError, match="OTEL_"):
        tracing.new_provider("book", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", **environ})


def test_provider_exports_otlp_over_http_protobuf():
    with OTLPCollector() as collector:  # takes only protobuf POSTed to /v1/traces
        environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "book-1"}
        provider = tracing.new_provider("book", environ)
        assert provider is not None
        with provider.get_tracer("test").start_as_current_span("GetBook"):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
        assert [(span.service, span.name) for span in collector.spans] == [("book-1", "GetBook")]


# --- one trace across HTTP -> gRPC ----------------------------------------------------


@pytest.fixture(scope="module")
def exporter():
    """Spans of this process in memory; the provider and the instrumentations are
    global, so they are undone after this module (later tests see tracing off)."""
    provider = trace.get_tracer_provider()
    installed = not isinstance(provider, TracerProvider)
    if installed:
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrument.instrument_grpc_server()
    instrument.instrument_grpc_client()
    instrument.instrument_requests()
    yield memory
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    GrpcInstrumentorServer().uninstrument()
    GrpcInstrumentorClient().uninstrument()
    RequestsInstrumentor().uninstrument()
    memory.shutdown()
    if installed:
        provider.shutdown()
        _forget_global_provider()


def _forget_global_provider() -> None:
    """Undo ``trace.set_tracer_provider``, which the API allows once per process.

    OpenTelemetry's own test utilities reset these two globals the same way.
    """
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()


def _struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _backend(ctx: Context, request: dict) -> dict:
    """The gRPC side: reports the trace it runs in and the propagated header."""
    if request.get("fail"):
        raise errors.NotFound("no such thing")
    return {"trace_id": tracing.current_trace_id(), "traceparent": ctx.metadata.get("traceparent")}


@pytest.fixture(scope="module")
def grpc_target(exporter):
    handler = grpc.unary_unary_rpc_method_handler(
        kgrpc.Handler(_backend, json_format.MessageToDict, _struct),
        request_deserializer=struct_pb2.Struct.FromString,
        response_serializer=struct_pb2.Struct.SerializeToString,
    )
    served = serve_grpc(lambda server: server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),)
    ), max_workers=2, served_by=GRPC_INSTANCE)
    yield served.address
    served.stop()


@pytest.fixture
def gateway(grpc_target, serve):
    channel = kgrpc.new_channel(grpc_target)
    stub = channel.unary_unary(
        f"/{SERVICE}/Echo",
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    backend = kgrpc.ClientEndpoint(stub, _struct, json_format.MessageToDict)
    app = khttp.new_app("gateway")
    instrument.instrument_flask(app)
    khttp.route(app, "/hop", ["GET"], lambda ctx, req: backend(ctx, {}), lambda r, p: None)
    yield serve(app).url
    channel.close()


def _finished_spans(exporter: InMemorySpanExporter, count: int) -> list:
    deadline = time.monotonic() + 5
    while len(exporter.get_finished_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(exporter.get_finished_spans())


def test_http_to_grpc_hop_is_one_trace(exporter, gateway):
    exporter.clear()
    reply = requests.get(gateway + "/hop", timeout=10)
    assert reply.status_code == 200

    spans = _finished_spans(exporter, 4)
    by_kind = {(s.kind, s.name.startswith("/kitcore")): s for s in spans}
    http_client = by_kind[(SpanKind.CLIENT, False)]
    http_server = by_kind[(SpanKind.SERVER, False)]
    grpc_client = by_kind[(SpanKind.CLIENT, True)]
    grpc_server = by_kind[(SpanKind.SERVER, True)]
    assert len(spans) == 4

    trace_id = http_client.context.trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}
    assert http_client.parent is None
    assert http_server.parent.span_id == http_client.context.span_id
    assert grpc_client.parent.span_id == http_server.context.span_id
    assert grpc_server.parent.span_id == grpc_client.context.span_id
    assert grpc_server.name == f"/{SERVICE}/Echo"

    hex_id = format(trace_id, "032x")
    assert reply.headers["X-Trace-Id"] == hex_id
    body = reply.json()
    assert body["trace_id"] == hex_id  # what logs on the backend would carry
    # W3C trace-context travelled in the gRPC metadata: version-traceid-spanid-flags.
    version, traced_id, parent_id, flags = body["traceparent"].split("-")
    assert (version, traced_id, parent_id) == ("00", hex_id, f"{grpc_client.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled


def test_grpc_replies_carry_the_trace_id_in_trailing_metadata(exporter, grpc_target):
    """As HTTP's X-Trace-Id: a success and an error each name their own trace, beside
    the instance that answered."""
    exporter.clear()
    with kgrpc.new_channel(grpc_target) as channel:
        stub = channel.unary_unary(
            f"/{SERVICE}/Echo",
            request_serializer=struct_pb2.Struct.SerializeToString,
            response_deserializer=struct_pb2.Struct.FromString,
        )
        _, call = stub.with_call(_struct({}), timeout=10)
        ok = dict(call.trailing_metadata())
        with pytest.raises(grpc.RpcError) as failed:
            stub(_struct({"fail": True}), timeout=10)
        error = dict(failed.value.trailing_metadata())
        with pytest.raises(errors.NotFound) as rebuilt:
            kgrpc.ClientEndpoint(stub, _struct, json_format.MessageToDict)(Context(), {"fail": 1})

    spans = _finished_spans(exporter, 6)
    served = {format(s.context.trace_id, "032x") for s in spans if s.kind == SpanKind.SERVER}
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert error[kgrpc.ERROR_CODE_KEY] == "not_found"
    assert len(ok["x-trace-id"]) == 32 and ok["x-trace-id"] != error["x-trace-id"]
    assert ok["x-served-by"] == error["x-served-by"] == GRPC_INSTANCE  # both, side by side
    assert {ok["x-trace-id"], error["x-trace-id"]} <= served
    assert rebuilt.value.headers == {}  # the trace id is not an error header


def test_request_without_trace_context_starts_one_at_the_server(exporter, gateway):
    exporter.clear()
    with urllib.request.urlopen(gateway + "/hop", timeout=10) as reply:  # not instrumented
        trace_header = reply.headers["X-Trace-Id"]
        body = json.loads(reply.read())
    spans = _finished_spans(exporter, 3)
    server = next(s for s in spans if s.kind == SpanKind.SERVER and s.name == "GET /hop")
    assert server.parent is None
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_header}
    assert body["trace_id"] == trace_header


def test_health_and_metrics_routes_are_not_traced(exporter, serve):
    exporter.clear()
    app = khttp.new_app("quiet")
    app.add_url_rule("/healthz", "healthz", lambda: "ok")
    instrument.instrument_flask(app)
    url = serve(app).url
    with urllib.request.urlopen(url + "/healthz", timeout=10) as reply:
        assert reply.status == 200
        assert "X-Trace-Id" not in reply.headers
    time.sleep(0.2)
    assert [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER] == []


_TRACING_OFF = textwrap.dedent(
    f"""
    import json, grpc, requests
    from google.protobuf import json_format, struct_pb2
    from opentelemetry import trace
    from kitcore import tracing
    from kitcore.testing.http_server import serve_in_thread
    from kitcore.testing.process import free_port
    from kitcore.transport import grpc as kgrpc, http as khttp, instrument

    assert tracing.setup("gateway", environ={{}}) is None
    instrument.instrument_grpc_server(); instrument.instrument_grpc_client()
    instrument.instrument_requests()

    def struct(value):
        message = struct_pb2.Struct(); message.update(value); return message

    seen = {{}}
    def backend(ctx, request):
        seen["trace_id"] = tracing.current_trace_id()
        seen["traceparent"] = ctx.metadata.get("traceparent")
        return {{"ok": True}}

    handler = grpc.unary_unary_rpc_method_handler(
        kgrpc.Handler(backend, json_format.MessageToDict, struct),
        request_deserializer=struct_pb2.Struct.FromString,
        response_serializer=struct_pb2.Struct.SerializeToString)
    server = kgrpc.new_server(max_workers=2)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("{SERVICE}", {{"Echo": handler}}),))
    port = server.add_insecure_port(f"127.0.0.1:{{free_port()}}")
    server.start()
    stub = kgrpc.new_channel(f"127.0.0.1:{{port}}").unary_unary(
        "/{SERVICE}/Echo", request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString)
    client = kgrpc.ClientEndpoint(stub, struct, json_format.MessageToDict)
    app = khttp.new_app("gateway")
    instrument.instrument_flask(app)
    khttp.route(app, "/hop", ["GET"], lambda ctx, req: client(ctx, {{}}), lambda r, p: None)
    served = serve_in_thread(app)
    reply = requests.get(served.url + "/hop", timeout=10)
    served.stop(); server.stop(None)
    print(json.dumps({{
        "status": reply.status_code, "body": reply.json(),
        "x_trace_id": reply.headers.get("X-Trace-Id"), "seen": seen,
        "enabled": tracing.enabled(),
        "provider": type(trace.get_tracer_provider()).__name__,
        "flask_instrumented": getattr(app, "_is_instrumented_by_opentelemetry", False),
    }}))
    """
)


def test_tracing_off_makes_no_spans_and_breaks_nothing():
    # A fresh process: instrumentations and the global provider are process-wide.
    out = subprocess.run(
        [sys.executable, "-c", _TRACING_OFF], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "status": 200,
        "body": {"ok": True},
        "x_trace_id": None,
        "seen": {"trace_id": None, "traceparent": None},
        "enabled": False,
        "provider": "ProxyTracerProvider",
        "flask_instrumented": False,
    }


def test_a_malformed_grpc_request_is_refused_inside_its_server_span(exporter, grpc_target):
    exporter.clear()
    channel = grpc.insecure_channel(grpc_target)  # raw bytes
    call = channel.unary_unary(f"/{SERVICE}/Echo")
    with pytest.raises(grpc.RpcError) as refused:
        call(b"\xff\xff\xff", timeout=5)
    channel.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [span] = [s for s in _finished_spans(exporter, 1) if s.kind == SpanKind.SERVER]
    assert span.name == f"/{SERVICE}/Echo"
    assert span.attributes["rpc.system"] == "grpc"
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not span.status.is_ok
