"""Sends traces, metrics or logs with the real OpenTelemetry Python SDK and records what it sent.

Every request the SDK's exporter sends is also written, as its protobuf encoding in hex, one per
line, to --record, so that a test can compare what arrived with what was sent, field by field.
Exits 1 if the exporter reported any failed export.

    otlp_send.py --signal traces --transport http --endpoint http://127.0.0.1:4318 --count 100
"""

import argparse
import logging
import os
import sys

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource

SUCCESS_NAMES = {"SUCCESS"}


class Recording:
    """Wraps a real exporter: records each request's protobuf form, counts failed exports."""

    def __init__(self, inner, encode, record_file):
        self.inner = inner
        self.encode = encode
        self.record_file = record_file
        self.failures = 0
        self.exports = 0

    def export(self, batch, *args, **kwargs):
        request = self.encode(batch)
        result = self.inner.export(batch, *args, **kwargs)
        self.exports += 1
        if getattr(result, "name", str(result)) not in SUCCESS_NAMES:
            self.failures += 1
        elif self.record_file:
            # Only what the agent accepted is expected back.
            self.record_file.write(request.SerializeToString().hex() + "\n")
            self.record_file.flush()
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


class RawHttp:
    """Posts what the SDK encoder made with requests, to read what an SDK exporter ignores:
    the response's partial_success."""

    def __init__(self, endpoint, signal, encode, success, failure):
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.url = f"{endpoint}/v1/{signal}"
        self.encode = encode
        self.success = success
        self.failure = failure
        self.response_type, self.rejected_field = {
            "traces": (trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
            "metrics": (metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
            "logs": (logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
        }[signal]
        self.rejected = 0
        self.messages = []

    def export(self, batch, *args, **kwargs):
        import requests

        body = self.encode(batch).SerializeToString()
        response = requests.post(self.url, data=body, headers={"content-type": "application/x-protobuf"}, timeout=10)
        if response.status_code != 200:
            print(f"HTTP {response.status_code}: {response.content[:200]!r}", file=sys.stderr)
            return self.failure
        answer = self.response_type.FromString(response.content)
        if answer.HasField("partial_success"):
            self.rejected += getattr(answer.partial_success, self.rejected_field)
            self.messages.append(answer.partial_success.error_message)
        return self.success

    def shutdown(self, *args, **kwargs):
        pass

    def force_flush(self, *args, **kwargs):
        return True


def raw_metric_exporter(args):
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    raw = RawHttp(args.endpoint, "metrics", encode_metrics, MetricExportResult.SUCCESS, MetricExportResult.FAILURE)

    class RawMetricExporter(MetricExporter):
        def __init__(self):
            super().__init__()
            self.raw = raw

        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            return raw.export(metrics_data)

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass

    return RawMetricExporter()


def exporter_kwargs(args, signal_path):
    kwargs = {}
    if args.timeout:
        kwargs["timeout"] = args.timeout
    headers = dict(h.split("=", 1) for h in args.header)
    if args.transport == "grpc":
        import grpc

        kwargs["endpoint"] = args.endpoint
        if args.certificate:
            with open(args.certificate, "rb") as f:
                kwargs["credentials"] = grpc.ssl_channel_credentials(root_certificates=f.read())
            kwargs["insecure"] = False
        else:
            kwargs["insecure"] = True
        if args.compression == "gzip":
            kwargs["compression"] = grpc.Compression.Gzip
        if headers:
            kwargs["headers"] = headers
        return kwargs
    kwargs["endpoint"] = f"{args.endpoint}/v1/{signal_path}"
    if args.certificate:
        kwargs["certificate_file"] = args.certificate
        # requests lets these variables win over the session's CA file when they are set.
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        os.environ.pop("CURL_CA_BUNDLE", None)
    if headers:
        kwargs["headers"] = headers
    if args.compression == "gzip":
        if args.transport == "json":
            from opentelemetry.exporter.otlp.common.http import Compression

            kwargs["compression"] = Compression.GZIP
        else:
            from opentelemetry.exporter.otlp.proto.http import Compression

            kwargs["compression"] = Compression.Gzip
    return kwargs


def span_exporter(args):
    if args.transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif args.transport == "json":
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(**exporter_kwargs(args, "traces"))


def metric_exporter(args):
    if args.transport == "http-raw":
        return raw_metric_exporter(args)
    if args.transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    elif args.transport == "json":
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter(**exporter_kwargs(args, "metrics"))


def log_exporter(args):
    if args.transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    elif args.transport == "json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return OTLPLogExporter(**exporter_kwargs(args, "logs"))


def send_traces(args, resource, record_file):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    exporter = Recording(span_exporter(args), encode_spans, record_file)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=args.batch_size))
    tracer = provider.get_tracer("tributary.e2e", "1.0.0")
    kinds = [SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]
    for index in range(args.count):
        attributes = {"index": index, "ratio": index / 7, "even": index % 2 == 0, "tags": ["a", "b"], "db.system": "postgresql"}
        if args.attribute_bytes:
            attributes["padding"] = "p" * args.attribute_bytes
        with tracer.start_as_current_span(f"span-{index}", kind=kinds[index % 5], attributes=attributes) as span:
            span.add_event("checkpoint", {"step": index})
            if index % 10 == 3:
                span.set_status(Status(StatusCode.ERROR, "failed on purpose"))
    provider.force_flush()
    provider.shutdown()
    return exporter


def send_metrics(args, resource, record_file):
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = Recording(metric_exporter(args), encode_metrics, record_file)
    # One collection, at force_flush: the interval never elapses during the run.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("tributary.e2e", "1.0.0")
    counter = meter.create_counter("requests_total", unit="1", description="requests served")
    histogram = meter.create_histogram("latency_ms", unit="ms")
    updown = meter.create_up_down_counter("connections")
    values = {i: float(i) * 1.5 for i in range(args.count)}

    def tier(i):
        # Every --invalid-every'th point carries a tier the test's validate rules refuse.
        return "bronze" if args.invalid_every and i % args.invalid_every == 0 else "gold"

    meter.create_observable_gauge(
        "cpu_usage_percent",
        callbacks=[lambda options: [Observation(v, {"core": i, "tier": tier(i)}) for i, v in values.items()]],
    )
    orphan = None
    if args.invalid_every:
        # A second application without the database resource attributes gds.metric.v1 wants.
        orphan_reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        orphan = MeterProvider(resource=Resource.create({"service.name": "orphan"}), metric_readers=[orphan_reader])
        orphan.get_meter("tributary.e2e").create_counter("orphan_total").add(7, {"tier": "gold"})
    per_instrument = max(1, args.count // 4)
    for index in range(per_instrument):
        counter.add(index + 1, {"route": f"/r{index}"})
        histogram.record(index * 2.5, {"route": f"/r{index}"})
        updown.add(index - 3, {"pool": f"p{index}"})
    provider.force_flush()
    provider.shutdown()
    if orphan is not None:
        orphan.force_flush()
        orphan.shutdown()
    return exporter


def send_logs(args, resource, record_file):
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider

    exporter = Recording(log_exporter(args), encode_logs, record_file)
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=args.batch_size))
    logger = logging.getLogger("tributary.e2e")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    tracer = TracerProvider(resource=resource).get_tracer("tributary.e2e")
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    for index in range(args.count):
        with tracer.start_as_current_span(f"log-span-{index}"):
            logger.log(levels[index % 5], "record %d: connection to db failed", index,
                       extra={"index": index, "db.instance": "prod-db-01"})
    provider.force_flush()
    provider.shutdown()
    return exporter


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--signal", required=True, choices=["traces", "metrics", "logs"])
    parser.add_argument("--transport", default="http", choices=["http", "json", "grpc", "http-raw"],
                        help="http-raw: the SDK's encoder, posted without an SDK exporter, to read partial_success")
    parser.add_argument("--invalid-every", type=int, default=0, help="metrics: every Nth gauge point gets tier=bronze, and an app without db.system sends too")
    parser.add_argument("--endpoint", required=True, help="http://127.0.0.1:4318, or for gRPC http://127.0.0.1:4317")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--attribute-bytes", type=int, default=0, help="traces: each span also gets a `padding` attribute this long")
    parser.add_argument("--compression", default="none", choices=["none", "gzip"])
    parser.add_argument("--record", help="write each accepted request here, protobuf in hex, one per line")
    parser.add_argument("--header", action="append", default=[], help="key=value, sent with every export")
    parser.add_argument("--certificate", help="CA certificate (PEM) to trust, for TLS")
    parser.add_argument("--service-name", default="tributary-e2e")
    parser.add_argument("--timeout", type=float, help="seconds each export (with its retries) may take; the SDK's default is 10")
    args = parser.parse_args()

    resource = Resource.create({
        "service.name": args.service_name,
        "service.instance.id": "e2e-1",
        "db.system": "postgresql",
        "deployment.environment": "test",
    })
    record_file = open(args.record, "w") if args.record else None
    send = {"traces": send_traces, "metrics": send_metrics, "logs": send_logs}[args.signal]
    exporter = send(args, resource, record_file)
    if record_file:
        record_file.close()
    print(f"exports={exporter.exports} failures={exporter.failures}")
    raw = getattr(exporter.inner, "raw", None)
    if raw is not None:
        print(f"partial_rejected={raw.rejected}")
        for message in raw.messages:
            print(f"partial_message={message}")
    if exporter.failures or not exporter.exports:
        print(f"{exporter.failures} of {exporter.exports} exports failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
