//! A consumed record to a payload: by the configured encoding, or by the headers the `kafka`
//! exporter writes (`content-type`, `schema.version`, `signal`).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;

use super::RecordEncoding;
use crate::pipeline::admission::Received;
use crate::pipeline::attributes::any_value_of;
use crate::pipeline::batch::{Payload, Signal};
use crate::pipeline::codec::{decode_received, wellformed, Encoding};
use crate::pipeline::dead_letter::{nanos_from_rfc3339, text_or_base64};

/// A record as read, owned so that it outlives the consumer's buffer.
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    /// Keys and values as the bytes Kafka holds: nothing promises that either is UTF-8.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Consumed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// A header's value for an error message: quoted text, `none`, or base64 for bytes that
    /// are not UTF-8 (which `header` cannot return).
    pub fn shown_header(&self, name: &str) -> String {
        let found = self
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name.as_bytes()));
        match found {
            None => "none".to_string(),
            Some((_, value)) => match text_or_base64(value) {
                (text, false) => format!("{text:?}"),
                (base64, true) => format!("bytes that are not UTF-8 (base64 {base64})"),
            },
        }
    }

    /// The first header whose key is not UTF-8: (its index, its key). Such a header cannot be
    /// looked up by name, so the record's meaning is uncertain and it goes to the dead letter.
    pub fn unreadable_header(&self) -> Option<(usize, &[u8])> {
        self.headers
            .iter()
            .position(|(key, _)| std::str::from_utf8(key).is_err())
            .map(|index| (index, self.headers[index].0.as_slice()))
    }
}

/// What went wrong, for the dead letter's `error` and `error_type`.
pub struct Undecodable {
    pub error: String,
    pub signal: Option<Signal>,
}

pub fn decode(record: &Consumed, configured: RecordEncoding) -> Result<Received, Undecodable> {
    let signal = record.header("signal").and_then(Signal::parse);
    let fail = |error: String| Undecodable { error, signal };
    let encoding = match configured {
        RecordEncoding::Auto => encoding_from_headers(record).ok_or_else(|| {
            fail(format!(
                "expected a content-type header (application/x-protobuf or application/json), found {}",
                record.shown_header("content-type")
            ))
        })?,
        other => other,
    };
    match encoding {
        RecordEncoding::GdsJson => {
            let payload = gds_json(&record.value).map_err(&fail)?;
            wellformed::check(&payload)
                .map_err(|e| fail(format!("the message is malformed at {e}")))?;
            Ok(Received::from(payload))
        }
        RecordEncoding::OtlpProto | RecordEncoding::OtlpJson | RecordEncoding::Auto => {
            let signal = signal.ok_or_else(|| {
                fail(format!(
                    "expected a signal header (traces, metrics or logs), found {}",
                    record.shown_header("signal")
                ))
            })?;
            // One strictness rule with the OTLP receivers: the same walk, decode and checks.
            let codec_encoding = match encoding {
                RecordEncoding::OtlpJson => Encoding::Json,
                _ => Encoding::Protobuf,
            };
            let value = bytes::Bytes::copy_from_slice(&record.value);
            decode_received(signal, codec_encoding, &value).map_err(|e| {
                fail(format!(
                    "expected an OTLP {signal} request, found {} bytes that do not decode: {e}",
                    record.value.len()
                ))
            })
        }
    }
}

fn encoding_from_headers(record: &Consumed) -> Option<RecordEncoding> {
    let schema = record.header("schema.version").unwrap_or_default();
    match record.header("content-type")? {
        "application/x-protobuf" => Some(RecordEncoding::OtlpProto),
        "application/json" if schema.starts_with("gds.") => Some(RecordEncoding::GdsJson),
        "application/json" => Some(RecordEncoding::OtlpJson),
        _ => None,
    }
}

/// The platform's standard metric or log message back to OTLP: the metric as a gauge point,
/// `database_type` and `instance_id` as `db.system` and `service.instance.id`.
fn gds_json(value: &[u8]) -> Result<Payload, String> {
    let message: Value = serde_json::from_slice(value)
        .map_err(|e| format!("expected a gds_json message, found invalid JSON: {e}"))?;
    let time = message["timestamp"]
        .as_str()
        .and_then(nanos_from_rfc3339)
        .ok_or_else(|| {
            format!(
                "expected an RFC 3339 `timestamp` from 1970 to 2554, found {}",
                message["timestamp"]
            )
        })?;
    let mut resource = Vec::new();
    for (field, key) in [
        ("database_type", "db.system"),
        ("instance_id", "service.instance.id"),
        ("service", "service.name"),
    ] {
        if let Some(text) = message[field].as_str() {
            resource.push(string(key, text));
        }
    }
    let resource = Some(Resource {
        attributes: resource,
        ..Default::default()
    });
    if let Some(name) = message["metric_name"].as_str() {
        let value = message["value"]
            .as_f64()
            .ok_or("expected a numeric `value`")?;
        let point = NumberDataPoint {
            time_unix_nano: time,
            attributes: strings(&message["tags"]),
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let metric = Metric {
            name: name.to_string(),
            unit: message["metadata"]["unit"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point],
            })),
            ..Default::default()
        };
        return Ok(Payload::Metrics(
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource,
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![metric],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
        ));
    }
    let level = message["level"]
        .as_str()
        .ok_or("expected a `metric_name` (a metric) or a `level` (a log)")?;
    let hex = |field: &str| {
        message[field]
            .as_str()
            .and_then(hex_bytes)
            .unwrap_or_default()
    };
    let log = LogRecord {
        time_unix_nano: time,
        severity_text: level.to_string(),
        body: message["message"].as_str().map(|text| AnyValue {
            value: Some(any_value::Value::StringValue(text.to_string())),
        }),
        attributes: strings(&message["context"]),
        trace_id: hex("trace_id"),
        span_id: hex("span_id"),
        ..Default::default()
    };
    Ok(Payload::Logs(
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource,
                scope_logs: vec![ScopeLogs {
                    log_records: vec![log],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        },
    ))
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn strings(map: &Value) -> Vec<KeyValue> {
    map.as_object()
        .map(|object| {
            object
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(any_value_of(value)),
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &[u8], headers: &[(&str, &str)]) -> Consumed {
        Consumed {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            key: None,
            value: value.to_vec(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn headers_choose_the_encoding_and_the_signal() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]}"#;
        let decoded = decode(
            &record(
                json,
                &[("content-type", "application/json"), ("signal", "traces")],
            ),
            RecordEncoding::Auto,
        );
        assert_eq!(decoded.ok().map(|p| p.items()), Some(1));
        let missing = decode(&record(b"\x00\x01garbage", &[]), RecordEncoding::Auto);
        assert!(missing.is_err_and(|e| e.error.contains("content-type")));
        let garbage = decode(
            &record(b"\xff\xff\xff", &[("signal", "logs")]),
            RecordEncoding::OtlpProto,
        );
        assert!(garbage
            .is_err_and(|e| e.signal == Some(Signal::Logs) && e.error.contains("do not decode")));
    }

    #[test]
    fn records_are_held_to_the_otlp_receivers_strictness() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let request = |trace_id: Vec<u8>| {
            ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![Span {
                            trace_id,
                            span_id: vec![1; 8],
                            name: "a".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec()
        };
        let headers = [("signal", "traces")];
        let short = decode(
            &record(&request(vec![7; 15]), &headers),
            RecordEncoding::OtlpProto,
        );
        assert!(
            short.is_err_and(|e| e.error.contains("do not decode")),
            "a 15-byte trace id is refused, as over OTLP"
        );
        let good = decode(
            &record(&request(vec![7; 16]), &headers),
            RecordEncoding::OtlpProto,
        );
        let good = good.ok().expect("a 16-byte trace id decodes");
        assert!(good.is_walked(), "walked, as the OTLP receiver does");
        assert_eq!(good.items(), 1);
    }

    #[test]
    fn a_header_key_that_is_not_utf8_is_reported_and_the_others_still_read() {
        let mut consumed = record(b"", &[("signal", "logs")]);
        assert_eq!(consumed.unreadable_header(), None);
        consumed.headers.push((b"bad\xff".to_vec(), b"x".to_vec()));
        assert_eq!(
            consumed.unreadable_header(),
            Some((1, b"bad\xff".as_slice()))
        );
        assert_eq!(consumed.header("SIGNAL"), Some("logs"));
        consumed
            .headers
            .push((b"content-type".to_vec(), b"\xffjson".to_vec()));
        let refused = decode(&consumed, RecordEncoding::Auto);
        assert!(
            refused.is_err_and(|e| e.error.contains("not UTF-8 (base64 /2pzb24=)")),
            "a header value that is not UTF-8 is named in the error"
        );
    }

    #[test]
    fn standard_messages_become_otlp_again() {
        let metric = br#"{"timestamp":"2025-01-15T10:30:00.000Z","database_type":"postgresql","instance_id":"db-1","metric_name":"cpu","value":85.5,"tags":{"core":"0"},"metadata":{"version":"1.0","unit":"%"}}"#;
        let Ok(Payload::Metrics(request)) = gds_json(metric) else {
            panic!("a metric");
        };
        let m = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!((m.name.as_str(), m.unit.as_str()), ("cpu", "%"));
        let log = br#"{"timestamp":"2025-01-15T10:30:00Z","level":"ERROR","message":"down","service":"collector","trace_id":"0102","context":{"a":"b"}}"#;
        let Ok(Payload::Logs(request)) = gds_json(log) else {
            panic!("a log");
        };
        let l = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(l.severity_text, "ERROR");
        assert_eq!(l.trace_id, vec![1, 2]);
        assert!(gds_json(br#"{"timestamp":"2025-01-15T10:30:00Z"}"#).is_err());
        let far = gds_json(br#"{"timestamp":"292278994-08-17T07:12:55Z","level":"INFO"}"#);
        assert!(far.is_err_and(|e| e.contains("292278994")));
    }
}
