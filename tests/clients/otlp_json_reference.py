"""Parses OTLP/JSON requests with protobuf's reference JSON parser and writes each back as
protobuf, so that a test can check that what Tributary writes is the OTLP JSON mapping.

Reads --input, one request a line: the signal (traces, metrics or logs), a tab, the OTLP/JSON.
Writes --output, one line for each input line, in order: "ok <protobuf bytes in hex>" or
"error <why>". Exits 0 whatever the requests held: the test reads the verdicts.

The parse is strict: unknown fields are errors (ignore_unknown_fields=False), so is a key
written twice, a bare NaN or Infinity token (JSON has none: proto3 JSON quotes them) or a raw
control character in a string.

One OTLP rule differs from proto3 JSON: trace and span ids are lowercase hex, not base64. The
reference parser reads every bytes field as base64, so the known id fields (spans' traceId,
spanId and parentSpanId; links', log records' and exemplars' traceId and spanId) are checked to
be lowercase hex and converted to base64 on the parsed dict before it is parsed into messages.
Every other bytes field (bytesValue) must already be base64.

    otlp_json_reference.py --input requests.tsv --output verdicts.txt
"""

import argparse
import base64
import json
import re

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

REQUESTS = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")
LOWERCASE_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def no_duplicate_keys(pairs):
    fields = {}
    for key, value in pairs:
        if key in fields:
            raise ValueError(f"key {key!r} written twice")
        fields[key] = value
    return fields


def no_bare_constant(token):
    raise ValueError(f"bare {token} is not JSON (proto3 JSON writes it as a string)")


def hex_ids_to_base64(message, fields, where):
    for field in fields:
        if field not in message:
            continue
        value = message[field]
        if not isinstance(value, str) or not LOWERCASE_HEX.fullmatch(value):
            raise ValueError(f"{where}.{field}: expected lowercase hex, found {value!r}")
        message[field] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def convert_ids(signal, request):
    """The OTLP id fields, hex in OTLP/JSON, as the base64 that json_format reads."""
    if signal == "traces":
        for r, resource in enumerate(request.get("resourceSpans", [])):
            for s, scope in enumerate(resource.get("scopeSpans", [])):
                for i, span in enumerate(scope.get("spans", [])):
                    where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                    hex_ids_to_base64(span, ("traceId", "spanId", "parentSpanId"), where)
                    for l, link in enumerate(span.get("links", [])):
                        hex_ids_to_base64(link, ("traceId", "spanId"), f"{where}.links[{l}]")
    elif signal == "logs":
        for r, resource in enumerate(request.get("resourceLogs", [])):
            for s, scope in enumerate(resource.get("scopeLogs", [])):
                for i, record in enumerate(scope.get("logRecords", [])):
                    where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"
                    hex_ids_to_base64(record, ("traceId", "spanId"), where)
    else:
        for r, resource in enumerate(request.get("resourceMetrics", [])):
            for s, scope in enumerate(resource.get("scopeMetrics", [])):
                for m, metric in enumerate(scope.get("metrics", [])):
                    for kind in METRIC_KINDS:
                        for p, point in enumerate(metric.get(kind, {}).get("dataPoints", [])):
                            for e, exemplar in enumerate(point.get("exemplars", [])):
                                where = (
                                    f"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]"
                                    f".{kind}.dataPoints[{p}].exemplars[{e}]"
                                )
                                hex_ids_to_base64(exemplar, ("traceId", "spanId"), where)


def verdict(line):
    signal, _, text = line.partition("\t")
    if signal not in REQUESTS:
        return f"error expected traces, metrics or logs before the tab, found {signal!r}"
    try:
        request = json.loads(
            text, object_pairs_hook=no_duplicate_keys, parse_constant=no_bare_constant
        )
        convert_ids(signal, request)
        message = json_format.ParseDict(request, REQUESTS[signal](), ignore_unknown_fields=False)
    except Exception as error:  # every failure is a verdict, not a crash
        return "error " + f"{type(error).__name__}: {error}".replace("\n", " ")
    return "ok " + message.SerializeToString().hex()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    with open(args.input, encoding="utf-8") as requests, open(
        args.output, "w", encoding="utf-8"
    ) as verdicts:
        for line in requests:
            verdicts.write(verdict(line.rstrip("\n")) + "\n")


if __name__ == "__main__":
    main()
