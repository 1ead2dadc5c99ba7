"""A small voice agent written with the OpenTelemetry Python SDK, emitting voicetrace's span
conventions (CONVENTIONS.md section 1) without any voicetrace code, exported over OTLP gRPC or
OTLP HTTP (protobuf) with the SDK's own exporters.

Each call: a `conversation` root; a greeting turn (llm + tts); a turn with a measured
voice-to-voice latency; a turn that calls a tool (llm -> tool_call -> llm -> tts) and leaves the
latency to the receiver's estimate; a turn the user barges in on (an `interruption` event).
The call's trace id is derived from its call id as CONVENTIONS.md section 2 says (a UUID keeps its
bits, any other id maps to the first 16 bytes of its SHA-256), through the SDK's IdGenerator, so
the root span has no parent. Timestamps are explicit, so every figure is exact.

Usage: python_agent.py --protocol grpc|http --endpoint URL --prefix P [--calls N]
Prints, on stdout, one JSON document: the calls and the per-turn figures a correct receiver
computes from them (CONVENTIONS.md section 4).
"""

import argparse
import hashlib
import json
import sys
import time
import uuid

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

MS = 1_000_000


def trace_id_for_call(call_id: str) -> int:
    """CONVENTIONS.md section 2."""
    try:
        u = uuid.UUID(call_id.strip())
        if u.int != 0:
            return u.int
    except ValueError:
        pass
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:16], "big")


class CallIdGenerator(IdGenerator):
    """Random span ids; the trace id of the call being started."""

    def __init__(self):
        self._random = RandomIdGenerator()
        self.trace_id = None

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.trace_id if self.trace_id is not None else self._random.generate_trace_id()


# (user text, agent text, stt ttfb s, llm ttfb s, tts ttfb s, user_bot_latency s or None,
#  tool name or None, interrupted)
TURNS = [
    (None, "Hello! Thanks for calling Acme. How can I help?", None, 0.412, 0.198, None, None, False),
    ("Where is my order?", "Let me check. What's the order number?", 0.182, 0.455, 0.231, 0.987, None, False),
    ("It's A-1042.", "Order A-1042 ships tomorrow.", 0.151, 0.503, 0.244, None, "lookup_order", False),
    ("Actually, wait", "Sure, take your time and", 0.205, 0.388, 0.219, 0.901, None, True),
]


def emit_call(tracer, ids, call_id, base_ns):
    ids.trace_id = trace_id_for_call(call_id)
    common = {"conversation.id": call_id}
    t = base_ns
    root = tracer.start_span(
        "conversation",
        kind=SpanKind.SERVER,
        start_time=t,
        attributes={
            **common,
            "conversation.type": "voice",
            "gen_ai.conversation.id": call_id,
            "gen_ai.agent.id": "py-agent",
            "gen_ai.agent.name": "Python SDK agent",
            "call.direction": "inbound",
            "call.end_reason": "client_hangup",
        },
    )
    ids.trace_id = None
    root_ctx = set_span_in_context(root)
    expected = []
    t += 200 * MS
    for index, (user, agent, stt, llm, tts, v2v, tool, interrupted) in enumerate(TURNS):
        turn_start = t
        turn = tracer.start_span("turn", context=root_ctx, start_time=turn_start, attributes={**common, "turn.index": index})
        ctx = set_span_in_context(turn)
        user_end = turn_start + (1200 * MS if user else 0)
        at = user_end
        if user:
            stt_span = tracer.start_span(
                "stt",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=user_end - 30 * MS,
                attributes={
                    **common,
                    "gen_ai.operation.name": "stt",
                    "gen_ai.provider.name": "deepgram",
                    "stt.provider": "deepgram",
                    "stt.transcript": user,
                    "stt.is_final": True,
                    "stt.confidence": 0.93,
                    "metrics.ttfb": stt,
                },
            )
            at = user_end + round(stt * 1000) * MS
            stt_span.end(end_time=at)
        llm_ms = round(llm * 1000)
        llm_span = tracer.start_span(
            "llm",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=at,
            attributes={
                **common,
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 900,
                "gen_ai.usage.output_tokens": 30,
                "metrics.ttfb": llm,
            },
        )
        at += (llm_ms + 150) * MS
        llm_span.end(end_time=at)
        if tool:
            tool_span = tracer.start_span(
                "tool_call",
                context=ctx,
                start_time=at,
                attributes={
                    **common,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool,
                    "function.name": tool,
                    "function.input": '{"order_id": "A-1042"}',
                    "function.output": '{"status": "ships tomorrow"}',
                },
            )
            at += 95 * MS
            tool_span.end(end_time=at)
            second = tracer.start_span(
                "llm",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=at,
                attributes={**common, "gen_ai.operation.name": "chat", "metrics.ttfb": 0.3},
            )
            at += 420 * MS
            second.end(end_time=at)
        tts_span = tracer.start_span(
            "tts",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=at,
            attributes={
                **common,
                "gen_ai.operation.name": "tts",
                "gen_ai.provider.name": "cartesia",
                "tts.provider": "cartesia",
                "tts.voice": "calm-voice",
                "tts.characters": len(agent),
                "text": agent,
                "metrics.ttfb": tts,
                "tts.interrupted": interrupted,
            },
        )
        if interrupted:
            tts_span.add_event(
                "interruption",
                attributes={
                    "interruption.detection_latency_seconds": 0.12,
                    "interruption.stop_latency_seconds": 0.08,
                    "interruption.bleed_through_words": 2,
                },
                timestamp=at + 600 * MS,
            )
        at += (round(tts * 1000) + 1500) * MS
        tts_span.end(end_time=at)
        attrs = {"turn.agent.text": agent, "turn.was_interrupted": interrupted}
        if user:
            attrs["turn.user.text"] = user
        if v2v is not None:
            attrs["turn.user_bot_latency_seconds"] = v2v
        turn.set_attributes(attrs)
        turn.end(end_time=at)
        stt_ms = round(stt * 1000) if stt is not None else 0
        tts_ms = round(tts * 1000)
        if user is None:
            latency = None
        elif v2v is not None:
            latency = round(v2v * 1000)
        else:
            latency = stt_ms + llm_ms + tts_ms
        expected.append(
            {
                "index": index,
                "userText": user,
                "text": agent,
                "sttMs": stt_ms,
                "llmMs": llm_ms,
                "ttsMs": tts_ms,
                "latencyMs": latency,
                "interrupted": interrupted,
                "tools": [tool] if tool else [],
            }
        )
        t = at + 500 * MS
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=t)
    return {"callId": call_id, "traceId": format(trace_id_for_call(call_id), "032x"), "turns": expected}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True, help="gRPC: http://HOST:PORT; HTTP: http://HOST:PORT/v1/traces")
    parser.add_argument("--prefix", required=True, help="call id prefix; call 0 uses a UUID id instead")
    parser.add_argument("--calls", type=int, default=2)
    args = parser.parse_args()

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=args.endpoint)

    ids = CallIdGenerator()
    provider = TracerProvider(resource=Resource.create({"service.name": "python-voice-agent"}), id_generator=ids)
    # Small batches so a call's spans travel in several export requests, root last.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=7, schedule_delay_millis=50))
    tracer = provider.get_tracer("python-voice-agent")

    base = time.time_ns() - 60_000 * MS
    calls = []
    for i in range(args.calls):
        # Call 0's id is a UUID (the trace id keeps its bits); the others are plain strings.
        call_id = str(uuid.uuid5(uuid.NAMESPACE_URL, args.prefix)) if i == 0 else f"{args.prefix}{i}"
        calls.append(emit_call(tracer, ids, call_id, base + i * 10 * MS))
    ok = provider.force_flush(30_000)
    provider.shutdown()
    if not ok:
        print("export did not finish", file=sys.stderr)
        sys.exit(1)
    json.dump({"calls": calls}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
