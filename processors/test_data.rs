//! Small payloads for the processors' unit tests.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point::Value, Gauge, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::config::ComponentId;
pub use crate::pipeline::attributes::key_value as kv;
use crate::pipeline::batch::{Batch, Payload};

pub const NOW: u64 = 1_736_937_000_000_000_000;

pub fn resource(attributes: &[(&str, &str)]) -> Option<Resource> {
    Some(Resource {
        attributes: attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Default::default()
    })
}

pub fn point(value: f64, attributes: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: NOW,
        value: Some(Value::AsDouble(value)),
        attributes: attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Default::default()
    }
}

pub fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

pub fn metrics(groups: Vec<(Option<Resource>, Vec<Metric>)>) -> Batch {
    let request = ExportMetricsServiceRequest {
        resource_metrics: groups
            .into_iter()
            .map(|(resource, metrics)| ResourceMetrics {
                resource,
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    };
    Batch::new(Payload::Metrics(request), "otlp".into())
}

pub fn database() -> Option<Resource> {
    resource(&[
        ("db.system", "postgresql"),
        ("service.instance.id", "prod-db-01"),
        ("service.name", "collector"),
    ])
}

pub fn log(body: &str, severity: i32) -> LogRecord {
    LogRecord {
        time_unix_nano: NOW,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    }
}

pub fn logs(resource: Option<Resource>, records: Vec<LogRecord>) -> Batch {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource,
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Batch::new(Payload::Logs(request), "otlp".into())
}

pub fn span(name: &str, kind: i32) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        kind,
        start_time_unix_nano: NOW,
        ..Default::default()
    }
}

pub fn traces(resource: Option<Resource>, spans: Vec<Span>) -> Batch {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource,
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Batch::new(Payload::Traces(request), "otlp".into())
}

pub fn counters(name: &str) -> super::ProcessorCounters {
    super::ProcessorCounters::new(
        &ComponentId::parse(name).unwrap(),
        "test",
        &crate::pipeline::ledger::Ledger::shared_default(),
    )
}

pub fn resource_value(batch: &Batch, key: &str) -> Option<String> {
    let attributes = match batch.resources() {
        Payload::Traces(r) => &r.resource_spans[0].resource.as_ref()?.attributes,
        Payload::Metrics(r) => &r.resource_metrics[0].resource.as_ref()?.attributes,
        Payload::Logs(r) => &r.resource_logs[0].resource.as_ref()?.attributes,
        Payload::DeadLetters(_) => return None,
    };
    super::items::find(attributes, key).and_then(super::items::as_text)
}
