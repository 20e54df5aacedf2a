use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use super::*;
use crate::pipeline::batch::Payload;
use crate::pipeline::codec::wellformed::check as check_wellformed;

/// What the receiver's full decode makes of `body`: prost, then the well-formedness check.
fn full_decode(signal: Signal, body: &[u8]) -> Result<usize, String> {
    let payload = match signal {
        Signal::Traces => ExportTraceServiceRequest::decode(body).map(Payload::Traces),
        Signal::Metrics => ExportMetricsServiceRequest::decode(body).map(Payload::Metrics),
        Signal::Logs => ExportLogsServiceRequest::decode(body).map(Payload::Logs),
    }
    .map_err(|e| format!("prost: {e}"))?;
    check_wellformed(&payload).map_err(|e| format!("wellformed: {e}"))?;
    Ok(payload.item_count())
}

/// The contract: whenever the walk says `Some(n)`, the full decode accepts with n items.
fn walk_checked(signal: Signal, body: &[u8]) -> Option<usize> {
    let walked = well_formed_items(signal, body);
    if let Some(items) = walked {
        assert_eq!(
            full_decode(signal, body),
            Ok(items),
            "{signal:?}: the walk said Some({items}) for {body:02x?}"
        );
        assert_eq!(
            well_formed_group_items(signal, body),
            Some(group_items(signal, body))
        );
        received_undecoded_as_prost_decodes(signal, body, items);
    }
    walked
}

/// What the receiver makes of a body the walk accepted: a batch whose items stay undecoded,
/// counted as the walk counted them, and decoding (group by group, later) to what prost
/// makes of the whole body.
fn received_undecoded_as_prost_decodes(signal: Signal, body: &[u8], items: usize) {
    use crate::pipeline::batch::Batch;
    use crate::pipeline::codec::{decode_received, Encoding};
    let bytes = bytes::Bytes::copy_from_slice(body);
    let received = decode_received(signal, Encoding::Protobuf, &bytes).expect("accepted");
    assert!(received.is_walked(), "{signal:?}: walked, not decoded");
    let batch = Batch::received(received, "test".into());
    assert_eq!(batch.items(), items);
    let expected = crate::pipeline::batch::decode_protobuf(signal, body).expect("decodes");
    // Compared encoded: a NaN attribute is never equal to itself.
    let decoded = batch.into_payload().encode_protobuf();
    assert!(decoded == expected.encode_protobuf(), "{signal:?}");
}

/// The items of each resource group, as the full decode sees them.
fn group_items(signal: Signal, body: &[u8]) -> Vec<usize> {
    let payload = crate::pipeline::batch::decode_protobuf(signal, body).expect("decodes");
    payload.group_items()
}

fn accepted(signal: Signal, body: &[u8]) -> usize {
    let expected = full_decode(signal, body).expect("the full decode accepts");
    assert_eq!(
        well_formed_items(signal, body),
        Some(expected),
        "{signal:?}"
    );
    let groups = well_formed_group_items(signal, body);
    assert_eq!(groups, Some(group_items(signal, body)), "{signal:?}");
    received_undecoded_as_prost_decodes(signal, body, expected);
    expected
}

/// For what both refuse.
fn refused(signal: Signal, body: &[u8], what: &str) {
    assert_eq!(well_formed_items(signal, body), None, "{what}");
    assert!(full_decode(signal, body).is_err(), "{what}: prost accepts");
}

/// For what prost accepts but the walk leaves to it.
fn left_to_full_decode(signal: Signal, body: &[u8], what: &str) {
    assert_eq!(well_formed_items(signal, body), None, "{what}");
    assert!(full_decode(signal, body).is_ok(), "{what}: prost refuses");
}

// ---------------------------------------------------------------------------------------------
// Hand encoding, for what prost would not write.

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(value, &mut out);
    out
}

fn key(number: u32, wire: u8) -> Vec<u8> {
    varint((u64::from(number) << 3) | u64::from(wire))
}

fn len_field(number: u32, body: &[u8]) -> Vec<u8> {
    [key(number, 2), varint(body.len() as u64), body.to_vec()].concat()
}

/// A request of one resource group of one scope group holding `item` (an encoded span, metric
/// or log record): the three signals number these fields alike.
fn request_of(item: &[u8]) -> Vec<u8> {
    len_field(1, &len_field(2, &len_field(2, item)))
}

/// One unknown field of each wire type prost skips (groups aside).
fn unknown_fields() -> Vec<u8> {
    [
        key(1000, 0),
        varint(u64::MAX),
        key(1001, 1),
        vec![7; 8],
        len_field(1002, b"\xff not utf-8, not looked at"),
        key(1003, 5),
        vec![9; 4],
    ]
    .concat()
}

fn replace(body: &mut [u8], needle: &[u8], replacement: &[u8]) {
    let at = body
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle present");
    body[at..at + replacement.len()].copy_from_slice(replacement);
}

// ---------------------------------------------------------------------------------------------
// Requests with every field populated.

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(any(value)),
        ..Default::default()
    }
}

fn array(values: Vec<AnyValue>) -> Value {
    Value::ArrayValue(ArrayValue { values })
}

fn kvlist(values: Vec<KeyValue>) -> Value {
    Value::KvlistValue(KeyValueList { values })
}

thread_local! {
    /// Set while `compact` builds: every attribute list is then one small attribute.
    static COMPACT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn attributes() -> Vec<KeyValue> {
    if COMPACT.get() {
        let values = [
            Value::DoubleValue(1.0),
            Value::IntValue(2),
            Value::StringValue("s".into()),
            Value::BytesValue(vec![3]),
            Value::StringValueStrindex(4),
            kvlist(vec![kv("b", Value::BoolValue(true))]),
        ];
        return vec![KeyValue {
            key_strindex: 5,
            ..kv("k", array(values.into_iter().map(any).collect()))
        }];
    }
    vec![
        kv("string", Value::StringValue("héllo ✓".into())),
        kv("bool", Value::BoolValue(true)),
        kv("int", Value::IntValue(-42)),
        kv("double", Value::DoubleValue(-1.5)),
        kv("bytes", Value::BytesValue(vec![0, 0xff, 0x80])),
        kv("strindex", Value::StringValueStrindex(-3)),
        kv(
            "array",
            array(vec![
                any(Value::StringValue("a".into())),
                any(Value::IntValue(i64::MIN)),
                any(array(vec![
                    any(Value::BoolValue(false)),
                    AnyValue::default(),
                ])),
                any(kvlist(vec![kv("inner", Value::DoubleValue(f64::NAN))])),
            ]),
        ),
        kv(
            "kvlist",
            kvlist(vec![
                kv("deeper", kvlist(vec![kv("x", array(vec![]))])),
                kv("bytes", Value::BytesValue(vec![])),
            ]),
        ),
        KeyValue {
            key: "no value".into(),
            value: None,
            key_strindex: 5,
        },
        KeyValue {
            key: String::new(),
            value: Some(AnyValue::default()),
            key_strindex: 0,
        },
    ]
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: attributes(),
        dropped_attributes_count: 3,
        entity_refs: vec![EntityRef {
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.namespace".into()],
            description_keys: vec!["service.version".into()],
        }],
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "io.opentelemetry.jdbc".into(),
        version: "2.1.0".into(),
        attributes: attributes(),
        dropped_attributes_count: 1,
    })
}

fn full_span(i: u8) -> Span {
    Span {
        trace_id: vec![i; 16],
        span_id: vec![i + 1; 8],
        trace_state: "rojo=00f067aa0ba902b7".into(),
        parent_span_id: if i.is_multiple_of(2) {
            vec![9; 8]
        } else {
            vec![]
        },
        flags: 0x301,
        name: format!("GET /users/{i}"),
        kind: 3,
        start_time_unix_nano: 1_750_000_000_000_000_000,
        end_time_unix_nano: 1_750_000_000_100_000_000,
        attributes: attributes(),
        dropped_attributes_count: 2,
        events: vec![
            Event {
                time_unix_nano: 1_750_000_000_050_000_000,
                name: "exception".into(),
                attributes: attributes(),
                dropped_attributes_count: 4,
            },
            Event::default(),
        ],
        dropped_events_count: 5,
        links: vec![
            Link {
                trace_id: vec![3; 16],
                span_id: vec![4; 8],
                trace_state: "congo=t61rcWkgMzE".into(),
                attributes: attributes(),
                dropped_attributes_count: 6,
                flags: 0x100,
            },
            Link::default(),
        ],
        dropped_links_count: 7,
        status: Some(Status {
            message: "deadline exceeded".into(),
            code: 2,
        }),
    }
}

fn full_traces() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource(),
                scope_spans: vec![
                    ScopeSpans {
                        scope: scope(),
                        spans: (0..3).map(full_span).collect(),
                        schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                    },
                    ScopeSpans {
                        scope: None,
                        spans: vec![full_span(10)],
                        schema_url: String::new(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            },
            ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: vec![full_span(20), full_span(21)],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
    .encode_to_vec()
}

fn exemplars() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: attributes(),
            time_unix_nano: 1_750_000_000_000_000_000,
            span_id: vec![1; 8],
            trace_id: vec![2; 16],
            value: Some(exemplar::Value::AsDouble(0.25)),
        },
        Exemplar {
            value: Some(exemplar::Value::AsInt(-7)),
            ..Default::default()
        },
    ]
}

fn number_point(value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(),
        start_time_unix_nano: 1_749_999_999_000_000_000,
        time_unix_nano: 1_750_000_000_000_000_000,
        exemplars: exemplars(),
        flags: 1,
        value: Some(value),
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: "what it measures".into(),
        unit: "ms".into(),
        metadata: attributes(),
        data: Some(data),
    }
}

fn full_metrics() -> Vec<u8> {
    use number_data_point::Value::{AsDouble, AsInt};
    let histogram_point = HistogramDataPoint {
        attributes: attributes(),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 10,
        sum: Some(123.5),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.5, 1.0, 2.5],
        exemplars: exemplars(),
        flags: 1,
        min: Some(0.1),
        max: Some(9.9),
    };
    let exponential_point = ExponentialHistogramDataPoint {
        attributes: attributes(),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 12,
        sum: Some(-3.0),
        scale: -3,
        zero_count: 2,
        positive: Some(Buckets {
            offset: -5,
            bucket_counts: vec![1, 0, 300, u64::MAX],
        }),
        negative: Some(Buckets {
            offset: 7,
            bucket_counts: vec![4],
        }),
        flags: 1,
        exemplars: exemplars(),
        min: Some(-1.0),
        max: Some(1.0),
        zero_threshold: 1e-9,
    };
    let summary_point = SummaryDataPoint {
        attributes: attributes(),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 100,
        sum: 250.0,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 2.0,
            },
            ValueAtQuantile {
                quantile: 0.99,
                value: 9.0,
            },
        ],
        flags: 1,
    };
    let metrics = vec![
        metric(
            "gauge",
            Data::Gauge(Gauge {
                data_points: vec![number_point(AsDouble(1.5)), number_point(AsInt(-2))],
            }),
        ),
        metric(
            "sum",
            Data::Sum(Sum {
                data_points: vec![number_point(AsInt(7)); 3],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            Data::Histogram(Histogram {
                data_points: vec![histogram_point.clone(), HistogramDataPoint::default()],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![exponential_point, ExponentialHistogramDataPoint::default()],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "summary",
            Data::Summary(Summary {
                data_points: vec![summary_point, SummaryDataPoint::default()],
            }),
        ),
        // Data without points: allowed, and counts nothing.
        metric("empty", Data::Gauge(Gauge::default())),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![
            ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![
                    ScopeMetrics {
                        scope: scope(),
                        metrics,
                        schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                    },
                    ScopeMetrics::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            },
            ResourceMetrics {
                resource: None,
                scope_metrics: vec![ScopeMetrics {
                    scope: None,
                    metrics: vec![metric(
                        "histogram",
                        Data::Histogram(Histogram {
                            data_points: vec![histogram_point],
                            aggregation_temporality: 2,
                        }),
                    )],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
    .encode_to_vec()
}

fn full_log(i: u8) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_750_000_000_000_000_000,
        observed_time_unix_nano: 1_750_000_000_000_000_001,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(any(kvlist(attributes()))),
        attributes: attributes(),
        dropped_attributes_count: 3,
        flags: 1,
        trace_id: vec![i; 16],
        span_id: vec![i; 8],
        event_name: "device.app.lifecycle".into(),
    }
}

fn full_logs() -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: resource(),
                scope_logs: vec![
                    ScopeLogs {
                        scope: scope(),
                        log_records: vec![
                            full_log(1),
                            LogRecord {
                                body: Some(any(Value::StringValue("plain text ✓".into()))),
                                ..Default::default()
                            },
                            LogRecord::default(),
                        ],
                        schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                    },
                    ScopeLogs::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            },
            ResourceLogs {
                resource: None,
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records: vec![
                        full_log(2),
                        LogRecord {
                            body: Some(any(array(vec![any(Value::BytesValue(vec![1, 2]))]))),
                            ..full_log(3)
                        },
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
    .encode_to_vec()
}

fn full(signal: Signal) -> Vec<u8> {
    match signal {
        Signal::Traces => full_traces(),
        Signal::Metrics => full_metrics(),
        Signal::Logs => full_logs(),
    }
}

/// As `full`, with one small attribute wherever `full` has many: every field still populated,
/// in few enough bytes to try every change of each.
fn compact(signal: Signal) -> Vec<u8> {
    COMPACT.set(true);
    let body = full(signal);
    COMPACT.set(false);
    body
}

fn span_with(change: impl FnOnce(&mut Span)) -> Vec<u8> {
    let mut span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "span".into(),
        ..Default::default()
    };
    change(&mut span);
    span.encode_to_vec()
}

fn log_with(change: impl FnOnce(&mut LogRecord)) -> Vec<u8> {
    let mut record = LogRecord {
        body: Some(any(Value::StringValue("body".into()))),
        ..Default::default()
    };
    change(&mut record);
    record.encode_to_vec()
}

/// An AnyValue `levels` arrays deep.
fn nested(levels: usize) -> AnyValue {
    (0..levels).fold(any(Value::IntValue(1)), |inner, _| any(array(vec![inner])))
}

// ---------------------------------------------------------------------------------------------
// Valid requests

#[test]
fn workload_requests_count_as_the_full_decode_does() {
    for signal in Signal::ALL {
        for (seed, items) in [(0, 0), (1, 1), (2, 7), (3, 100), (4, 1000)] {
            let body = crate::workload::request(signal, seed, items);
            assert_eq!(accepted(signal, &body), items, "{signal:?} {items}");
        }
    }
}

#[test]
fn requests_with_every_field_populated_count_as_the_full_decode_does() {
    assert_eq!(accepted(Signal::Traces, &full_traces()), 6);
    // 2 gauge + 3 sum + 2 histogram + 2 exponential + 2 summary + 0 + 1 histogram.
    assert_eq!(accepted(Signal::Metrics, &full_metrics()), 12);
    assert_eq!(accepted(Signal::Logs, &full_logs()), 5);
}

#[test]
fn an_empty_body_is_an_empty_request() {
    for signal in Signal::ALL {
        assert_eq!(well_formed_items(signal, &[]), Some(0));
        assert_eq!(full_decode(signal, &[]), Ok(0));
    }
}

#[test]
fn unknown_and_reserved_fields_are_skipped_as_prost_skips_them() {
    let span = [span_with(|_| {}), unknown_fields()].concat();
    let body = [
        unknown_fields(),
        len_field(
            1,
            &[
                unknown_fields(),
                len_field(2, &[len_field(2, &span), unknown_fields()].concat()),
            ]
            .concat(),
        ),
    ]
    .concat();
    assert_eq!(accepted(Signal::Traces, &body), 1);

    // Status.deprecated_code (1), LogRecord 4, Metric 4, NumberDataPoint 1: reserved numbers.
    let status = [key(1, 0), vec![2], len_field(2, b"message")].concat();
    let span = [span_with(|_| {}), len_field(15, &status)].concat();
    assert_eq!(accepted(Signal::Traces, &request_of(&span)), 1);
    let record = [log_with(|_| {}), key(4, 0), vec![1]].concat();
    assert_eq!(accepted(Signal::Logs, &request_of(&record)), 1);
    let point = [key(1, 2), vec![0], key(4, 1), vec![0; 8]].concat();
    let gauge = len_field(1, &point);
    let metric = [key(4, 2), vec![0], len_field(5, &gauge)].concat();
    assert_eq!(accepted(Signal::Metrics, &request_of(&metric)), 1);
}

#[test]
fn repeated_scalars_are_read_packed_or_not() {
    // HistogramDataPoint.bucket_counts (6, fixed64) and explicit_bounds (7, double), unpacked.
    let point = [
        key(6, 1),
        vec![1; 8],
        key(6, 1),
        vec![2; 8],
        key(7, 1),
        1.5f64.to_le_bytes().to_vec(),
    ]
    .concat();
    let metric = len_field(9, &len_field(1, &point));
    assert_eq!(accepted(Signal::Metrics, &request_of(&metric)), 1);

    // Buckets.bucket_counts (2, uint64), unpacked, then packed.
    let buckets = [
        key(2, 0),
        varint(300),
        key(2, 0),
        varint(0),
        len_field(2, &[varint(1), varint(u64::MAX)].concat()),
    ]
    .concat();
    let point = [len_field(8, &buckets), len_field(9, &buckets)].concat();
    let metric = len_field(10, &len_field(1, &point));
    assert_eq!(accepted(Signal::Metrics, &request_of(&metric)), 1);
}

#[test]
fn varints_are_read_as_prost_reads_them() {
    // A key and a length padded to more bytes than they need, and a full 10-byte varint.
    let span = span_with(|_| {});
    assert!(span.len() < 1 << 14);
    let padded = [
        vec![0x92, 0x80, 0x00], // field 2 (spans), length-delimited, in three bytes
        vec![0x80 | (span.len() as u8 & 0x7f), (span.len() >> 7) as u8],
    ]
    .concat();
    let scope_group = [padded, span].concat();
    let body = len_field(1, &len_field(2, &scope_group));
    assert_eq!(accepted(Signal::Traces, &body), 1);
    let ten_bytes = [key(1000, 0), vec![0xff; 9], vec![0x01]].concat();
    assert_eq!(accepted(Signal::Logs, &ten_bytes), 0);
}

#[test]
fn ids_given_twice_count_once() {
    let span = [span_with(|_| {}), key(1, 2), vec![16], vec![3; 16]].concat();
    assert_eq!(accepted(Signal::Traces, &request_of(&span)), 1);
}

#[test]
fn nesting_within_the_depth_limit_is_accepted() {
    let record = log_with(|record| record.body = Some(nested(10)));
    assert_eq!(accepted(Signal::Logs, &request_of(&record)), 1);
}

// ---------------------------------------------------------------------------------------------
// Refused by both

#[test]
fn malformed_ids_are_refused() {
    let cases = [
        ("short trace id", span_with(|s| s.trace_id = vec![1; 15])),
        ("long trace id", span_with(|s| s.trace_id = vec![1; 17])),
        ("no trace id", span_with(|s| s.trace_id = vec![])),
        ("no span id", span_with(|s| s.span_id = vec![])),
        ("short span id", span_with(|s| s.span_id = vec![1; 4])),
        ("short parent", span_with(|s| s.parent_span_id = vec![1; 4])),
    ];
    for (what, span) in cases {
        refused(Signal::Traces, &request_of(&span), what);
    }
    // prost keeps the last of two ids.
    let bad_last = [span_with(|_| {}), len_field(2, &[1; 7])].concat();
    refused(Signal::Traces, &request_of(&bad_last), "bad last span id");

    let cases = [
        ("log trace id", log_with(|r| r.trace_id = vec![1; 8])),
        ("log span id", log_with(|r| r.span_id = vec![1; 16])),
    ];
    for (what, record) in cases {
        refused(Signal::Logs, &request_of(&record), what);
    }
}

#[test]
fn metrics_without_data_or_values_are_refused() {
    let no_data = Metric {
        name: "cpu".into(),
        ..Default::default()
    };
    refused(
        Signal::Metrics,
        &request_of(&no_data.encode_to_vec()),
        "no data",
    );
    let no_value = NumberDataPoint {
        time_unix_nano: 1,
        ..Default::default()
    };
    let gauge = metric(
        "gauge",
        Data::Gauge(Gauge {
            data_points: vec![no_value.clone()],
        }),
    );
    refused(
        Signal::Metrics,
        &request_of(&gauge.encode_to_vec()),
        "gauge",
    );
    let sum = metric(
        "sum",
        Data::Sum(Sum {
            data_points: vec![no_value],
            ..Default::default()
        }),
    );
    refused(Signal::Metrics, &request_of(&sum.encode_to_vec()), "sum");
}

#[test]
fn invalid_utf8_in_strings_is_refused() {
    let mut span = span_with(|s| s.attributes = vec![kv("bad-key", Value::IntValue(1))]);
    replace(&mut span, b"bad-key", b"\xff");
    refused(Signal::Traces, &request_of(&span), "attribute key");

    let mut span = span_with(|s| s.name = "bad-name".into());
    replace(&mut span, b"bad-name", b"\xc3\x28");
    refused(Signal::Traces, &request_of(&span), "span name");

    let mut record = log_with(|r| r.body = Some(any(Value::StringValue("bad-body".into()))));
    replace(&mut record, b"bad-body", b"\xed\xa0\x80"); // a UTF-16 surrogate
    refused(Signal::Logs, &request_of(&record), "log body");

    let mut body = full_metrics();
    replace(&mut body, b"exponential", b"\x80");
    refused(Signal::Metrics, &body, "metric name");

    let mut body = full_traces();
    replace(&mut body, b"service.namespace", b"\xfe");
    refused(Signal::Traces, &body, "entity ref id key");
}

#[test]
fn truncated_bodies_are_refused() {
    for signal in Signal::ALL {
        let body = full(signal);
        for cut in [1, 2, 9, body.len() / 2, body.len() - 1] {
            refused(signal, &body[..body.len() - cut], "truncated");
        }
        let overlong = [key(1, 2), varint(5), vec![0; 4]].concat();
        refused(signal, &overlong, "length beyond the end");
    }
}

#[test]
fn wrong_wire_types_on_known_fields_are_refused() {
    let cases = [
        (
            Signal::Traces,
            [key(1, 0), vec![1]].concat(),
            "resource_spans as a varint",
        ),
        (
            Signal::Traces,
            request_of(&[span_with(|_| {}), key(5, 0), vec![1]].concat()),
            "span name as a varint",
        ),
        (
            Signal::Traces,
            request_of(&[span_with(|_| {}), key(7, 5), vec![0; 4]].concat()),
            "start time as fixed32",
        ),
        (
            Signal::Logs,
            request_of(&[log_with(|_| {}), key(8, 1), vec![0; 8]].concat()),
            "flags as fixed64",
        ),
        (
            Signal::Metrics,
            request_of(&[key(5, 0), vec![1]].concat()),
            "gauge as a varint",
        ),
        (
            Signal::Metrics,
            request_of(&len_field(9, &len_field(1, &len_field(6, &[0; 12])))),
            "packed fixed64 of 12 bytes",
        ),
        (
            Signal::Metrics,
            request_of(&len_field(
                10,
                &len_field(1, &len_field(8, &len_field(2, &[0x80]))),
            )),
            "packed varint cut short",
        ),
    ];
    for (signal, body, what) in cases {
        refused(signal, &body, what);
    }
}

#[test]
fn invalid_keys_and_varints_are_refused() {
    let span = span_with(|_| {});
    let cases = [
        (
            [vec![0x00, 0x01], span.clone()].concat(),
            "field 0 in a span",
        ),
        (
            [span.clone(), vec![0x02, 0x00]].concat(),
            "field 0, length-delimited",
        ),
        ([span.clone(), key(1000, 6)].concat(), "wire type 6"),
        (
            [span.clone(), key(1000, 7), vec![0]].concat(),
            "wire type 7",
        ),
        ([span.clone(), key(1000, 4)].concat(), "a lone end-group"),
        (
            [span.clone(), key(1000, 0), vec![0xff; 10], vec![0x01]].concat(),
            "an 11-byte varint",
        ),
        (
            [span.clone(), key(1000, 0), vec![0xff; 9], vec![0x02]].concat(),
            "a varint above u64::MAX",
        ),
        (
            // As a u32, the key of a varint field 1000.
            [span.clone(), varint((1 << 32) | (1000 << 3)), vec![1]].concat(),
            "a key above u32::MAX",
        ),
    ];
    for (span, what) in cases {
        refused(Signal::Traces, &request_of(&span), what);
    }
    refused(Signal::Traces, &[0x00, 0x00], "field 0 at the top");
}

/// A message of the schema: where it sits (a function from its encoding to a request holding
/// it), and each known field's number with the wire types prost accepts for it.
type Place = (
    Signal,
    fn(&[u8]) -> Vec<u8>,
    &'static [(u32, &'static [u8])],
);

const V: &[u8] = &[0];
const I64: &[u8] = &[1];
const L: &[u8] = &[2];
const I32: &[u8] = &[5];
const I64_OR_L: &[u8] = &[1, 2];
const V_OR_L: &[u8] = &[0, 2];

fn in_resource(m: &[u8]) -> Vec<u8> {
    len_field(1, &len_field(1, m))
}
fn in_key_value(m: &[u8]) -> Vec<u8> {
    in_resource(&len_field(1, m))
}
fn in_any_value(m: &[u8]) -> Vec<u8> {
    in_key_value(&len_field(2, m))
}
/// In a span with its ids, which it needs to be well-formed.
fn in_span(m: &[u8]) -> Vec<u8> {
    request_of(&[span_with(|_| {}), m.to_vec()].concat())
}
/// In a metric with data, which it needs to be well-formed.
fn in_metric(m: &[u8]) -> Vec<u8> {
    request_of(&[len_field(5, &[]), m.to_vec()].concat())
}
/// In a number point with a value, which it needs to be well-formed.
fn in_gauge_point(m: &[u8]) -> Vec<u8> {
    let value = [key(4, 1), vec![0; 8]].concat();
    request_of(&len_field(5, &len_field(1, &[value, m.to_vec()].concat())))
}
fn in_histogram_point(m: &[u8]) -> Vec<u8> {
    request_of(&len_field(9, &len_field(1, m)))
}
fn in_exponential_point(m: &[u8]) -> Vec<u8> {
    request_of(&len_field(10, &len_field(1, m)))
}
fn in_summary_point(m: &[u8]) -> Vec<u8> {
    request_of(&len_field(11, &len_field(1, m)))
}

/// Written from the generated opentelemetry-proto 0.33.1 types, apart from the walk's own.
#[rustfmt::skip]
fn schema() -> Vec<Place> {
    use Signal::{Logs, Metrics, Traces};
    vec![
        // Requests, resource and scope groups, and the common types.
        (Traces, |m| m.to_vec(), &[(1, L)]),
        (Metrics, |m| m.to_vec(), &[(1, L)]),
        (Logs, |m| m.to_vec(), &[(1, L)]),
        (Traces, |m| len_field(1, m), &[(1, L), (2, L), (3, L)]),
        (Traces, |m| len_field(1, &len_field(2, m)), &[(1, L), (2, L), (3, L)]),
        (Traces, in_resource, &[(1, L), (2, V), (3, L)]),
        (Traces, |m| in_resource(&len_field(3, m)), &[(1, L), (2, L), (3, L), (4, L)]),
        (Traces, |m| len_field(1, &len_field(2, &len_field(1, m))), &[(1, L), (2, L), (3, L), (4, V)]),
        (Traces, in_key_value, &[(1, L), (2, L), (3, V)]),
        (Traces, in_any_value, &[(1, L), (2, V), (3, V), (4, I64), (5, L), (6, L), (7, L), (8, V)]),
        (Traces, |m| in_any_value(&len_field(5, m)), &[(1, L)]),
        (Traces, |m| in_any_value(&len_field(6, m)), &[(1, L)]),
        // Span, Event, Link, Status.
        (Traces, in_span, &[(1, L), (2, L), (3, L), (4, L), (5, L), (6, V), (7, I64), (8, I64),
            (9, L), (10, V), (11, L), (12, V), (13, L), (14, V), (15, L), (16, I32)]),
        (Traces, |m| in_span(&len_field(11, m)), &[(1, I64), (2, L), (3, L), (4, V)]),
        (Traces, |m| in_span(&len_field(13, m)), &[(1, L), (2, L), (3, L), (4, L), (5, V), (6, I32)]),
        (Traces, |m| in_span(&len_field(15, m)), &[(2, L), (3, V)]),
        // LogRecord.
        (Logs, request_of, &[(1, I64), (2, V), (3, L), (5, L), (6, L), (7, V), (8, I32), (9, L),
            (10, L), (11, I64), (12, L)]),
        // Metric, its five kinds of data, their points, and what the points hold.
        (Metrics, in_metric, &[(1, L), (2, L), (3, L), (5, L), (7, L), (9, L), (10, L), (11, L), (12, L)]),
        (Metrics, |m| request_of(&len_field(5, m)), &[(1, L)]),
        (Metrics, |m| request_of(&len_field(7, m)), &[(1, L), (2, V), (3, V)]),
        (Metrics, |m| request_of(&len_field(9, m)), &[(1, L), (2, V)]),
        (Metrics, |m| request_of(&len_field(10, m)), &[(1, L), (2, V)]),
        (Metrics, |m| request_of(&len_field(11, m)), &[(1, L)]),
        (Metrics, in_gauge_point, &[(2, I64), (3, I64), (4, I64), (5, L), (6, I64), (7, L), (8, V)]),
        (Metrics, |m| in_gauge_point(&len_field(5, m)), &[(2, I64), (3, I64), (4, L), (5, L), (6, I64), (7, L)]),
        (Metrics, in_histogram_point, &[(2, I64), (3, I64), (4, I64), (5, I64), (6, I64_OR_L),
            (7, I64_OR_L), (8, L), (9, L), (10, V), (11, I64), (12, I64)]),
        (Metrics, in_exponential_point, &[(1, L), (2, I64), (3, I64), (4, I64), (5, I64), (6, V),
            (7, I64), (8, L), (9, L), (10, V), (11, L), (12, I64), (13, I64), (14, I64)]),
        (Metrics, |m| in_exponential_point(&len_field(8, m)), &[(1, V), (2, V_OR_L)]),
        (Metrics, in_summary_point, &[(2, I64), (3, I64), (4, I64), (5, I64), (6, L), (7, L), (8, V)]),
        (Metrics, |m| in_summary_point(&len_field(6, m)), &[(1, I64), (2, I64)]),
    ]
}

#[test]
fn every_known_field_with_another_wire_type_is_refused() {
    let mut tried = 0;
    for (signal, place, fields) in schema() {
        // The place is well-formed without the field, and skips what it does not know.
        accepted(signal, &place(&unknown_fields()));
        for &(number, accepted) in fields {
            for wire in [0u8, 1, 2, 5].into_iter().filter(|w| !accepted.contains(w)) {
                let value = match wire {
                    0 => vec![1],
                    1 => vec![0; 8],
                    2 => vec![0],
                    _ => vec![0; 4],
                };
                let body = place(&[key(number, wire), value].concat());
                refused(
                    signal,
                    &body,
                    &format!("{signal:?} field {number} wire {wire}"),
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 300, "{tried}");
}

// ---------------------------------------------------------------------------------------------
// Accepted by prost, left to it

#[test]
fn what_prost_accepts_but_the_walk_leaves_to_it() {
    // A metric's data given twice: prost merges or replaces, which changes the count.
    let gauge = len_field(1, &[key(4, 1), vec![0; 8]].concat());
    let twice = [len_field(5, &gauge), len_field(5, &gauge)].concat();
    left_to_full_decode(Signal::Metrics, &request_of(&twice), "gauge twice");
    let sum = len_field(1, &[key(6, 1), vec![0; 8]].concat());
    let both = [len_field(5, &gauge), len_field(7, &sum)].concat();
    left_to_full_decode(Signal::Metrics, &request_of(&both), "gauge then sum");

    let group = [key(1000, 3), key(1, 0), vec![1], key(1000, 4)].concat();
    let span = [span_with(|_| {}), group].concat();
    left_to_full_decode(Signal::Traces, &request_of(&span), "a group");

    // prost keeps the last of two ids, which is good here; the walk wants every one good.
    let bad_first = [len_field(2, &[1; 7]), span_with(|_| {})].concat();
    left_to_full_decode(Signal::Traces, &request_of(&bad_first), "bad first span id");

    let record = log_with(|record| record.body = Some(nested(40)));
    left_to_full_decode(Signal::Logs, &request_of(&record), "40 levels");
    // Beyond prost's recursion limit: both refuse.
    let record = log_with(|record| record.body = Some(nested(60)));
    refused(Signal::Logs, &request_of(&record), "60 levels");
}

// ---------------------------------------------------------------------------------------------
// Mutations

#[test]
fn every_wire_type_at_every_byte_of_requests_with_every_field() {
    // Where the byte is a key, each known field gets each wrong wire type.
    for signal in Signal::ALL {
        let body = compact(signal);
        accepted(signal, &body);
        for at in 0..body.len() {
            for wire in 0..8 {
                let mut mutated = body.clone();
                mutated[at] = (mutated[at] & !7) | wire;
                if mutated[at] != body[at] {
                    walk_checked(signal, &mutated);
                }
            }
        }
    }
}

/// xorshift64*: deterministic, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, body: &mut Vec<u8>) {
    let len = body.len();
    let at = rng.below(len);
    match rng.below(8) {
        0 | 1 if len > 0 => body[at] ^= 1 << rng.below(8),
        2 if len > 0 => body[at] = rng.next() as u8,
        // Small values and continuation bits: lengths, keys and varints.
        3 if len > 0 => body[at] = [0, 1, 2, 0x7f, 0x80, 0xff][rng.below(6)],
        4 => body.truncate(at),
        5 => {
            let bytes: Vec<u8> = (0..1 + rng.below(4)).map(|_| rng.next() as u8).collect();
            body.splice(at..at, bytes);
        }
        6 => {
            let end = (at + 1 + rng.below(8)).min(len);
            body.drain(at..end);
        }
        _ => {
            let end = (at + 1 + rng.below(64)).min(len);
            let range = body[at..end].to_vec();
            let to = rng.below(len + 1);
            body.splice(to..to, range);
        }
    }
}

#[test]
fn mutated_requests_never_get_a_some_the_full_decode_would_not_give() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut tries, mut some, mut stricter) = (0, 0, 0);
    for signal in Signal::ALL {
        let bases = [
            crate::workload::request(signal, 1, 1),
            crate::workload::request(signal, 2, 3),
            full(signal),
        ];
        for base in bases {
            for _ in 0..2000 {
                let mut body = base.clone();
                for _ in 0..1 + rng.below(3) {
                    mutate(&mut rng, &mut body);
                }
                tries += 1;
                match walk_checked(signal, &body) {
                    Some(_) => some += 1,
                    None if full_decode(signal, &body).is_ok() => stricter += 1,
                    None => {}
                }
            }
        }
    }
    eprintln!("{tries} mutations: Some for {some}, None where the full decode accepts {stricter}");
    assert!(some > tries / 20, "Some for only {some} of {tries}");
}
