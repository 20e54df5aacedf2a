"""Makes one raw unary gRPC call with the real grpcio client, for what an SDK would never send.

Prints one JSON line: {"code": "INVALID_ARGUMENT", "details": "...", "retry_delay_seconds": 1}

    grpc_call.py --target 127.0.0.1:4317 --method /opentelemetry.proto.collector.trace.v1.TraceService/Export --body-file request.bin
"""

import argparse
import json

import grpc
from google.rpc import error_details_pb2, status_pb2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--body-file", help="the request message bytes")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--header", action="append", default=[], help="key=value metadata")
    parser.add_argument("--repeat", type=int, default=1, help="stop at the first error")
    args = parser.parse_args()

    channel = grpc.insecure_channel(args.target)
    call = channel.unary_unary(args.method, request_serializer=None, response_deserializer=None)
    metadata = [tuple(h.split("=", 1)) for h in args.header]
    compression = grpc.Compression.Gzip if args.gzip else None
    body = b""
    if args.body_file:
        with open(args.body_file, "rb") as f:
            body = f.read()
    result = {"code": "OK", "details": "", "retry_delay_seconds": None, "calls": 0}
    for _ in range(args.repeat):
        result["calls"] += 1
        try:
            call(body, metadata=metadata, compression=compression, timeout=10)
        except grpc.RpcError as error:
            result["code"] = error.code().name
            result["details"] = error.details()
            for key, value in error.trailing_metadata() or ():
                if key == "grpc-status-details-bin":
                    status = status_pb2.Status.FromString(value)
                    for detail in status.details:
                        info = error_details_pb2.RetryInfo()
                        if detail.Unpack(info):
                            result["retry_delay_seconds"] = info.retry_delay.seconds
            break
    print(json.dumps(result))


if __name__ == "__main__":
    main()
