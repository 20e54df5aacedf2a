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

fn walked(payload: Payload) -> Batch {
    Batch::received(Body::protobuf(payload, true), "otlp".into())
}

#[test]
fn a_walked_batch_counts_its_items_and_decodes_them_when_read() {
    let original = traces_with(&[3, 2]);
    let mut batch = walked(original.clone());
    assert_eq!(batch.items(), 5);
    assert_eq!(batch.resources().group_count(), 2);
    assert_eq!(batch.resources().item_count(), 0, "not decoded yet");
    assert_eq!(batch.encode_protobuf(), original.encode_protobuf());
    assert_eq!(batch.payload(), &original);
    assert!(batch.encoded().is_some(), "reading keeps the bytes");
    assert_eq!(walked(original.clone()).into_payload(), original);
}

#[test]
fn changing_the_payload_drops_the_received_bytes() {
    let mut batch = walked(traces_with(&[1]));
    let Payload::Traces(request) = batch.payload_mut() else {
        unreachable!()
    };
    request.resource_spans[0].scope_spans[0]
        .spans
        .push(Span::default());
    assert!(batch.encoded().is_none());
    assert_eq!(batch.encode_protobuf(), traces_with(&[2]).encode_protobuf());
}

#[test]
fn appending_keeps_walked_items_undecoded_only_while_every_part_is() {
    let mut both = walked(traces_with(&[1]));
    both.append(walked(traces_with(&[2]))).unwrap();
    assert_eq!(both.resources().item_count(), 0);
    assert_eq!(both.encoded().map(EncodedGroups::item_count), Some(3));
    assert_eq!(both.payload(), &traces_with(&[1, 2]));

    let decoded = Batch::received(Body::protobuf(traces_with(&[4]), false), "otlp".into());
    let mut mixed = walked(traces_with(&[1]));
    mixed.append(decoded).unwrap();
    assert_eq!(
        mixed.resources(),
        &traces_with(&[1, 4]),
        "decoded on append"
    );
    assert_eq!(mixed.encoded().map(EncodedGroups::len), Some(2));

    let mut without_bytes = walked(traces_with(&[1]));
    without_bytes
        .append(Batch::new(traces_with(&[2]), "json".into()))
        .unwrap();
    assert!(without_bytes.encoded().is_none());
    assert_eq!(without_bytes.resources(), &traces_with(&[1, 2]));
}

#[test]
fn the_item_count_follows_the_body_whatever_a_stage_does() {
    let mut batch = walked(traces_with(&[2, 3]));
    assert_eq!(batch.items(), 5, "walked: counted from the bytes");
    let Payload::Traces(request) = batch.payload_mut() else {
        unreachable!()
    };
    request.resource_spans[1].scope_spans[0].spans.pop();
    assert_eq!(batch.items(), 4, "changed: counted from what is left");
    assert!(batch.encoded().is_none());
    let batch = batch.with_payload(traces_with(&[1]));
    assert_eq!(batch.items(), 1);
}
