//! The platform's standard messages (`gds_json`): one per data point or log record, with the
//! reference's fields, `metadata.version` and a `correlation_id`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use serde_json::{json, Map, Value};

use crate::pipeline::attributes::{as_text, first_resource_attributes, json_of, text_of};
use crate::pipeline::batch::Payload;
use crate::pipeline::dead_letter::rfc3339_from_nanos;

pub const METRIC_SCHEMA: &str = "gds.metric.v1";
pub const LOG_SCHEMA: &str = "gds.log.v1";
const VERSION: &str = "1.0";

pub struct GdsNames<'a> {
    pub database_type: &'a str,
    pub instance_id: &'a str,
}

/// The message for a single-item payload, and its schema name; `None` for traces.
pub fn message(
    item: &Payload,
    names: &GdsNames<'_>,
    correlation_id: &str,
) -> Option<(Value, &'static str)> {
    let resource = first_resource_attributes(item);
    match item {
        Payload::Metrics(request) => {
            let metric = request
                .resource_metrics
                .first()?
                .scope_metrics
                .first()?
                .metrics
                .first()?;
            let (time, value, attributes) = point(metric.data.as_ref()?)?;
            let mut tags = strings(attributes);
            for (from, to) in [
                ("deployment.environment", "environment"),
                ("cloud.region", "region"),
            ] {
                if let Some(value) = text_of(resource, from) {
                    tags.entry(to).or_insert(Value::String(value));
                }
            }
            let mut metadata = json!({ "version": VERSION, "correlation_id": correlation_id });
            if !metric.unit.is_empty() {
                metadata["unit"] = Value::String(metric.unit.clone());
            }
            let message = json!({
                "timestamp": rfc3339_from_nanos(time),
                "database_type": text_of(resource, names.database_type),
                "instance_id": text_of(resource, names.instance_id),
                "metric_name": metric.name,
                "value": value,
                "tags": tags,
                "metadata": metadata,
            });
            Some((message, METRIC_SCHEMA))
        }
        Payload::Logs(request) => {
            let log = request
                .resource_logs
                .first()?
                .scope_logs
                .first()?
                .log_records
                .first()?;
            // Each value keeps its JSON type (the standard message's `context`).
            let mut context = typed(resource);
            context.extend(typed(&log.attributes));
            let hex = |id: &[u8]| {
                (!id.is_empty()).then(|| id.iter().map(|b| format!("{b:02x}")).collect::<String>())
            };
            let time = if log.time_unix_nano != 0 {
                log.time_unix_nano
            } else {
                log.observed_time_unix_nano
            };
            let mut message = json!({
                "timestamp": rfc3339_from_nanos(time),
                "level": level(log),
                "message": log.body.as_ref().and_then(as_text).unwrap_or_default(),
                "service": text_of(resource, "service.name"),
                "context": context,
                "metadata": { "version": VERSION, "correlation_id": correlation_id },
            });
            // A log outside any span has no ids: the fields are left out, never null.
            for (field, id) in [("trace_id", &log.trace_id), ("span_id", &log.span_id)] {
                if let Some(id) = hex(id) {
                    message[field] = Value::String(id);
                }
            }
            Some((message, LOG_SCHEMA))
        }
        _ => None,
    }
}

/// Time, value and attributes of the metric's first point: numbers as they are, histograms and
/// summaries by their sum.
fn point(data: &Data) -> Option<(u64, Value, &[KeyValue])> {
    let number = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    Some(match data {
        Data::Gauge(g) => number_point(g.data_points.first()?),
        Data::Sum(s) => number_point(s.data_points.first()?),
        Data::Histogram(h) => {
            let p = h.data_points.first()?;
            (
                p.time_unix_nano,
                number(p.sum.unwrap_or(0.0)),
                &p.attributes,
            )
        }
        Data::ExponentialHistogram(h) => {
            let p = h.data_points.first()?;
            (
                p.time_unix_nano,
                number(p.sum.unwrap_or(0.0)),
                &p.attributes,
            )
        }
        Data::Summary(s) => {
            let p = s.data_points.first()?;
            (p.time_unix_nano, number(p.sum), &p.attributes)
        }
    })
}

fn number_point(
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
) -> (u64, Value, &[KeyValue]) {
    let value = match p.value {
        Some(number_data_point::Value::AsInt(i)) => Value::from(i),
        Some(number_data_point::Value::AsDouble(d)) => {
            serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
        }
        None => Value::Null,
    };
    (p.time_unix_nano, value, &p.attributes)
}

fn typed(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), json_of(kv.value.as_ref()?)?)))
        .collect()
}

pub(crate) fn strings(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .filter_map(|kv| {
            Some((
                kv.key.clone(),
                Value::String(kv.value.as_ref().and_then(as_text)?),
            ))
        })
        .collect()
}

fn level(log: &LogRecord) -> String {
    if !log.severity_text.is_empty() {
        return log.severity_text.to_ascii_uppercase();
    }
    match log.severity_number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "UNSPECIFIED",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;
    use crate::pipeline::attributes::key_value;

    fn log(record: LogRecord) -> Value {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![key_value("service.name", "collector")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let names = GdsNames {
            database_type: "db.system",
            instance_id: "service.instance.id",
        };
        message(&Payload::Logs(request), &names, "id")
            .expect("a log message")
            .0
    }

    fn attribute(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn a_log_message_is_the_standard_one() {
        let message = log(LogRecord {
            time_unix_nano: 1,
            severity_number: 17,
            attributes: vec![
                attribute("retry", any_value::Value::IntValue(3)),
                attribute("ratio", any_value::Value::DoubleValue(0.5)),
                attribute("fatal", any_value::Value::BoolValue(false)),
                attribute(
                    "hosts",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::StringValue("a".into())),
                        }],
                    }),
                ),
            ],
            ..Default::default()
        });
        // Without a span: no ids at all, never null.
        assert!(message.get("trace_id").is_none() && message.get("span_id").is_none());
        assert_eq!(message["level"], "ERROR", "from the severity number's name");
        assert_eq!(
            message["context"],
            serde_json::json!({"service.name": "collector", "retry": 3, "ratio": 0.5, "fatal": false, "hosts": ["a"]}),
            "context values keep their JSON types"
        );
        let with_span = log(LogRecord {
            trace_id: vec![0x4b; 16],
            span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
            severity_text: "warn".into(),
            ..Default::default()
        });
        assert_eq!(with_span["trace_id"], "4b".repeat(16));
        assert_eq!(with_span["span_id"], "00f067aa0ba902b7");
        assert_eq!(with_span["level"], "WARN");
    }
}
