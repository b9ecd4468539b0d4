"""kitcore.sampling: a rate-limited sampler at the edge, the caller's decision behind it."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from kitcore.sampling import RateLimited, parent_based_rate_limited


def _decide(sampler, parent=None) -> Decision:
    return sampler.should_sample(parent, 0x1234, "GET /x").decision


def test_samples_up_to_the_rate_then_drops():
    sampler = RateLimited(3)
    assert [_decide(sampler) for _ in range(5)] == [Decision.RECORD_AND_SAMPLE] * 3 + [
        Decision.DROP] * 2


def test_tokens_come_back_with_time():
    sampler = RateLimited(20)
    while _decide(sampler) is Decision.RECORD_AND_SAMPLE:
        pass
    time.sleep(0.15)  # 20/s: about three tokens
    assert _decide(sampler) is Decision.RECORD_AND_SAMPLE


def test_a_rate_below_one_still_samples_the_first_request_and_zero_none():
    assert _decide(RateLimited(0.1)) is Decision.RECORD_AND_SAMPLE
    assert _decide(RateLimited(0)) is Decision.DROP


def _remote_parent(sampled: bool):
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(parent))


def test_behind_parent_based_a_hop_follows_its_caller_even_with_no_tokens_left():
    sampler = parent_based_rate_limited(1)
    assert _decide(sampler) is Decision.RECORD_AND_SAMPLE  # the one token
    assert _decide(sampler) is Decision.DROP  # a new trace, none left
    assert _decide(sampler, _remote_parent(sampled=True)) is Decision.RECORD_AND_SAMPLE
    assert _decide(sampler, _remote_parent(sampled=False)) is Decision.DROP


def test_unsampled_spans_still_have_a_trace_id():
    tracer = TracerProvider(sampler=RateLimited(0)).get_tracer("test")
    with tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
