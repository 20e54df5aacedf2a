use super::*;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

pub(crate) fn traces_with(spans_per_resource: &[usize]) -> Payload {
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: spans_per_resource
            .iter()
            .map(|&n| ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (0..n).map(|_| Span::default()).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    })
}

#[test]
fn counts_spans_across_resources_and_scopes() {
    assert_eq!(traces_with(&[3, 0, 2]).item_count(), 5);
    assert_eq!(Payload::empty(Signal::Traces).item_count(), 0);
}

#[test]
fn counts_metric_data_points_not_metrics() {
    let metric = Metric {
        name: "cpu".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); 4],
        })),
        ..Default::default()
    };
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric, Metric::default()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    assert_eq!(payload.item_count(), 4);
}

#[test]
fn append_moves_resource_groups_and_refuses_other_signals() {
    let mut a = traces_with(&[1]);
    a.append(traces_with(&[2, 3])).unwrap();
    assert_eq!(a.item_count(), 6);
    let err = a.append(Payload::empty(Signal::Logs)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot merge a logs batch into a traces batch"
    );
}

#[test]
fn signal_names_round_trip() {
    for signal in Signal::ALL {
        assert_eq!(Signal::parse(signal.as_str()), Some(signal));
    }
    assert_eq!(Signal::parse("spans"), None);
}

#[test]
fn into_items_gives_one_payload_per_item_with_its_context() {
    let metric = Metric {
        name: "cpu".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); 3],
        })),
        ..Default::default()
    };
    let payload = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let items = payload.into_items();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|p| p.item_count() == 1));
    let spans = traces_with(&[2, 1]).into_items();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|p| p.item_count() == 1));
}
