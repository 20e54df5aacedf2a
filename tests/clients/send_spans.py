"""Sends spans to an OTLP endpoint with the real OpenTelemetry Python SDK and prints the span ids.

Exits 1 if the SDK's exporter reported any failed export, so that the test knows the agent
refused something rather than finding out from a missing span.
"""

import argparse
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult


class RecordingExporter:
    """Delegates to the real OTLP exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def make_exporter(protocol, endpoint, compression):
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(
            endpoint=f"{endpoint}/v1/traces",
            compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
        )
    raise SystemExit(f"unknown protocol {protocol!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="for example http://127.0.0.1:4318")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--protocol", default="http", choices=["http"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip"])
    parser.add_argument("--service-name", default="tributary-e2e")
    args = parser.parse_args()

    exporter = RecordingExporter(make_exporter(args.protocol, args.endpoint, args.compression))
    provider = TracerProvider(resource=Resource.create({"service.name": args.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=256))
    tracer = provider.get_tracer("tributary.e2e")

    for index in range(args.count):
        with tracer.start_as_current_span(f"span-{index}", attributes={"index": index}) as span:
            print(format(span.get_span_context().span_id, "016x"))
    provider.force_flush()
    provider.shutdown()
    if exporter.failures:
        print(f"{exporter.failures} exports failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
