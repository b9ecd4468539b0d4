"""kitcore.spans: the server span of a request, sampled or not, made as the SDK would make it.

A request the default sampler is certain to drop (an unsampled caller, or no
token left at the edge) gets its span made by kitcore directly; these tests pin
that such a span is the SDK's own in every field that travels on (trace id,
flags, tracestate), that nothing is exported for it, and that every other
request still goes through the SDK and its sampler.
"""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kitcore import spans
from kitcore.sampling import ParentBasedRateLimited

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def _tracer(sampler: sampling.Sampler) -> tuple[trace.Tracer, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("test"), memory


def _served(tracer: trace.Tracer, traceparent: str | None,
            tracestate: str | None = None) -> trace.Span:
    span = spans.start("GET", traceparent, tracestate, tracer)
    assert span is not None
    assert trace.get_current_span() is span.span  # current while the request is served
    span.finish("GET /x", dict, False)
    assert trace.get_current_span() is not span.span
    return span.span


def _sdk(tracer: trace.Tracer, traceparent: str | None, tracestate: str | None) -> trace.Span:
    carrier = {"traceparent": traceparent} if traceparent else {}
    if tracestate:
        carrier["tracestate"] = tracestate
    span = tracer.start_span("GET", context=propagate.extract(carrier), kind=SpanKind.SERVER)
    span.end()
    return span


@pytest.mark.parametrize("traceparent, tracestate", [
    (f"00-{CALLER_TRACE}-{CALLER_SPAN}-00", None),  # unsampled caller
    (f"00-{CALLER_TRACE}-{CALLER_SPAN}-02", "vendor=a,other=b"),  # random id flag, state
    (f" 00-{CALLER_TRACE}-{CALLER_SPAN}-00\t", None),  # blanks around it
    (f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-00", None),  # upper case: not W3C
    (f"00-{'0' * 32}-{CALLER_SPAN}-00", None),  # zero trace id
    (f"00-{CALLER_TRACE}-{'0' * 16}-00", None),  # zero span id
    (f"ff-{CALLER_TRACE}-{CALLER_SPAN}-00", None),  # forbidden version
    (f"01-{CALLER_TRACE}-{CALLER_SPAN}-00-later", None),  # a later version
    (f"00-{CALLER_TRACE}-{CALLER_SPAN}-00-more", None),  # version 00 with more fields
    ("not a traceparent", None),
])
def test_an_unsampled_request_gets_the_span_the_sdk_would_make(traceparent, tracestate):
    tracer, memory = _tracer(ParentBasedRateLimited(0))
    ours = _served(tracer, traceparent, tracestate)
    theirs = _sdk(tracer, traceparent, tracestate)
    mine, sdk = ours.get_span_context(), theirs.get_span_context()
    assert not ours.is_recording() and not theirs.is_recording()
    assert mine.is_valid and not mine.is_remote
    assert mine.trace_flags == sdk.trace_flags
    assert mine.trace_state == sdk.trace_state
    if format(sdk.trace_id, "032x") == CALLER_TRACE:  # the SDK followed the caller
        assert mine.trace_id == sdk.trace_id
    else:  # the SDK started a new trace: so do we, another one
        assert format(mine.trace_id, "032x") != CALLER_TRACE and mine.trace_id != sdk.trace_id
    assert format(mine.span_id, "016x") != CALLER_SPAN
    assert memory.get_finished_spans() == ()


def test_a_new_trace_without_tokens_is_unsampled_and_each_has_its_own_id():
    tracer, memory = _tracer(ParentBasedRateLimited(0))
    ids = {_served(tracer, None).get_span_context().trace_id for _ in range(50)}
    assert len(ids) == 50 and 0 not in ids
    assert memory.get_finished_spans() == ()


def test_the_edge_tokens_still_sample_new_traces_and_are_spent_once():
    tracer, memory = _tracer(ParentBasedRateLimited(2))
    recorded = [_served(tracer, None).get_span_context().trace_flags.sampled for _ in range(5)]
    assert recorded == [True, True, False, False, False]  # 2 tokens, each used once
    assert [s.name for s in memory.get_finished_spans()] == ["GET /x", "GET /x"]


def test_a_sampled_caller_is_followed_even_with_no_tokens_left():
    tracer, memory = _tracer(ParentBasedRateLimited(0))
    span = _served(tracer, f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "vendor=a")
    assert span.get_span_context().trace_flags.sampled
    (exported,) = memory.get_finished_spans()
    assert format(exported.context.trace_id, "032x") == CALLER_TRACE
    assert format(exported.parent.span_id, "016x") == CALLER_SPAN
    assert exported.context.trace_state.get("vendor") == "a"
    assert exported.kind == SpanKind.SERVER


@pytest.mark.parametrize("sampler", [sampling.ALWAYS_ON, sampling.DEFAULT_ON,
                                     sampling.ParentBasedTraceIdRatio(1.0)])
def test_other_samplers_decide_through_the_sdk(sampler):
    tracer, memory = _tracer(sampler)
    _served(tracer, None)
    _served(tracer, f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")
    sampled = memory.get_finished_spans()
    # always_on records even an unsampled caller's hop; the parent-based ones only the root
    assert len(sampled) == (2 if sampler is sampling.ALWAYS_ON else 1)
