//! The OTLP/JSON encoding of a request (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
//! the proto3 JSON mapping with lowerCamelCase names, fields at their default left out (never
//! `null`), enums as integers, 64-bit integers as decimal strings, NaN and the infinities as
//! strings, bytes as base64, and trace and span ids as lowercase hex, as OTLP asks instead of
//! base64. Written straight into a byte buffer: it runs on the Kafka exporter's `otlp_json`
//! path, once per record.

mod common;
mod logs;
mod metrics;
mod traces;
mod writer;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::batch::Payload;

/// Appends the request's OTLP/JSON to `out`.
pub fn write_traces(out: &mut Vec<u8>, request: &ExportTraceServiceRequest) {
    traces::write(out, request);
}

pub fn write_metrics(out: &mut Vec<u8>, request: &ExportMetricsServiceRequest) {
    metrics::write(out, request);
}

pub fn write_logs(out: &mut Vec<u8>, request: &ExportLogsServiceRequest) {
    logs::write(out, request);
}

/// The payload's OTLP/JSON (dead letters have no OTLP form and give `None`).
pub fn encode(payload: &Payload) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(INITIAL_CAPACITY);
    match payload {
        Payload::Traces(request) => write_traces(&mut out, request),
        Payload::Metrics(request) => write_metrics(&mut out, request),
        Payload::Logs(request) => write_logs(&mut out, request),
        Payload::DeadLetters(_) => return None,
    }
    Some(out)
}

/// Enough for a small request without growing; a big one grows by doubling.
const INITIAL_CAPACITY: usize = 1024;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
