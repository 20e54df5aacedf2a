"""Reads OTLP protobuf trace records from a Kafka topic and prints what arrived.

    .venv/bin/python examples/read_spans.py --topic gds.traces.all.development --expect 100
"""

import argparse
import time

from confluent_kafka import Consumer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, default=1, help="stop once this many spans arrived")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": f"tributary-demo-{time.time_ns()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([args.topic])
    spans, records, deadline = [], 0, time.time() + args.timeout
    try:
        while len(spans) < args.expect and time.time() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records += 1
            request = ExportTraceServiceRequest.FromString(message.value())
            for resource_spans in request.resource_spans:
                service = next(
                    (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                    "?",
                )
                for scope_spans in resource_spans.scope_spans:
                    spans.extend((service, span.name, span.span_id.hex()) for span in scope_spans.spans)
    finally:
        consumer.close()
    print(f"{len(spans)} spans in {records} Kafka records on {args.topic}")
    for service, name, span_id in spans[:5]:
        print(f"  {service}  {name}  span_id={span_id}")
    if len(spans) < args.expect:
        raise SystemExit(f"expected {args.expect} spans, found {len(spans)}")


if __name__ == "__main__":
    main()
