use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{json, Value as Json};

use super::*;
use crate::pipeline::batch::{DeadLetters, Signal};
use crate::pipeline::codec::{self, Encoding};

const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
const SPAN_HEX: &str = "eee19b7ec3c1b174";
const PARENT_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73];
const PARENT_HEX: &str = "eee19b7ec3c1b173";

/// The payload's OTLP/JSON, parsed, after checking it holds no `null` anywhere.
fn encoded(payload: &Payload) -> Json {
    let bytes = encode(payload).expect("an OTLP payload");
    let json: Json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    assert_no_null(&json, "$");
    json
}

fn assert_no_null(json: &Json, path: &str) {
    match json {
        Json::Null => panic!("null at {path}"),
        Json::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                assert_no_null(item, &format!("{path}[{index}]"));
            }
        }
        Json::Object(fields) => {
            for (name, value) in fields {
                assert_no_null(value, &format!("{path}.{name}"));
            }
        }
        _ => {}
    }
}

/// What the OTLP/HTTP receiver makes of the payload's OTLP/JSON.
fn decoded(payload: &Payload) -> Payload {
    let bytes = encode(payload).expect("an OTLP payload");
    codec::decode(payload.signal(), Encoding::Json, &bytes).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&bytes));
    })
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

/// Every AnyValue kind, nested ones included, and a key with no value.
fn every_value_kind() -> Vec<KeyValue> {
    vec![
        attribute("string", Value::StringValue("text".into())),
        attribute("emptyString", Value::StringValue(String::new())),
        attribute("bool", Value::BoolValue(true)),
        attribute("false", Value::BoolValue(false)),
        attribute("int", Value::IntValue(i64::MIN)),
        attribute("zero", Value::IntValue(0)),
        attribute("double", Value::DoubleValue(2.5)),
        attribute(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1)),
                    },
                    AnyValue { value: None },
                ],
            }),
        ),
        attribute(
            "emptyArray",
            Value::ArrayValue(ArrayValue { values: vec![] }),
        ),
        attribute(
            "kvlist",
            Value::KvlistValue(KeyValueList {
                values: vec![attribute("inner", Value::BoolValue(true))],
            }),
        ),
        attribute(
            "emptyKvlist",
            Value::KvlistValue(KeyValueList { values: vec![] }),
        ),
        attribute("bytes", Value::BytesValue(vec![0, 1, 0xfe, 0xff])),
        KeyValue {
            key: "emptyValue".into(),
            value: Some(AnyValue { value: None }),
            key_strindex: 0,
        },
        KeyValue {
            key: "noValue".into(),
            value: None,
            key_strindex: 0,
        },
        KeyValue {
            key: String::new(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("empty key".into())),
            }),
            key_strindex: 0,
        },
    ]
}

fn traces() -> Payload {
    let span = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        trace_state: "k=v".into(),
        parent_span_id: PARENT_ID.to_vec(),
        flags: 0x301,
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_001,
        end_time_unix_nano: u64::MAX,
        attributes: every_value_kind(),
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 1_700_000_000_000_000_002,
            name: "event".into(),
            attributes: vec![attribute("e", Value::IntValue(3))],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: TRACE_ID.to_vec(),
            span_id: PARENT_ID.to_vec(),
            trace_state: "l=1".into(),
            attributes: vec![attribute("l", Value::BoolValue(true))],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "failed".into(),
            code: 2,
        }),
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", Value::StringValue("api".into()))],
                dropped_attributes_count: 6,
                entity_refs: vec![EntityRef {
                    schema_url: "https://example.com/entity".into(),
                    r#type: "service".into(),
                    id_keys: vec!["service.name".into()],
                    description_keys: vec![],
                }],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    attributes: vec![attribute("s", Value::DoubleValue(-1.0))],
                    dropped_attributes_count: 7,
                }),
                spans: vec![
                    span,
                    // Ids only: a span without them is malformed.
                    Span {
                        trace_id: TRACE_ID.to_vec(),
                        span_id: SPAN_ID.to_vec(),
                        ..Default::default()
                    },
                ],
                schema_url: "https://example.com/scope".into(),
            }],
            schema_url: "https://example.com/resource".into(),
        }],
    })
}

fn exemplars() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: vec![attribute("f", Value::StringValue("x".into()))],
            time_unix_nano: 1_700_000_000_000_000_003,
            span_id: SPAN_ID.to_vec(),
            trace_id: TRACE_ID.to_vec(),
            value: Some(exemplar::Value::AsInt(-7)),
        },
        Exemplar {
            value: Some(exemplar::Value::AsDouble(0.25)),
            ..Default::default()
        },
    ]
}

fn number_point(value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![attribute("p", Value::IntValue(1))],
        start_time_unix_nano: 1,
        time_unix_nano: 1_700_000_000_000_000_004,
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
        metadata: vec![attribute("m", Value::StringValue("meta".into()))],
        data: Some(data),
    }
}

fn histogram_point(sum_min_max: Option<(f64, f64, f64)>) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 9_007_199_254_740_993,
        sum: sum_min_max.map(|s| s.0),
        bucket_counts: vec![0, 9_007_199_254_740_993],
        explicit_bounds: vec![1.5],
        exemplars: exemplars(),
        flags: 0,
        min: sum_min_max.map(|s| s.1),
        max: sum_min_max.map(|s| s.2),
    }
}

fn exponential_point(sum_min_max: Option<(f64, f64, f64)>) -> ExponentialHistogramDataPoint {
    ExponentialHistogramDataPoint {
        attributes: vec![],
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        count: 3,
        sum: sum_min_max.map(|s| s.0),
        scale: -2,
        zero_count: 1,
        positive: Some(Buckets {
            offset: -3,
            bucket_counts: vec![1, 1],
        }),
        negative: Some(Buckets::default()),
        flags: 1,
        exemplars: vec![],
        min: sum_min_max.map(|s| s.1),
        max: sum_min_max.map(|s| s.2),
        zero_threshold: 1e-9,
    }
}

fn metrics() -> Payload {
    let metrics = vec![
        metric(
            "gauge",
            Data::Gauge(Gauge {
                data_points: vec![
                    number_point(number_data_point::Value::AsDouble(0.0)),
                    number_point(number_data_point::Value::AsInt(i64::MAX)),
                ],
            }),
        ),
        metric(
            "sum",
            Data::Sum(Sum {
                data_points: vec![number_point(number_data_point::Value::AsInt(0))],
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            Data::Histogram(Histogram {
                data_points: vec![
                    histogram_point(Some((0.0, -1.0, 2.0))),
                    histogram_point(None),
                ],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![
                    exponential_point(Some((1.0, 0.0, 3.0))),
                    exponential_point(None),
                ],
                aggregation_temporality: 2,
            }),
        ),
        metric(
            "summary",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: 1,
                    time_unix_nano: 2,
                    count: 4,
                    sum: 10.5,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.0,
                            value: 1.0,
                        },
                        ValueAtQuantile {
                            quantile: 1.0,
                            value: 4.0,
                        },
                    ],
                    flags: 0,
                }],
            }),
        ),
        metric("emptyGauge", Data::Gauge(Gauge::default())),
    ];
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource::default()),
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

fn logs() -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope::default()),
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_005,
                        observed_time_unix_nano: 1_700_000_000_000_000_006,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(AnyValue {
                            value: Some(Value::KvlistValue(KeyValueList {
                                values: every_value_kind(),
                            })),
                        }),
                        attributes: vec![attribute("a", Value::StringValue("b".into()))],
                        dropped_attributes_count: 1,
                        flags: 1,
                        trace_id: TRACE_ID.to_vec(),
                        span_id: SPAN_ID.to_vec(),
                        event_name: "app.started".into(),
                    },
                    LogRecord::default(),
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

#[test]
fn an_empty_request_is_an_empty_object() {
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        assert_eq!(encoded(&Payload::empty(signal)), json!({}), "{signal}");
    }
}

#[test]
fn dead_letters_have_no_otlp_json() {
    let letters = Payload::DeadLetters(DeadLetters {
        signal: Signal::Logs,
        letters: vec![],
    });
    assert_eq!(encode(&letters), None);
}

#[test]
fn a_span_is_written_with_camel_case_names_hex_ids_string_times_and_integer_enums() {
    let json = encoded(&traces());
    let group = &json["resourceSpans"][0];
    assert_eq!(group["schemaUrl"], "https://example.com/resource");
    assert_eq!(
        group["scopeSpans"][0]["schemaUrl"],
        "https://example.com/scope"
    );
    let span = &group["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], TRACE_HEX);
    assert_eq!(span["spanId"], SPAN_HEX);
    assert_eq!(span["parentSpanId"], PARENT_HEX);
    assert_eq!(span["traceState"], "k=v");
    assert_eq!(span["flags"], 0x301);
    assert_eq!(span["kind"], 2);
    assert_eq!(span["startTimeUnixNano"], "1700000000000000001");
    assert_eq!(span["endTimeUnixNano"], "18446744073709551615");
    assert_eq!(span["droppedAttributesCount"], 1);
    assert_eq!(span["droppedEventsCount"], 3);
    assert_eq!(span["droppedLinksCount"], 5);
    assert_eq!(span["status"], json!({"message": "failed", "code": 2}));
    assert_eq!(
        span["events"][0],
        json!({
            "timeUnixNano": "1700000000000000002",
            "name": "event",
            "attributes": [{"key": "e", "value": {"intValue": "3"}}],
            "droppedAttributesCount": 2,
        })
    );
    assert_eq!(
        span["links"][0],
        json!({
            "traceId": TRACE_HEX,
            "spanId": PARENT_HEX,
            "traceState": "l=1",
            "attributes": [{"key": "l", "value": {"boolValue": true}}],
            "droppedAttributesCount": 4,
            "flags": 1,
        })
    );
}

#[test]
fn a_message_at_its_defaults_is_empty_and_an_absent_one_left_out() {
    let json = encoded(&traces());
    assert_eq!(
        json["resourceSpans"][0]["scopeSpans"][0]["spans"][1],
        json!({"traceId": TRACE_HEX, "spanId": SPAN_HEX})
    );
    let json = encoded(&logs());
    let group = &json["resourceLogs"][0];
    assert_eq!(group.get("resource"), None);
    assert_eq!(group.get("schemaUrl"), None);
    assert_eq!(group["scopeLogs"][0]["scope"], json!({}));
    assert_eq!(group["scopeLogs"][0]["logRecords"][1], json!({}));
    let json = encoded(&metrics());
    assert_eq!(json["resourceMetrics"][0]["resource"], json!({}));
    assert_eq!(
        json["resourceMetrics"][0]["scopeMetrics"][0].get("scope"),
        None
    );
}

#[test]
fn the_resource_and_scope_carry_every_field() {
    let json = encoded(&traces());
    let group = &json["resourceSpans"][0];
    assert_eq!(
        group["resource"],
        json!({
            "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}],
            "droppedAttributesCount": 6,
            "entityRefs": [{
                "schemaUrl": "https://example.com/entity",
                "type": "service",
                "idKeys": ["service.name"],
                "descriptionKeys": [],
            }],
        })
    );
    assert_eq!(
        group["scopeSpans"][0]["scope"],
        json!({
            "name": "lib",
            "version": "1.0",
            "attributes": [{"key": "s", "value": {"doubleValue": -1.0}}],
            "droppedAttributesCount": 7,
        })
    );
}

#[test]
fn every_any_value_kind_is_its_one_set_member() {
    let json = encoded(&traces());
    let attributes = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    assert_eq!(
        *attributes,
        json!([
            {"key": "string", "value": {"stringValue": "text"}},
            {"key": "emptyString", "value": {"stringValue": ""}},
            {"key": "bool", "value": {"boolValue": true}},
            {"key": "false", "value": {"boolValue": false}},
            {"key": "int", "value": {"intValue": "-9223372036854775808"}},
            {"key": "zero", "value": {"intValue": "0"}},
            {"key": "double", "value": {"doubleValue": 2.5}},
            {"key": "array", "value": {"arrayValue": {"values": [{"intValue": "1"}, {}]}}},
            {"key": "emptyArray", "value": {"arrayValue": {"values": []}}},
            {"key": "kvlist", "value": {"kvlistValue": {"values": [
                {"key": "inner", "value": {"boolValue": true}}
            ]}}},
            {"key": "emptyKvlist", "value": {"kvlistValue": {"values": []}}},
            {"key": "bytes", "value": {"bytesValue": "AAH+/w=="}},
            {"key": "emptyValue", "value": {}},
            {"key": "noValue"},
            {"key": "", "value": {"stringValue": "empty key"}},
        ])
    );
}

#[test]
fn string_indexes_of_the_profiles_dictionary_are_written_when_set() {
    let pair = KeyValue {
        key: String::new(),
        value: Some(AnyValue {
            value: Some(Value::StringValueStrindex(3)),
        }),
        key_strindex: 4,
    };
    let mut out = Vec::new();
    common::key_value(&mut out, &pair);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"key":"","value":{"stringValueStrindex":3},"keyStrindex":4}"#
    );
}

#[test]
fn a_histogram_point_without_sum_min_or_max_leaves_them_out() {
    let json = encoded(&metrics());
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    for (index, kind) in [(2, "histogram"), (3, "exponentialHistogram")] {
        let points = &metrics[index][kind]["dataPoints"];
        let absent = points[1].as_object().expect("a point");
        for field in ["sum", "min", "max"] {
            assert!(!absent.contains_key(field), "{kind}: {field} in {absent:?}");
        }
        // Set, they are written, zero included: `optional` fields have presence.
        let set = points[0].as_object().expect("a point");
        for field in ["sum", "min", "max"] {
            assert!(set.contains_key(field), "{kind}: no {field} in {set:?}");
        }
    }
    let histogram = &metrics[2]["histogram"]["dataPoints"][0];
    assert_eq!(histogram["sum"], 0.0);
    assert_eq!(histogram["min"], -1.0);
    assert_eq!(histogram["max"], 2.0);
    let bytes = encode(&self::metrics()).unwrap();
    assert!(!String::from_utf8(bytes).unwrap().contains("null"));
}

#[test]
fn counts_and_bucket_counts_are_strings_and_the_rest_numbers() {
    let json = encoded(&metrics());
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    let histogram = &metrics[2]["histogram"];
    assert_eq!(histogram["aggregationTemporality"], 1);
    let point = &histogram["dataPoints"][0];
    assert_eq!(point["count"], "9007199254740993");
    assert_eq!(point["bucketCounts"], json!(["0", "9007199254740993"]));
    assert_eq!(point["explicitBounds"], json!([1.5]));
    assert_eq!(point["startTimeUnixNano"], "1");
    assert_eq!(
        metrics[3]["exponentialHistogram"]["dataPoints"][0],
        json!({
            "startTimeUnixNano": "1",
            "timeUnixNano": "2",
            "count": "3",
            "sum": 1.0,
            "scale": -2,
            "zeroCount": "1",
            "positive": {"offset": -3, "bucketCounts": ["1", "1"]},
            "negative": {},
            "flags": 1,
            "min": 0.0,
            "max": 3.0,
            "zeroThreshold": 1e-9,
        })
    );
    assert_eq!(
        metrics[4]["summary"]["dataPoints"][0],
        json!({
            "startTimeUnixNano": "1",
            "timeUnixNano": "2",
            "count": "4",
            "sum": 10.5,
            "quantileValues": [{"value": 1.0}, {"quantile": 1.0, "value": 4.0}],
        })
    );
}

#[test]
fn a_number_point_is_its_value_set_even_at_zero() {
    let json = encoded(&metrics());
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    let gauge = &metrics[0];
    assert_eq!(gauge["name"], "gauge");
    assert_eq!(gauge["description"], "what it measures");
    assert_eq!(gauge["unit"], "ms");
    assert_eq!(gauge["metadata"][0]["key"], "m");
    let points = &gauge["gauge"]["dataPoints"];
    assert_eq!(points[0]["asDouble"], 0.0);
    assert_eq!(points[0].get("asInt"), None);
    assert_eq!(points[1]["asInt"], "9223372036854775807");
    assert_eq!(points[1]["timeUnixNano"], "1700000000000000004");
    assert_eq!(points[1]["flags"], 1);
    let sum = &metrics[1]["sum"];
    assert_eq!(sum["aggregationTemporality"], 2);
    assert_eq!(sum["isMonotonic"], true);
    assert_eq!(sum["dataPoints"][0]["asInt"], "0");
    // A metric's data is a oneof: set but empty, it is still written.
    assert_eq!(metrics[5]["gauge"], json!({}));
}

#[test]
fn exemplars_have_hex_ids_and_string_integers() {
    let json = encoded(&metrics());
    let point =
        &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0];
    assert_eq!(
        point["exemplars"],
        json!([
            {
                "filteredAttributes": [{"key": "f", "value": {"stringValue": "x"}}],
                "timeUnixNano": "1700000000000000003",
                "asInt": "-7",
                "spanId": SPAN_HEX,
                "traceId": TRACE_HEX,
            },
            {"asDouble": 0.25},
        ])
    );
}

#[test]
fn a_log_record_is_written_with_every_field() {
    let json = encoded(&logs());
    let record = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["timeUnixNano"], "1700000000000000005");
    assert_eq!(record["observedTimeUnixNano"], "1700000000000000006");
    assert_eq!(record["severityNumber"], 17);
    assert_eq!(record["severityText"], "ERROR");
    assert_eq!(record["body"]["kvlistValue"]["values"][0]["key"], "string");
    assert_eq!(record["attributes"][0]["value"]["stringValue"], "b");
    assert_eq!(record["droppedAttributesCount"], 1);
    assert_eq!(record["flags"], 1);
    assert_eq!(record["traceId"], TRACE_HEX);
    assert_eq!(record["spanId"], SPAN_HEX);
    assert_eq!(record["eventName"], "app.started");
}

#[test]
fn non_finite_doubles_are_strings_wherever_a_double_goes() {
    let mut point = histogram_point(Some((f64::NAN, f64::NEG_INFINITY, f64::INFINITY)));
    point.explicit_bounds = vec![f64::NEG_INFINITY, 0.0, f64::INFINITY];
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "histogram",
                        Data::Histogram(Histogram {
                            data_points: vec![point],
                            aggregation_temporality: 0,
                        }),
                    ),
                    metric(
                        "gauge",
                        Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: vec![attribute("d", Value::DoubleValue(f64::NAN))],
                                value: Some(number_data_point::Value::AsDouble(f64::INFINITY)),
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let json = encoded(&payload);
    let metrics = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    let histogram = &metrics[0]["histogram"]["dataPoints"][0];
    assert_eq!(histogram["sum"], "NaN");
    assert_eq!(histogram["min"], "-Infinity");
    assert_eq!(histogram["max"], "Infinity");
    assert_eq!(
        histogram["explicitBounds"],
        json!(["-Infinity", 0.0, "Infinity"])
    );
    let gauge = &metrics[1]["gauge"]["dataPoints"][0];
    assert_eq!(gauge["asDouble"], "Infinity");
    assert_eq!(gauge["attributes"][0]["value"]["doubleValue"], "NaN");
}

#[test]
fn strings_are_escaped_and_read_back_unchanged() {
    let text = "quote\" backslash\\ newline\n nul\u{0} bell\u{7} unit\u{1f} del\u{7f} ünï 日本 🚀";
    let payload = Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(Value::StringValue(text.into())),
                    }),
                    attributes: vec![attribute(text, Value::StringValue(text.into()))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let bytes = encode(&payload).unwrap();
    assert!(
        !bytes.iter().any(|&b| b < 0x20),
        "raw control bytes in {}",
        String::from_utf8_lossy(&bytes)
    );
    let json = encoded(&payload);
    let record = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["body"]["stringValue"], text);
    assert_eq!(record["attributes"][0]["key"], text);
    assert_eq!(decoded(&payload), payload);
}

#[test]
fn what_the_otlp_http_receiver_reads_back_is_what_was_written() {
    for payload in [traces(), metrics(), logs()] {
        assert_eq!(decoded(&payload), payload, "{}", payload.signal());
    }
}

/// Why `key`, and an array's or kvlist's `values`, are written even when empty: the decoder
/// the receivers use refuses them missing. Should it stop, these can follow the proto3 rule.
#[test]
fn the_receivers_decoder_requires_key_and_values() {
    let without_key = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"value":{"intValue":"1"}}]}]}]}]}"#;
    assert!(codec::decode(Signal::Logs, Encoding::Json, without_key).is_err());
    let without_values =
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{}}}]}]}]}"#;
    assert!(codec::decode(Signal::Logs, Encoding::Json, without_values).is_err());
}
