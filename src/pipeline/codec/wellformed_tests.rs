use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{Gauge, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn metrics(metric: Metric) -> Payload {
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric::default_gauge(), metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

trait GaugeOf {
    fn default_gauge() -> Metric;
    fn gauge(points: Vec<Option<Value>>) -> Metric;
}

impl GaugeOf for Metric {
    fn default_gauge() -> Metric {
        Metric::gauge(vec![Some(Value::AsInt(1))])
    }

    fn gauge(points: Vec<Option<Value>>) -> Metric {
        Metric {
            name: "cpu".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: points
                    .into_iter()
                    .map(|value| NumberDataPoint {
                        value,
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        }
    }
}

fn span(trace_id: Vec<u8>, span_id: Vec<u8>) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id,
                    span_id,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn a_data_point_without_a_value_is_malformed_with_its_path() {
    let payload = metrics(Metric::gauge(vec![Some(Value::AsDouble(1.0)), None]));
    let error = check(&payload).unwrap_err();
    assert_eq!(
        error.path,
        "resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[1]"
    );
    assert!(check(&metrics(Metric::default_gauge())).is_ok());
}

#[test]
fn a_metric_without_data_is_malformed() {
    let payload = metrics(Metric {
        name: "empty".into(),
        ..Default::default()
    });
    let error = check(&payload).unwrap_err();
    assert!(
        error.to_string().contains("\"empty\" has no data"),
        "{error}"
    );
}

#[test]
fn ids_of_the_wrong_length_are_malformed() {
    assert!(check(&span(vec![1; 16], vec![2; 8])).is_ok());
    let error = check(&span(vec![1; 15], vec![2; 8])).unwrap_err();
    assert_eq!(
        error.path,
        "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    );
    assert!(error.problem.contains("found 15"));
    assert!(check(&span(vec![1; 16], vec![])).is_err());
}
