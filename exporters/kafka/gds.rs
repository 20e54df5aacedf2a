//! The platform's standard messages (`gds_json`): one per data point or log record, with the
//! reference's fields, `metadata.version` and a `correlation_id`.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use serde_json::{json, Map, Value};

use crate::pipeline::attributes::{as_text, first_resource_attributes, text_of};
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
            let mut context = strings(resource);
            context.extend(strings(&log.attributes));
            let hex = |id: &[u8]| {
                (!id.is_empty()).then(|| id.iter().map(|b| format!("{b:02x}")).collect::<String>())
            };
            let time = if log.time_unix_nano != 0 {
                log.time_unix_nano
            } else {
                log.observed_time_unix_nano
            };
            let message = json!({
                "timestamp": rfc3339_from_nanos(time),
                "level": level(log),
                "message": log.body.as_ref().and_then(as_text).unwrap_or_default(),
                "service": text_of(resource, "service.name"),
                "trace_id": hex(&log.trace_id),
                "span_id": hex(&log.span_id),
                "context": context,
                "metadata": { "version": VERSION, "correlation_id": correlation_id },
            });
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
