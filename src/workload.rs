//! The benchmark workload: OTLP requests in the OpenTelemetry benchmark shape (10 attributes of
//! 20-character keys and values an item), encoded once and replayed. Each request carries two
//! instrumentation-scope attributes of fixed width that are overwritten in the encoded bytes
//! before each send (a send sequence and the send time), so replays stay distinct for a consumer
//! counting duplicates and give it a start for end-to-end latency, without encoding again. They
//! are on the scope, not the resource, so that requests from one instance keep one resource, as
//! an SDK's do, and an agent may group them.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use crate::pipeline::attributes::{key_value, string_value};
use crate::pipeline::batch::Signal;

/// Scope attribute: the send time, nanoseconds since the Unix epoch, 20 decimal digits.
pub const SENT_ATTRIBUTE: &str = "loadgen.sent_unix_nano";
/// Scope attribute: a number unique to each send, 20 decimal digits.
pub const SEQUENCE_ATTRIBUTE: &str = "loadgen.sequence";
const STAMP_WIDTH: usize = 20;
const SENT_PLACEHOLDER: &str = "<<sent-placeholder>>";
const SEQUENCE_PLACEHOLDER: &str = "<<sequ-placeholder>>";

/// How requests are encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireEncoding {
    Protobuf,
    Json,
}

/// A request in the benchmark shape with `items` spans, log records or gauge points; `seed`
/// varies ids and the instance. Every item has a distinct span id (traces, logs) or time
/// (metrics), which is what a consumer uses to tell items of one send apart.
pub fn request(signal: Signal, seed: u64, items: usize) -> Vec<u8> {
    request_encoded(signal, seed, items, WireEncoding::Protobuf)
}

pub fn request_encoded(signal: Signal, seed: u64, items: usize, encoding: WireEncoding) -> Vec<u8> {
    let resource = Some(Resource {
        attributes: vec![
            key_value("service.name", "loadgen"),
            key_value("service.instance.id", &format!("loadgen-{seed}")),
        ],
        ..Default::default()
    });
    let scope = Some(InstrumentationScope {
        name: "tributary-loadgen".into(),
        attributes: vec![
            key_value(SEQUENCE_ATTRIBUTE, SEQUENCE_PLACEHOLDER),
            key_value(SENT_ATTRIBUTE, SENT_PLACEHOLDER),
        ],
        ..Default::default()
    });
    let now = unix_nanos();
    let span_id = |i: u64| (seed << 32 | i).max(1).to_be_bytes().to_vec();
    let trace_id = |i: u64| [seed.to_be_bytes(), i.to_be_bytes()].concat();
    let attributes = |i: u64| -> Vec<KeyValue> {
        (0..10)
            .map(|a| key_value(&text(a, "key"), &text(i * 10 + a, "value")))
            .collect()
    };
    let items = 0..items as u64;
    macro_rules! encode {
        ($message:expr) => {
            match encoding {
                WireEncoding::Protobuf => $message.encode_to_vec(),
                WireEncoding::Json => serde_json::to_vec(&$message).expect("a request encodes"),
            }
        };
    }
    match signal {
        Signal::Traces => encode!(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource,
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans: items
                        .map(|i| Span {
                            trace_id: trace_id(i),
                            span_id: span_id(i),
                            name: format!("operation-{}", i % 16),
                            kind: 2,
                            start_time_unix_nano: now,
                            end_time_unix_nano: now + 1_000_000,
                            attributes: attributes(i),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Logs => encode!(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource,
                scope_logs: vec![ScopeLogs {
                    scope,
                    log_records: items
                        .map(|i| LogRecord {
                            time_unix_nano: now,
                            observed_time_unix_nano: now,
                            severity_number: 9,
                            severity_text: "INFO".into(),
                            body: Some(string_value(text(i, "message"))),
                            attributes: attributes(i),
                            trace_id: trace_id(i),
                            span_id: span_id(i),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Signal::Metrics => encode!(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource,
                scope_metrics: vec![ScopeMetrics {
                    scope,
                    metrics: vec![Metric {
                        name: "loadgen.gauge".into(),
                        unit: "1".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: items
                                .map(|i| NumberDataPoint {
                                    time_unix_nano: now + i,
                                    attributes: attributes(i),
                                    value: Some(number_data_point::Value::AsDouble(i as f64)),
                                    ..Default::default()
                                })
                                .collect(),
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
    }
}

/// An encoded request whose stamps can be rewritten in place before each send.
#[derive(Clone)]
pub struct Stamped {
    bytes: Vec<u8>,
    sent_at: usize,
    sequence_at: usize,
}

impl Stamped {
    /// Finds the placeholders of a request from [`request_encoded`]; `None` if they are absent.
    pub fn new(bytes: Vec<u8>) -> Option<Stamped> {
        let find = |needle: &str| {
            bytes
                .windows(needle.len())
                .position(|window| window == needle.as_bytes())
        };
        Some(Stamped {
            sent_at: find(SENT_PLACEHOLDER)?,
            sequence_at: find(SEQUENCE_PLACEHOLDER)?,
            bytes,
        })
    }

    /// The request stamped with `sequence` and the current time.
    pub fn stamp(&mut self, sequence: u64) -> &[u8] {
        write_digits(&mut self.bytes[self.sequence_at..], sequence);
        write_digits(&mut self.bytes[self.sent_at..], unix_nanos());
        &self.bytes
    }
}

fn write_digits(out: &mut [u8], mut value: u64) {
    for slot in out[..STAMP_WIDTH].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

fn text(i: u64, kind: &str) -> String {
    format!("{kind}{i:0>width$}", width = STAMP_WIDTH - kind.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_overwrite_the_placeholders_in_protobuf_and_json() {
        for encoding in [WireEncoding::Protobuf, WireEncoding::Json] {
            for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
                let mut stamped =
                    Stamped::new(request_encoded(signal, 3, 5, encoding)).expect("placeholders");
                let bytes = stamped.stamp(42).to_vec();
                let payload = match encoding {
                    WireEncoding::Protobuf => {
                        crate::pipeline::batch::decode_protobuf(signal, &bytes)
                    }
                    WireEncoding::Json => crate::pipeline::batch::decode_otlp_json(signal, &bytes),
                }
                .expect("a stamped request decodes");
                assert_eq!(payload.item_count(), 5);
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    text.contains("00000000000000000042"),
                    "{signal:?} {encoding:?}"
                );
                assert!(!text.contains("placeholder"));
            }
        }
    }
}
