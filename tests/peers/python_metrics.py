"""Exports a LiveKit-shaped usage counter with the OpenTelemetry Python SDK's own OTLP metric
exporter (gRPC or HTTP/protobuf), as an agent pointed at voicetrace would, and says on stdout
whether any export failed.

The resource names the room and the job as LiveKit's cloud exporter does; the temporality is
delta, as LiveKit asks for. No voicetrace code: the SDK alone.
"""

import argparse
import json
import logging

from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource


class Recording(logging.Handler):
    """Keeps every warning or error the SDK logs (a failed export logs one)."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--job", required=True)
    args = parser.parse_args()

    errors = Recording()
    logging.getLogger().addHandler(errors)
    delta = {Counter: AggregationTemporality.DELTA}
    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(
            endpoint=args.endpoint, insecure=True, preferred_temporality=delta
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=args.endpoint, preferred_temporality=delta)

    results = []
    export = exporter.export

    def counted(*a, **k):
        result = export(*a, **k)
        results.append(result == MetricExportResult.SUCCESS)
        return result

    exporter.export = counted
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create(
        {"service.name": "livekit-agents", "room_id": args.room, "job_id": args.job}
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("livekit-agents")
    stt = meter.create_counter("lk.agents.usage.stt_audio_duration", unit="s")
    chars = meter.create_counter("lk.agents.usage.tts_characters")
    attrs = {"model_provider": "deepgram", "model_name": "nova-3"}
    stt.add(2.0, attributes=attrs)
    chars.add(40, attributes={"model_provider": "cartesia", "model_name": "sonic-2"})
    provider.force_flush()
    stt.add(1.25, attributes=attrs)
    provider.shutdown()
    print(json.dumps({"exports": results, "errors": errors.records}))


if __name__ == "__main__":
    main()
